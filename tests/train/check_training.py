#!/usr/bin/env python3
"""Short training runs that must learn: suite `slow` (tests/train/meson.build).

    check_training.py c  MPIEXEC MPIEXEC_ARGS TRAIN_MLP
    check_training.py py MPIEXEC MPIEXEC_ARGS LIBGCOMP_PRELOAD TRAIN_FMNIST_PY MPI_FLAVOUR

Each trainer runs on all of Fashion-MNIST over 4 ranks with the same seed (the Python CNN one epoch, the
C MLP two: it is faster, and slower to learn under top-k), dense (plain MPI_Allreduce) and through gcomp:
q8, topk 1% and topk-q8 1% with error feedback, and topk 1% without. Asserted, per run: it finishes;
compressed runs reach a test accuracy far above chance (10%) and within a stated distance of dense
(MAX_LOSS); topk with error feedback does better than without (identical results would mean error
feedback did nothing); gcomp really compressed (bytes on the wire against bytes all-reduced; the
interposer's GCOMP_STATS line for the Python trainer).
Both trainers are deterministic given a seed: a short run repeated must give the same numbers.
Exit 77 (skipped) when the dataset, torch or mpi4py is missing, or the Python trainer is asked of an
MPICH build (Debian's mpi4py is built on Open MPI).
"""
import json
import os
import re
import signal
import subprocess
import sys
import tempfile

DATA = "/usr/share/datasets/fashion-mnist"
RANKS = 4
RUN_TIMEOUT_S = 1200
EPOCHS = {"py": 1, "c": 2}
# (name, GCOMP_* settings, most points of test accuracy it may lose to dense after the short run).
# Measured (docs/convergence.md): after these epochs q8 loses at most 0.12 points to dense, topk and
# topk-q8 1% at most 2.84 (the C MLP under topk); top-k without error feedback is 1.5 to 2.5 points
# below top-k with it.
CONFIGS = [
    ("dense", None, None),
    ("q8", {"GCOMP_CODEC": "q8"}, 1.5),
    ("topk", {"GCOMP_CODEC": "topk", "GCOMP_TOPK_RATIO": "0.01"}, 4.0),
    ("topk-q8", {"GCOMP_CODEC": "topk-q8", "GCOMP_TOPK_RATIO": "0.01"}, 4.0),
    ("topk-noef", {"GCOMP_CODEC": "topk", "GCOMP_TOPK_RATIO": "0.01", "GCOMP_EF": "0"}, None),
]
FLOOR = 60.0  # test accuracy (%) every compressed run must pass: chance is 10%
# The least compression each codec must show: bytes all-reduced over bytes on the wire, against a
# dense ring all-reduce's 2(P-1)/P for the interposer's figure.
MIN_RATIO = {"q8": 3.0, "topk": 10.0, "topk-q8": 20.0, "topk-noef": 10.0}

failures = []


def check(cond, msg):
    print(("ok    " if cond else "FAIL  ") + msg, flush=True)
    if not cond:
        failures.append(msg)


def skip(reason):
    print("SKIP: " + reason)
    sys.exit(77)


def run(cmd, env, log_path):
    """Runs cmd in its own process group, bounded; returns (exit status, output)."""
    print("$ " + " ".join(cmd), flush=True)
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            rc = proc.wait(timeout=RUN_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            rc = 124
    with open(log_path) as log:
        out = log.read()
    if rc != 0:
        print(out[-3000:])
    return rc, out


def records(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def same_numbers(a, b):
    keys = ("train_loss", "test_loss", "test_acc", "bytes_allreduced", "bytes_wire")
    return len(a) == len(b) and all(x.get(k) == y.get(k) for x, y in zip(a, b) for k in keys)


def main():
    if len(sys.argv) < 5 or sys.argv[1] not in ("c", "py"):
        print(__doc__)
        sys.exit(2)
    kind, mpiexec, mpiexec_args = sys.argv[1], sys.argv[2], sys.argv[3].split()
    if not os.path.exists(os.path.join(DATA, "train-images-idx3-ubyte.gz")):
        skip(f"{DATA} not found: apt-get install dataset-fashion-mnist (tools/install-deps.sh does)")
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               OMPI_MCA_rmaps_base_oversubscribe="1")
    env = {k: v for k, v in env.items() if not k.startswith("GCOMP_") and k != "LD_PRELOAD"}
    if kind == "py":
        preload, trainer, flavour = sys.argv[4], sys.argv[5], sys.argv[6]
        if flavour != "openmpi":
            skip("Debian's mpi4py is built on Open MPI: run this test in a -Dmpi=openmpi build")
        probe = subprocess.run(["/usr/bin/python3", "-c", "import torch, mpi4py, numpy"], capture_output=True)
        if probe.returncode != 0:
            skip("/usr/bin/python3 cannot import torch, mpi4py and numpy: apt-get install python3-torch "
                 "python3-mpi4py python3-numpy")
    else:
        train_mlp = sys.argv[4]
    tmp = tempfile.mkdtemp(prefix="gcomp-train-")

    def command(name, settings, json_path, extra=(), epochs=EPOCHS[kind]):
        if kind == "py":
            cmd = ["/usr/bin/python3", trainer, "--epochs", str(epochs), "--seed", "1", "--json", json_path, *extra]
            if settings is not None:
                cmd = ["env", "LD_PRELOAD=" + preload, "GCOMP_STATS=1",
                       *[f"{k}={v}" for k, v in settings.items()], *cmd]
        else:
            cmd = [train_mlp, "-e", str(epochs), "-s", "1", "-j", json_path, *extra]
            if settings is None:
                cmd += ["-c", "mpi"]
            else:
                cmd = ["env", *[f"{k}={v}" for k, v in settings.items()], *cmd]
        return [mpiexec, *mpiexec_args, "-n", str(RANKS), *cmd]

    results = {}
    for name, settings, max_loss in CONFIGS:
        json_path = os.path.join(tmp, name + ".json")
        rc, out = run(command(name, settings, json_path), env, os.path.join(tmp, name + ".log"))
        check(rc == 0 and os.path.exists(json_path), f"{kind} {name}: run finished (exit {rc})")
        if rc != 0 or not os.path.exists(json_path):
            continue
        recs = records(json_path)
        last = recs[-1]
        results[name] = last
        print(f"      {name}: test accuracy {last['test_acc']:.2f}%, train loss {last['train_loss']:.4f}", flush=True)
        if settings is None:
            continue
        check(last["test_acc"] > FLOOR, f"{kind} {name}: test accuracy {last['test_acc']:.2f}% > {FLOOR}%")
        if max_loss is not None and "dense" in results:
            dense = results["dense"]["test_acc"]
            check(last["test_acc"] >= dense - max_loss,
                  f"{kind} {name}: test accuracy {last['test_acc']:.2f}% within {max_loss} points of dense {dense:.2f}%")
        if kind == "py":
            m = re.search(r"calls: +(\d+) compressed", out)
            check(m is not None and int(m.group(1)) > 0,
                  f"{kind} {name}: the interposer compressed the gradient all-reduces ({m.group(0) if m else 'no gcomp stats'})")
            m = re.search(r"sent on the wire .*: ([0-9.]+)x less", out)
            ratio = float(m.group(1)) if m else 0.0
        else:
            wire = sum(r["bytes_wire"] for r in recs)
            ratio = 2.0 * (RANKS - 1) / RANKS * sum(r["bytes_allreduced"] for r in recs) / max(wire, 1)
        check(ratio >= MIN_RATIO[name], f"{kind} {name}: {ratio:.1f}x fewer bytes than a dense ring all-reduce "
              f"(at least {MIN_RATIO[name]}x)")
    if "topk" in results and "topk-noef" in results:
        check(results["topk"]["test_acc"] > results["topk-noef"]["test_acc"],
              f"{kind}: topk 1% with error feedback ({results['topk']['test_acc']:.2f}%) does better "
              f"than without ({results['topk-noef']['test_acc']:.2f}%)")

    # Determinism: a short q8 run (a tenth of an epoch) twice with the same seed.
    short = ["--train-limit", "6400"] if kind == "py" else ["-n", "6400"]
    runs = []
    for i in range(2):
        json_path = os.path.join(tmp, f"repeat{i}.json")
        rc, _ = run(command("q8", CONFIGS[1][1], json_path, short, 1), env, os.path.join(tmp, f"repeat{i}.log"))
        runs.append(records(json_path) if rc == 0 and os.path.exists(json_path) else None)
    check(runs[0] is not None and runs[1] is not None and same_numbers(runs[0], runs[1]),
          f"{kind}: two q8 runs with the same seed give the same losses, accuracy and bytes")

    print(f"{kind}: {len(failures)} failure(s); logs in {tmp}")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
