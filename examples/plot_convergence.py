#!/usr/bin/python3
"""Plots and tables of the convergence study (examples/convergence_study.sh).

    /usr/bin/python3 examples/plot_convergence.py [DIR]      (default docs/perf/convergence)

Reads DIR/STUDY-CONFIG.json (one object per test of the model), .log and, for the cluster, .wire; writes
DIR/STUDY.png (train loss and test accuracy against epochs; on the cluster also against training
time) and DIR/summary.md (one table per study, and the goals of docs/convergence.md checked).

Bytes on the wire, per rank and for the whole run: for gcomp through the C API, gcomp's count of frame
bytes sent (gcomp_comm_stats); under the interposer, its GCOMP_STATS summary; for plain MPI_Allreduce on
one machine, what a ring all-reduce sends, 2(P-1)/P of the bytes all-reduced; on the emulated cluster,
every byte each host sent through its link (TCP/IP headers and MPI's own traffic included).
"""
import glob
import json
import os
import re
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

CONFIGS = ["dense", "q8", "topk", "topk-q8", "topk-noef"]
LABELS = {
    "dense": "dense (plain MPI_Allreduce)",
    "q8": "q8, error feedback",
    "topk": "topk 1%, error feedback",
    "topk-q8": "topk-q8 1%, error feedback",
    "topk-noef": "topk 1%, no error feedback",
}
STYLE = {"dense": "k-", "q8": "C0-", "topk": "C1-", "topk-q8": "C2-", "topk-noef": "C3--"}
STUDIES = {
    "py": "Python trainer (PyTorch CNN, mpi4py on Open MPI, LD_PRELOAD), this machine",
    "c": "C trainer (MLP, gcomp C API, MPICH), this machine",
    "cluster-py": "Python trainer on the emulated cluster (4 hosts, 1 Gbit/s links)",
    "cluster-c": "C trainer on the emulated cluster (4 hosts, 1 Gbit/s links)",
}
UNITS = {"B": 1, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40}


def gcomp_stats_wire(log_path):
    """Bytes sent on the wire, summed over ranks, from the interposer's GCOMP_STATS block."""
    try:
        text = open(log_path).read()
    except OSError:
        return None
    m = re.search(r"bytes: +[0-9.]+ \w+ in, ([0-9.]+) (\w+) sent on the wire", text)
    return float(m.group(1)) * UNITS[m.group(2)] if m else None


def load_average(log_path):
    """The machine's 1-minute load average before and after the run, as the study logged them."""
    try:
        m = re.search(r"load average before: ([0-9.]+) .*; after: ([0-9.]+)", open(log_path).read())
    except OSError:
        return None
    return f"{m.group(1)} → {m.group(2)}" if m else None


def link_wire(wire_path):
    """Bytes all hosts sent through their links during the run."""
    try:
        lines = dict(line.split(" ", 1) for line in open(wire_path).read().splitlines())
    except (OSError, ValueError):
        return None
    parse = lambda s: {k: int(v) for k, v in (kv.split("=") for kv in s.split())}  # noqa: E731
    before, after = parse(lines["before"]), parse(lines["after"])
    return sum(after[h] - before[h] for h in after)


def load(outdir, study):
    runs = {}
    for config in CONFIGS:
        path = os.path.join(outdir, f"{study}-{config}.json")
        if not os.path.exists(path):
            continue
        recs = [json.loads(line) for line in open(path) if line.strip()]
        if not recs:
            continue
        ranks = recs[-1]["ranks"]
        bytes_in = sum(r["bytes_allreduced"] for r in recs)
        base = os.path.join(outdir, f"{study}-{config}")
        if study.startswith("cluster"):
            total = link_wire(base + ".wire")
            source = "link counters"
        elif recs[-1].get("bytes_wire") is not None:
            total = ranks * sum(r["bytes_wire"] for r in recs)
            source = recs[-1]["wire_source"]
        else:
            total = gcomp_stats_wire(base + ".log")
            source = "GCOMP_STATS"
        runs[config] = {
            "recs": recs, "ranks": ranks, "bytes_in": bytes_in,
            "wire": total / ranks if total is not None else None, "wire_source": source,
            "load": load_average(base + ".log"),
        }
    return runs


def time_to(recs, target):
    """Training time (tests excluded) at the first test that reached target, or None."""
    for r in recs:
        if r["test_acc"] >= target:
            return r["train_s"], r["epoch"]
    return None


def plot(outdir, study, runs):
    cluster = study.startswith("cluster")
    fig, axes = plt.subplots(1, 3 if cluster else 2, figsize=(15 if cluster else 11, 4.2))
    for config, run in runs.items():
        epochs = [r["epoch"] for r in run["recs"]]
        axes[0].plot(epochs, [r["train_loss"] for r in run["recs"]], STYLE[config], label=LABELS[config])
        axes[1].plot(epochs, [r["test_acc"] for r in run["recs"]], STYLE[config], marker=".", label=LABELS[config])
        if cluster:
            axes[2].plot([r["train_s"] for r in run["recs"]], [r["test_acc"] for r in run["recs"]], STYLE[config],
                         marker=".", label=LABELS[config])
    axes[0].set(xlabel="epoch", ylabel="train loss (mean since the previous test)", yscale="log",
                title="train loss")
    axes[1].set(xlabel="epoch", ylabel="test accuracy (%)", title="test accuracy")
    if "dense" in runs:
        final = runs["dense"]["recs"][-1]["test_acc"]
        lo = min(r["test_acc"] for run in runs.values() for r in run["recs"][len(run["recs"]) // 3:])
        for ax in axes[1:]:
            ax.set_ylim(max(lo - 1, 0), final + 2)
        if cluster:
            axes[2].axhline(final - 0.5, color="grey", lw=0.8, ls=":")
            axes[2].set(xlabel="training time (s, tests excluded)", ylabel="test accuracy (%)",
                        title=f"time to {final - 0.5:.2f}% (dense final − 0.5)")
    for ax in axes:
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=8, loc="lower right")
    fig.suptitle(STUDIES[study], fontsize=10)
    fig.tight_layout()
    path = os.path.join(outdir, f"{study}.png")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def table(study, runs):
    lines = [f"### {STUDIES[study]}", ""]
    dense = runs.get("dense")
    dense_acc = dense["recs"][-1]["test_acc"] if dense else None
    target = dense_acc - 0.5 if dense else None
    head = ("| run | final test acc. | vs dense | mean of the last epoch's tests | final train loss | final test loss | all-reduced / rank | "
            "on the wire / rank | dense ring / wire | training time | wall time | load |")
    sep = "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    # The target, dense's final accuracy - 0.5, rests on one test, and consecutive tests differ by
    # up to a point; the mean of dense's last epoch of tests - 0.5 is a steadier second target.
    if dense:
        dense_tail = [r["test_acc"] for r in dense["recs"] if r["epoch"] > dense["recs"][-1]["epoch"] - 1 + 1e-6]
        target2 = sum(dense_tail) / len(dense_tail) - 0.5
    if study.startswith("cluster") and dense:
        head += f" time to {target:.2f}% | speed-up | time to {target2:.2f}% | speed-up |"
        sep += "---:|---:|---:|---:|"
    lines += [head, sep]
    for config, run in runs.items():
        last = run["recs"][-1]
        ring = 2.0 * (run["ranks"] - 1) / run["ranks"] * run["bytes_in"]
        wire = f"{run['wire'] / 1e6:.1f} MB" if run["wire"] is not None else "n/a"
        ratio = f"{ring / run['wire']:.1f}x" if run["wire"] else "n/a"
        delta = f"{last['test_acc'] - dense_acc:+.2f}" if dense else ""
        tail = [r["test_acc"] for r in run["recs"] if r["epoch"] > last["epoch"] - 1 + 1e-6]
        row = (f"| {LABELS[config]} | {last['test_acc']:.2f}% | {delta} | {sum(tail) / len(tail):.2f}% | "
               f"{last['train_loss']:.4f} | "
               f"{last['test_loss']:.4f} | {run['bytes_in'] / 1e6:.0f} MB | {wire} | {ratio} | "
               f"{last['train_s']:.0f} s | {last['wall_s']:.0f} s | {run['load'] or ''} |")
        if study.startswith("cluster") and dense:
            for t in (target, target2):
                tta, dense_tta = time_to(run["recs"], t), time_to(dense["recs"], t)
                if tta is None:
                    row += " not reached | |"
                else:
                    speed = f"{dense_tta[0] / tta[0]:.2f}x" if dense_tta else ""
                    row += f" {tta[0]:.0f} s (epoch {tta[1]:.2f}) | {speed} |"
        lines.append(row)
    lines.append("")
    sources = sorted({run["wire_source"] for run in runs.values()})
    lines.append(f"Bytes on the wire from: {', '.join(sources)}. Training time excludes the tests; load is "
                 "the machine's 1-minute load average before and after the run (2 cores).")
    if dense:
        goals = []
        if "q8" in runs:
            d = runs["q8"]["recs"][-1]["test_acc"] - dense_acc
            goals.append(f"q8+EF within 0.5 points of dense: {d:+.2f} → {'met' if d >= -0.5 else 'NOT met'}")
        if "topk" in runs:
            d = runs["topk"]["recs"][-1]["test_acc"] - dense_acc
            goals.append(f"topk 1%+EF within 1.0 point of dense: {d:+.2f} → {'met' if d >= -1.0 else 'NOT met'}")
        if "topk" in runs and "topk-noef" in runs:
            d = runs["topk-noef"]["recs"][-1]["test_acc"] - runs["topk"]["recs"][-1]["test_acc"]
            goals.append(f"topk 1% without EF worse than with: {d:+.2f} points → {'yes' if d < 0 else 'NO'}")
        lines += [""] + [f"- {g}" for g in goals]
    return "\n".join(lines) + "\n"


def main():
    outdir = sys.argv[1] if len(sys.argv) > 1 else "docs/perf/convergence"
    parts = []
    for study in STUDIES:
        if not glob.glob(os.path.join(outdir, f"{study}-*.json")):
            continue
        runs = load(outdir, study)
        if not runs:
            continue
        print("wrote", plot(outdir, study, runs))
        parts.append(table(study, runs))
    with open(os.path.join(outdir, "summary.md"), "w") as f:
        f.write("\n".join(parts))
    print("".join(parts))


if __name__ == "__main__":
    main()
