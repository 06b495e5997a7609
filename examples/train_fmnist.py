#!/usr/bin/python3
"""Data-parallel training of a small CNN on Fashion-MNIST with PyTorch and mpi4py.

Every step each rank computes the gradient of its share of the global batch, copies all gradients into
one flat float32 buffer and averages it with

    comm.Allreduce(MPI.IN_PLACE, flat_grad, op=MPI.SUM)

the way Horovod and ChainerMN do. The program knows nothing of gcomp; run it under the interposer to
compress that all-reduce, with no code change:

    mpiexec.openmpi -n 4 /usr/bin/python3 examples/train_fmnist.py --epochs 4
    mpiexec.openmpi -n 4 env LD_PRELOAD=build/openmpi/src/preload/libgcomp_preload.so GCOMP_CODEC=q8 \\
        GCOMP_STATS=1 /usr/bin/python3 examples/train_fmnist.py --epochs 4

(as root Open MPI also wants OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1, and
--oversubscribe where there are fewer cores than ranks). Use /usr/bin/python3: Debian's python3-torch
and python3-mpi4py are built for it, and mpi4py is built on Open MPI, so the preloaded library must be
the Open MPI build of gcomp (meson setup build/openmpi -Dmpi=openmpi).

The flat buffer is allocated once, so the interposer sees the same address every step and keeps one
error-feedback residual for it. The model has 276,842 parameters: 1.06 MiB of gradient, above the
interposer's default GCOMP_MIN_BYTES of 1 MiB. Small all-reduces (test accuracy, loss) are doubles and
pass through uncompressed.

Deterministic given --seed and the rank count: every rank builds the same initial model from the
seed, the epoch's shuffle is drawn from (seed, epoch) and split by rank, torch runs one thread, and
gcomp's stochastic rounding is keyed by GCOMP_SEED.

Rank 0 prints one line per epoch (or --evals-per-epoch lines): train loss (mean over all ranks' batches
since the last line), test loss and accuracy, bytes all-reduced and bytes on the wire per rank since the
last line, wall time, and the time spent in training steps (tests excluded). Bytes on the wire: without the
interposer, what a bandwidth-optimal (ring) all-reduce sends, 2(P-1)/P of the bytes all-reduced; under
the interposer the program cannot see them, and GCOMP_STATS=1 prints what gcomp sent at MPI_Finalize.
--json FILE writes the same as JSON lines.
"""
import argparse
import gzip
import json
import os
import sys
import time

# One BLAS thread per rank (OpenBLAS reads this when it loads, i.e. at `import torch`).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from mpi4py import MPI  # noqa: E402

DATA_DIR = "/usr/share/datasets/fashion-mnist"  # Debian package dataset-fashion-mnist
MEAN, STD = 0.2860, 0.3530  # of the Fashion-MNIST training images, scaled to [0, 1]


def read_idx(path):
    """An IDX file (the MNIST format): big-endian dimensions, then unsigned bytes."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load(data_dir, split):
    prefix = "train" if split == "train" else "t10k"
    images = read_idx(os.path.join(data_dir, prefix + "-images-idx3-ubyte.gz"))
    labels = read_idx(os.path.join(data_dir, prefix + "-labels-idx1-ubyte.gz"))
    x = (torch.from_numpy(images.astype(np.float32)) / 255.0 - MEAN) / STD
    return x.unsqueeze(1), torch.from_numpy(labels.astype(np.int64))


class SmallCNN(nn.Module):
    """LeNet-like: two 5x5 convolutions with max pooling, then two fully connected layers."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 5)   # 28x28 -> 24x24, pooled to 12x12
        self.conv2 = nn.Conv2d(8, 16, 5)  # 12x12 -> 8x8, pooled to 4x4
        self.fc1 = nn.Linear(16 * 4 * 4, 1024)
        self.fc2 = nn.Linear(1024, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return self.fc2(F.relu(self.fc1(x.flatten(1))))


class FlatGradients:
    """One float32 buffer holding every gradient, all-reduced in one call (a Horovod fusion buffer)."""

    def __init__(self, params):
        self.params = list(params)
        count = sum(p.numel() for p in self.params)
        self.buffer = np.zeros(count, dtype=np.float32)  # allocated once: same address every step
        self.tensor = torch.from_numpy(self.buffer)
        self.views, offset = [], 0
        for p in self.params:
            self.views.append(self.tensor[offset:offset + p.numel()].view_as(p))
            offset += p.numel()

    def average(self, comm):
        for p, v in zip(self.params, self.views):
            v.copy_(p.grad)
        comm.Allreduce(MPI.IN_PLACE, self.buffer, op=MPI.SUM)
        self.tensor.div_(comm.size)
        for p, v in zip(self.params, self.views):
            p.grad.copy_(v)
        return self.buffer.nbytes


def evaluate(model, x, y, comm):
    """Test loss and accuracy over the whole test set; each rank takes every size-th image."""
    xs, ys = x[comm.rank::comm.size], y[comm.rank::comm.size]
    sums = np.zeros(3)  # loss sum, correct, count
    model.eval()
    with torch.no_grad():
        for i in range(0, len(ys), 1000):
            out = model(xs[i:i + 1000])
            sums[0] += F.cross_entropy(out, ys[i:i + 1000], reduction="sum").item()
            sums[1] += (out.argmax(1) == ys[i:i + 1000]).sum().item()
            sums[2] += len(ys[i:i + 1000])
    model.train()
    comm.Allreduce(MPI.IN_PLACE, sums, op=MPI.SUM)  # doubles: never compressed
    return sums[0] / sums[2], 100.0 * sums[1] / sums[2]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=DATA_DIR, help="folder with the four Fashion-MNIST .gz files")
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--batch", type=int, default=32, help="images per rank per step")
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--momentum", type=float, default=0.9)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--train-limit", type=int, default=0, help="use only the first N training images")
    ap.add_argument("--evals-per-epoch", type=int, default=1,
                    help="test (and report) this many times per epoch, at evenly spaced steps")
    ap.add_argument("--json", help="rank 0 writes one JSON object per report to this file")
    ap.add_argument("--label", default="", help="name of the run, copied into the JSON")
    args = ap.parse_args()

    comm = MPI.COMM_WORLD
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)  # the same initial model on every rank
    for name in ("train-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        if not os.path.exists(os.path.join(args.data, name)):
            if comm.rank == 0:
                print(f"train_fmnist: {args.data}/{name} not found: apt-get install dataset-fashion-mnist",
                      file=sys.stderr)
            comm.Abort(2)
    x_train, y_train = load(args.data, "train")
    x_test, y_test = load(args.data, "test")
    if args.train_limit:
        x_train, y_train = x_train[:args.train_limit], y_train[:args.train_limit]

    model = SmallCNN()
    opt = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum)
    grads = FlatGradients(model.parameters())
    preloaded = "gcomp_preload" in os.environ.get("LD_PRELOAD", "")
    global_batch = args.batch * comm.size
    steps = len(y_train) // global_batch
    report_after = {round(steps * (j + 1) / args.evals_per_epoch) for j in range(args.evals_per_epoch)}
    ring = 2.0 * (comm.size - 1) / comm.size

    out = open(args.json, "w") if args.json and comm.rank == 0 else None
    if comm.rank == 0:
        print(f"train_fmnist: {comm.size} ranks, {grads.buffer.size} parameters, {steps} steps of "
              f"{global_batch} images per epoch, lr {args.lr}, momentum {args.momentum}, seed {args.seed}, "
              f"{'LD_PRELOAD=' + os.environ['LD_PRELOAD'] if preloaded else 'plain MPI_Allreduce'}",
              flush=True)
        print(" epoch  train_loss  test_loss  test_acc%  allreduced_MB/rank  wire_MB/rank   wall_s  train_s",
              flush=True)
    comm.Barrier()
    train_time = 0.0  # training steps only: the tests in between are not counted
    bytes_total = 0
    t_start = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        order = torch.from_numpy(np.random.default_rng([args.seed, epoch]).permutation(len(y_train)))
        t0 = time.perf_counter()
        loss_sum = np.zeros(2)  # since the last report
        period_bytes = 0
        for step in range(steps):
            first = step * global_batch + comm.rank * args.batch
            idx = order[first:first + args.batch]
            opt.zero_grad()
            loss = F.cross_entropy(model(x_train[idx]), y_train[idx])
            loss.backward()
            period_bytes += grads.average(comm)
            opt.step()
            loss_sum += (loss.item(), 1)
            if step + 1 not in report_after:
                continue
            train_time += time.perf_counter() - t0
            comm.Allreduce(MPI.IN_PLACE, loss_sum, op=MPI.SUM)
            test_loss, test_acc = evaluate(model, x_test, y_test, comm)
            bytes_total += period_bytes
            if comm.rank == 0:
                rec = {
                    "label": args.label, "epoch": epoch - 1 + (step + 1) / steps, "step": (epoch - 1) * steps + step + 1,
                    "ranks": comm.size, "params": int(grads.buffer.size),
                    "train_loss": loss_sum[0] / loss_sum[1], "test_loss": test_loss, "test_acc": test_acc,
                    "bytes_allreduced": period_bytes, "bytes_wire": None if preloaded else ring * period_bytes,
                    "wire_source": "GCOMP_STATS at exit" if preloaded else "ring model 2(P-1)/P",
                    "train_s": train_time, "wall_s": time.perf_counter() - t_start,
                    "gcomp": {k: v for k, v in os.environ.items() if k.startswith("GCOMP_")} if preloaded else None,
                }
                wire = "-" if preloaded else f"{ring * period_bytes / 1e6:.1f}"
                print(f"{rec['epoch']:6.2f}  {rec['train_loss']:10.4f}  {test_loss:9.4f}  {test_acc:9.2f}  "
                      f"{period_bytes / 1e6:18.1f}  {wire:>12}  {rec['wall_s']:7.1f}  {train_time:7.1f}", flush=True)
                if out:
                    out.write(json.dumps(rec) + "\n")
                    out.flush()
            loss_sum[:] = 0
            period_bytes = 0
            t0 = time.perf_counter()
    if comm.rank == 0:
        print(f"train_fmnist: done, final test accuracy {test_acc:.2f}%, {bytes_total / 1e6:.1f} MB all-reduced "
              "per rank" + (" (bytes on the wire: see gcomp stats)" if preloaded else ""), flush=True)
    if out:
        out.close()


if __name__ == "__main__":
    main()
