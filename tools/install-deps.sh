#!/usr/bin/env bash
# Install the Debian 12 packages gcomp needs to build and test, when any is missing.
# Usage: tools/install-deps.sh [EXTRA_PACKAGE ...]
set -euo pipefail

packages=(mpich libmpich-dev libzstd-dev libxxhash-dev libibverbs-dev meson ninja-build pkg-config
          gcc g++ python3 valgrind clang libclang-rt-14-dev
          # the C trainer of examples/ and its slow-suite test (tests/train)
          zlib1g-dev dataset-fashion-mnist
          # the second MPI build (tests/run.sh stage openmpi) and the PyTorch trainer on it; installing
          # Open MPI makes it the system's default mpicc and mpi.h, so gcomp's builds always name
          # their MPI (pkg-config mpich or ompi-c, mpiexec.mpich or mpiexec.openmpi)
          libopenmpi-dev openmpi-bin python3-mpi4py python3-torch python3-numpy "$@")
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
    echo "gcomp: missing Debian packages: ${missing[*]}" >&2
    echo "gcomp: run as root, or install them with: sudo apt-get install ${missing[*]}" >&2
    exit 1
fi
echo "gcomp: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
