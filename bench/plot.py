#!/usr/bin/python3
"""Plots and a markdown summary from gcomp_bench --json files (one per link rate).

    /usr/bin/python3 bench/plot.py [-o DIR] [--markdown FILE] [--size BYTES] rate-1g.json rate-10g.json ...

Writes DIR/time.png (median time against size), DIR/speedup.png (dense time / codec time, both from
the same run) and DIR/split.png (where a call's time goes at one size: encode, wire wait, decode, against
the time the link needs for the bytes sent). The panel titles come from each file's label; the link rate
is read from it ("... 10 Gbit/s ..."). Needs python3-matplotlib (Debian).
"""
import argparse
import json
import os
import re
import sys

CODEC_STYLE = {  # colour, marker
    "dense": ("black", "s"),
    "none": ("tab:gray", "x"),
    "q8": ("tab:blue", "o"),
    "topk": ("tab:orange", "^"),
    "topk-q8": ("tab:green", "v"),
}


def load(paths):
    runs = []
    for path in paths:
        with open(path) as f:
            run = json.load(f)
        m = re.search(r"([\d.]+)\s*Gbit/s", run.get("label", ""))
        run["rate_gbit"] = float(m.group(1)) if m else None
        run["path"] = path
        runs.append(run)
    runs.sort(key=lambda r: (r["rate_gbit"] is None, r["rate_gbit"] or 0))
    return runs


def codecs_of(run):
    seen = []
    for r in run["results"]:
        if r["codec"] not in seen:
            seen.append(r["codec"])
    return seen


def series(run, codec, key):
    rows = [r for r in run["results"] if r["codec"] == codec and r.get(key) is not None]
    return [r["bytes"] for r in rows], [r[key] for r in rows]


def human_bytes(b):
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if b >= scale and b % scale == 0:
            return f"{b // scale} {unit}"
    return f"{b} B"


def title(run):
    return run.get("label") or os.path.basename(run["path"])


def size_axis(ax):
    ax.set_xscale("log", base=2)
    ticks = sorted({r for r in ax.get_lines()[0].get_xdata()}) if ax.get_lines() else []
    if ticks:
        ax.set_xticks(ticks)
        ax.set_xticklabels([human_bytes(int(t)).replace(" ", "\n") for t in ticks], fontsize=8)
    ax.set_xlabel("fp32 bytes per rank")
    ax.grid(True, which="both", alpha=0.3)


def plot_time(plt, runs, path):
    fig, axes = plt.subplots(1, len(runs), figsize=(5.2 * len(runs), 4.4), squeeze=False)
    for ax, run in zip(axes[0], runs):
        for codec in codecs_of(run):
            x, y = series(run, codec, "time_s")
            colour, marker = CODEC_STYLE.get(codec, (None, "."))
            ax.plot(x, [t * 1e3 for t in y], marker=marker, color=colour, label=codec,
                    linewidth=2.2 if codec == "dense" else 1.4)
        ax.set_yscale("log")
        ax.set_ylabel("median time per all-reduce (ms)")
        ax.set_title(title(run), fontsize=10)
        size_axis(ax)
        ax.legend(fontsize=8)
    fig.suptitle("gcomp_bench: compressed all-reduce against plain MPI_Allreduce (dense)", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_speedup(plt, runs, path, goal_size):
    fig, axes = plt.subplots(1, len(runs), figsize=(5.2 * len(runs), 4.4), squeeze=False)
    for ax, run in zip(axes[0], runs):
        for codec in codecs_of(run):
            if codec == "dense":
                continue
            x, y = series(run, codec, "speedup")
            colour, marker = CODEC_STYLE.get(codec, (None, "."))
            ax.plot(x, y, marker=marker, color=colour, label=codec)
        ax.axhline(1.0, color="black", linewidth=1, label="dense = 1")
        if run["rate_gbit"] == 1.0:
            # The goals of the benchmark issue: 4 ranks, 1 Gbit/s, 64 MiB.
            for goal, codec in ((3.5, "q8"), (20.0, "topk")):
                colour = CODEC_STYLE[codec][0]
                ax.plot([goal_size], [goal], marker="*", markersize=12, color=colour, linestyle="none",
                        markeredgecolor="black", label=f"goal {codec} {goal:g}x")
        ax.set_yscale("log")
        ax.set_ylabel("speed-up over dense in the same run (x)")
        ax.set_title(title(run), fontsize=10)
        size_axis(ax)
        ax.legend(fontsize=8)
    fig.suptitle("speed-up = dense median time / codec median time", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_split(plt, runs, path, size):
    """100%-stacked bars: a log axis would make the stacks lie, and the shares are what tells which
    kernel to speed up. Each bar is labelled with its median time and the link time of its bytes."""
    fig, axes = plt.subplots(1, len(runs), figsize=(5.2 * len(runs), 4.6), squeeze=False)
    parts = (("encode", "encode_s", "tab:purple"), ("wire wait", "wire_s", "tab:cyan"),
             ("decode", "decode_s", "tab:olive"), ("other", None, "tab:gray"))
    for ax, run in zip(axes[0], runs):
        rows = [r for r in run["results"] if r["bytes"] == size]
        names = [r["codec"] for r in rows]
        xs = list(range(len(rows)))
        bottom = [0.0] * len(rows)
        for label, key, colour in parts:
            share = []
            for r in rows:
                total = r.get("total_s")
                if total is None or total <= 0:  # dense: MPI does not say where its time goes
                    share.append(100.0 if key is None else 0.0)
                    continue
                # Each part is the slowest rank's, so the parts can add up to more than the call.
                known = sum(r[k] for k in ("encode_s", "wire_s", "decode_s"))
                whole = max(total, known)
                share.append(100.0 * ((whole - known) if key is None else r[key]) / whole)
            ax.bar(xs, share, bottom=bottom, color=colour, label=label if label != "other" else "other / MPI")
            bottom = [b + s for b, s in zip(bottom, share)]
        rate = run["rate_gbit"]
        for x, r in zip(xs, rows):
            wb = r.get("wire_bytes")
            link = f"\nlink {wb * 8 / (rate * 1e9) * 1e3:.3g}" if rate and wb and wb > 0 else ""
            ax.text(x, 101, f"{r['time_s'] * 1e3:.4g} ms{link}", ha="center", va="bottom", fontsize=7)
        ax.set_xticks(xs)
        ax.set_xticklabels(names)
        ax.set_ylim(0, 122)
        ax.set_ylabel("% of the call (slowest rank, gcomp_comm_stats)")
        ax.set_title(f"{title(run)}, {human_bytes(size)}", fontsize=10)
        ax.legend(fontsize=7, loc="lower right", framealpha=0.9)
    fig.suptitle("where a call's time goes (each part: its slowest rank); above each bar: median time and "
                 "the link time of the bytes sent",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def fmt_ms(t):
    return f"{t * 1e3:.1f}" if t >= 0.01 else f"{t * 1e3:.2f}"


def markdown(runs, size):
    out = []
    for run in runs:
        out.append(f"### {title(run)}\n")
        out.append(f"{run.get('host', '?')}, {run.get('date', '?')}, {run['ranks']} ranks, median of "
                   f"{run['iters']} after {run['warmup']} warm-up; top-k ratio {run['params']['topk_ratio']}, "
                   f"q8 bucket {run['params']['q8_bucket']}, rounding {run['params']['rounding']}\n")
        codecs = codecs_of(run)
        out.append("| size | " + " | ".join(f"{c} ms (×)" for c in codecs) + " |")
        out.append("|---:|" + "---:|" * len(codecs))
        sizes = sorted({r["bytes"] for r in run["results"]})
        for b in sizes:
            cells = []
            for c in codecs:
                r = next((r for r in run["results"] if r["bytes"] == b and r["codec"] == c), None)
                if r is None:
                    cells.append("")
                elif c == "dense":
                    cells.append(fmt_ms(r["time_s"]))
                else:
                    sp = r.get("speedup")
                    cells.append(f"{fmt_ms(r['time_s'])} ({sp:.2f}×)" if sp is not None else fmt_ms(r["time_s"]))
            out.append(f"| {human_bytes(b)} | " + " | ".join(cells) + " |")
        rows = [r for r in run["results"] if r["bytes"] == size]
        if rows:
            out.append("")
            out.append(f"At {human_bytes(size)}:\n")
            out.append("| codec | time ms | speed-up | wire B/rank | link time ms | encode ms | wire wait ms "
                       "| decode ms | max rel err | same |")
            out.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
            for r in rows:
                rate = run["rate_gbit"]
                wb = r.get("wire_bytes")
                link = f"{wb * 8 / (rate * 1e9) * 1e3:.1f}" if rate and wb and wb > 0 else "–"
                sp = r.get("speedup")
                cells = [r["codec"], fmt_ms(r["time_s"]), f"{sp:.2f}×" if sp is not None else "–",
                         f"{wb:.0f}" if wb is not None and wb >= 0 else "–", link]
                cells += [f"{r[k] * 1e3:.1f}" if r.get(k) is not None else "–"
                          for k in ("encode_s", "wire_s", "decode_s")]
                cells += [f"{r['max_rel_err']:.2e}", "yes" if r["identical"] else "NO"]
                out.append("| " + " | ".join(cells) + " |")
        out.append("")
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("json", nargs="+", help="gcomp_bench --json files")
    ap.add_argument("-o", "--out", default=".", help="directory for the PNG files")
    ap.add_argument("--markdown", help="write a markdown summary here")
    ap.add_argument("--size", type=int, default=64 << 20, help="size (bytes) of the split plot and detail table")
    args = ap.parse_args()

    runs = load(args.json)
    if not runs:
        sys.exit("plot: no runs")
    os.makedirs(args.out, exist_ok=True)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(markdown(runs, args.size))
        print(f"plot: wrote {args.markdown}")

    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        sys.exit("plot: matplotlib is missing: apt-get install python3-matplotlib (then run with /usr/bin/python3)")
    plot_time(plt, runs, os.path.join(args.out, "time.png"))
    plot_speedup(plt, runs, os.path.join(args.out, "speedup.png"), args.size)
    if any(r["bytes"] == args.size for run in runs for r in run["results"]):
        plot_split(plt, runs, os.path.join(args.out, "split.png"), args.size)
    print(f"plot: wrote {args.out}/time.png, speedup.png, split.png")


if __name__ == "__main__":
    main()
