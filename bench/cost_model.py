#!/usr/bin/python3
"""The cost model of docs/cost-model.md: fit, check against measurements, project to large clusters.

    bench/cost_model.py RATE-1G.json RATE-10G.json ... --codec CODEC.json [--codec-shared C1.json C2.json ...]

CODEC.json is gcomp_codec_bench --json (single-core encode and decode throughput); each RATE file is
gcomp_bench --json from bench/run_cluster.sh (dense rows and codec rows of one link rate). Prints
markdown: the alpha-beta fit of the dense rows, the model's prediction of every codec row beside the
measured time, and projections to 64, 1024 and 4096 ranks at 100 and 400 Gbit/s.

Per rank, for P ranks and n fp32 elements (docs/algorithms.md has the algorithms themselves):

    T = alpha * messages + beta * bytes_sent + kappa * compute

messages and bytes_sent follow src/coll/cost_model.c (the model gcomp picks algorithms with), compute
is the encode and decode work of the algorithm timed by gcomp_codec_bench on one core, and kappa is
how many ranks share a core (2 on the emulated cluster: 4 ranks, 2 cores; 1 on a real cluster).
"""
import argparse
import json
import math
import re

HEADER = 96.0  # frame header, GCOMP_WIRE_HEADER_LEN (docs/wire-format.md)
STAGE = 1 << 20  # elements per pipeline stage (GCOMP_PIPELINE_BYTES=4M)
SCATTER_S = 2e-9  # seconds per kept element added onto a dense vector (random access; assumed)


# --- per-rank volume of each algorithm, as src/coll/cost_model.c counts it --------------------

def dense_frame(codec, m, bucket=512):
    if codec == "q8":
        return HEADER + m + 4 * math.ceil(m / bucket)
    return HEADER + 4 * m


def sparse_frame(codec, m, k, bucket=512, values_bytes=4):
    if m <= 0:
        return HEADER
    w = min(32, math.ceil(math.log2(2 * m / max(k, 1) + 1)))
    idx = 4 + 4 * math.ceil(k * w / 32)
    if codec == "topk-q8":
        return HEADER + idx + 4 * math.ceil(k / bucket) + k
    return HEADER + idx + k * values_bytes


def volumes(algo, codec, n, P, ratio=0.01, stage=STAGE):
    """(bytes sent, messages sent) by one rank."""
    stages = math.ceil(n / stage) if n else 0
    chunk = n / P
    if algo == "ring":  # plain MPI_Allreduce, bandwidth-optimal: reduce-scatter + all-gather
        return 2 * (P - 1) / P * 4 * n, 2 * math.log2(P) if P & (P - 1) == 0 else 2 * (P - 1)
    if algo == "sra":
        return 2 * (P - 1) * dense_frame(codec, chunk), 2 * (P - 1) * stages
    if algo == "allgather":
        return (P - 1) * sparse_frame(codec, n, math.ceil(ratio * n)), (P - 1) * stages
    if algo == "sparse-rs":
        union = 1 - (1 - ratio) ** P
        kr = math.ceil(union * chunk)
        reduced = min(sparse_frame("topk", chunk, kr), dense_frame("q8" if codec == "topk-q8" else "none", chunk))
        return (P - 1) * (sparse_frame(codec, chunk, math.ceil(ratio * chunk)) + reduced), 2 * (P - 1) * stages
    raise ValueError(algo)


def choose(codec, n, P, ratio=0.01):
    """The algorithm gcomp's own cost model picks (its constants: 5 us, 10 GB/s, 1 ns/element)."""
    if codec in ("q8", "none"):
        return "sra"
    best = None
    for algo in ("allgather", "sparse-rs"):
        b, m = volumes(algo, codec, n, P, ratio)
        k = math.ceil(ratio * n)
        decoded = P * k if algo == "allgather" else P * math.ceil(ratio * n / P) + n
        s = 5e-6 * m + 1e-10 * b + 1e-9 * decoded
        if best is None or s < best[0]:
            best = (s, algo)
    return best[1]


# --- compute, from gcomp_codec_bench -----------------------------------------------------------

class Kernels:
    """Seconds per element of encode and decode for each codec, and of memcpy, on one core."""

    def __init__(self, paths, mib=64):
        rows = []
        for path in paths:  # several files: copies run at once; their rates are averaged
            with open(path) as f:
                rows += json.load(f)["results"]
        self.enc, self.dec, self.frame = {}, {}, {}
        copy = []
        for codec in ("none", "q8", "topk", "topk-q8"):
            cand = [r for r in rows if r["codec"] == codec]
            if not cand:
                continue
            near = min(abs(r["mib"] - mib) for r in cand)
            cand = [r for r in cand if abs(r["mib"] - mib) == near]
            avg = {k: sum(r[k] for r in cand) / len(cand)
                   for k in ("frame_over_input", "encode_gbs", "decode_gbs", "memcpy_gbs")}
            fo = avg["frame_over_input"]
            # gcomp_codec_bench counts 3 x input + frame bytes for encode, frame + output for decode,
            # and 2 x the buffer for memcpy.
            self.enc[codec] = (12 + 4 * fo) / (avg["encode_gbs"] * 1e9)
            self.dec[codec] = (4 + 4 * fo) / (avg["decode_gbs"] * 1e9)
            self.frame[codec] = fo
            copy.append(8 / (avg["memcpy_gbs"] * 1e9))
        self.copy = sorted(copy)[len(copy) // 2]

    def compute(self, algo, codec, n, P, ratio=0.01, ef=True):
        """One rank's compute for one call, by the steps of docs/algorithms.md. With error feedback
        every call also snapshots the residual it is about to change (the rollback copy)."""
        e, d = self.enc[codec], self.dec[codec]
        k = ratio * n
        snap = self.copy * n if ef else 0.0
        if algo == "sra":  # encode P chunks, decode P contributions, re-encode own chunk, decode P reduced
            return e * n * (1 + 1 / P) + 2 * d * n + snap * (1 + 1 / P)
        if algo == "allgather":  # encode, decode onto zeros, add the other P-1 frames' kept elements
            return e * n + d * n + (P - 1) * k * SCATTER_S + snap
        if algo == "sparse-rs":  # encode, sum P sparse chunks, re-encode own chunk, decode P reduced
            return e * n * (1 + 1 / P) + (P - 1) * k / P * SCATTER_S + d * n * (1 + 1 / P) + snap * (1 + 1 / P)
        raise ValueError(algo)


def rounds(algo, P):
    """Latency rounds of one call on the critical path. Plain MPI_Allreduce (MPICH's reduce-scatter +
    all-gather for a power of two, the ring otherwise). gcomp: two small agreement all-reduces
    (recursive doubling) and the first stage's scatter and gather; later stages are pipelined
    behind them."""
    lg = math.log2(P)
    if algo == "ring":
        return 2 * lg if P & (P - 1) == 0 else 2 * (P - 1)
    return 2 * math.ceil(lg) + (1 if algo == "allgather" else 2)


# --- fit and check ----------------------------------------------------------------------------

def fit_dense(rows, P):
    """alpha (per round), beta (per byte) from T = alpha * rounds + beta * bytes over the dense rows,
    least squares on the relative error (the sizes span decades)."""
    xs = [(volumes("ring", "none", r["bytes"] // 4, P)[0], r["time_s"]) for r in rows]
    s00 = sum(1 / t ** 2 for x, t in xs)
    s01 = sum(x / t ** 2 for x, t in xs)
    s11 = sum(x * x / t ** 2 for x, t in xs)
    r0 = sum(1 / t for x, t in xs)
    r1 = sum(x / t for x, t in xs)
    det = s00 * s11 - s01 * s01
    a = (r0 * s11 - r1 * s01) / det
    b = (s00 * r1 - s01 * r0) / det
    return max(a, 0.0) / rounds("ring", P), b


def rate_of(run):
    m = re.search(r"([\d.]+)\s*Gbit/s", run.get("label", ""))
    return float(m.group(1)) if m else None


def predict(kern, codec, n, P, alpha, beta, kappa, ratio, per_message=False, stage=STAGE):
    """(algorithm, seconds, (latency, wire, compute)). per_message: alpha per message sent (a real
    fabric, where each of the P-1 messages of a stage costs the sender its injection overhead)
    instead of per round."""
    algo = choose(codec, n, P, ratio)
    b, m = volumes(algo, codec, n, P, ratio, stage)
    lat = alpha * (m + rounds(algo, P) if per_message else rounds(algo, P))
    c = kappa * kern.compute(algo, codec, n, P, ratio)
    return algo, lat + beta * b + c, (lat, beta * b, c)


def human(b):
    for unit, s in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if b >= s:
            return f"{b / s:g} {unit}"
    return f"{b} B"


def fmt_t(t):
    if t >= 1:
        return f"{t:.2f} s"
    if t >= 1e-3:
        return f"{t * 1e3:.3g} ms"
    return f"{t * 1e6:.3g} µs"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("runs", nargs="+", help="gcomp_bench --json files, one per link rate")
    ap.add_argument("--codec", required=True, help="gcomp_codec_bench --json file: one copy, one core")
    ap.add_argument("--codec-shared", nargs="+",
                    help="gcomp_codec_bench --json files of copies run at once, as many as the cluster has "
                         "ranks: compute as the emulated cluster's ranks get it (default: --codec x ranks/cores)")
    ap.add_argument("--cores", type=int, default=2, help="cores the emulated cluster's ranks share")
    ap.add_argument("--min-fit-bytes", type=int, default=1 << 20, help="smallest dense size the fit uses")
    ap.add_argument("--check-bytes", type=int, default=16 << 20, help="smallest size the 25%% check counts")
    ap.add_argument("--alpha", type=float, default=3e-6, help="per-message cost for the projections (s)")
    args = ap.parse_args()
    kern = Kernels([args.codec])
    shared = Kernels(args.codec_shared) if args.codec_shared else None

    print("## Fit of the dense rows\n")
    print("| link | ranks | alpha | beta (per byte) | effective link | sizes fitted |")
    print("|---|---:|---:|---:|---:|---|")
    fits = []
    for path in args.runs:
        with open(path) as f:
            run = json.load(f)
        P = run["ranks"]
        rate = rate_of(run)
        dense = [r for r in run["results"] if r["codec"] == "dense" and r["bytes"] >= args.min_fit_bytes]
        if len(dense) < 2:
            print(f"| {rate} Gbit/s | {P} | (fewer than two dense sizes) | | | |")
            continue
        alpha, beta = fit_dense(dense, P)
        fits.append((run, P, rate, alpha, beta))
        print(f"| {rate:g} Gbit/s | {P} | {fmt_t(alpha)} per round | {beta * 1e9:.2f} ns | "
              f"{8 / beta / 1e9:.2f} Gbit/s ({8 / beta / 1e9 / rate * 100:.0f}% of the link) | "
              f"{human(dense[0]['bytes'])}–{human(dense[-1]['bytes'])} |")

    if shared:
        ks = [kern.enc[c] / shared.enc[c] for c in shared.enc] + [kern.dec[c] / shared.dec[c] for c in shared.dec]
        print(f"\nCompute: gcomp_codec_bench run as {len(args.codec_shared)} copies at once "
              f"(encode and decode {min(1 / k for k in ks):.2f}–{max(1 / k for k in ks):.2f}x slower than one copy "
              f"alone: the ranks share {args.cores} cores and their memory bandwidth).")

    print("\n## Predictions against measurements\n")
    print("| link | size | codec | algorithm | latency | wire | compute | predicted | measured | error |")
    print("|---|---:|---|---|---:|---:|---:|---:|---:|---:|")
    errs = []
    for run, P, rate, alpha, beta in fits:
        kappa = 1.0 if shared else max(1.0, P / args.cores)
        k_used = shared or kern
        ratio = run["params"]["topk_ratio"]
        # gcomp's own latency per round: from its smallest calls, where wire and compute are small.
        smallest = min(r["bytes"] for r in run["results"])
        lat_rows = []
        for r in run["results"]:
            if r["bytes"] != smallest or r["codec"] not in k_used.enc:
                continue
            n = r["bytes"] // 4
            algo = choose(r["codec"], n, P, ratio)
            b, _ = volumes(algo, r["codec"], n, P, ratio)
            rest = r["time_s"] - beta * b - kappa * k_used.compute(algo, r["codec"], n, P, ratio)
            lat_rows.append(max(rest, 0.0) / rounds(algo, P))
        alpha_g = sorted(lat_rows)[len(lat_rows) // 2] if lat_rows else alpha
        print(f"| {rate:g} Gbit/s | | *gcomp alpha {fmt_t(alpha_g)} per round, from its {human(smallest)} rows* "
              "| | | | | | | |")
        for r in run["results"]:
            n = r["bytes"] // 4
            if r["codec"] == "dense":
                b, _ = volumes("ring", "none", n, P)
                lat = alpha * rounds("ring", P)
                pred, algo, parts = lat + beta * b, "MPI", (lat, beta * b, 0.0)
            elif r["codec"] in k_used.enc:
                algo, pred, parts = predict(k_used, r["codec"], n, P, alpha_g, beta, kappa, ratio)
            else:
                continue
            err = (pred - r["time_s"]) / r["time_s"]
            if r["bytes"] >= args.check_bytes:
                errs.append((abs(err), rate, r["bytes"], r["codec"]))
            print(f"| {rate:g} Gbit/s | {human(r['bytes'])} | {r['codec']} | {algo} | {fmt_t(parts[0])} | "
                  f"{fmt_t(parts[1])} | {fmt_t(parts[2])} | {fmt_t(pred)} | {fmt_t(r['time_s'])} | {err * 100:+.0f}% |")
    if errs:
        within = sum(1 for e in errs if e[0] <= 0.25)
        worst = max(errs)
        mean = sum(e[0] for e in errs) / len(errs)
        print(f"\nRows of {human(args.check_bytes)} or more: {within} of {len(errs)} within 25%, mean |error| "
              f"{mean * 100:.0f}%, worst {worst[0] * 100:.0f}% ({worst[3]}, {human(worst[2])}, {worst[1]:g} Gbit/s).")

    print("\n## Projections\n")
    print(f"alpha = {fmt_t(args.alpha)} per message sent (and per latency round), beta = 8 / link rate, one core "
          "per rank at gcomp_codec_bench's single-core speed, no overlap of compute and wire; "
          "64 MiB fp32 per rank, top-k ratio 0.01. Plain MPI_Allreduce as the bandwidth-optimal ring.\n")
    n = (64 << 20) // 4
    print("| ranks | link | dense (ring) | q8 | topk | topk-q8 | speed-up q8 / topk / topk-q8 | "
          "without compute, one stage |")
    print("|---:|---|---:|---:|---:|---:|---|---|")
    for P in (64, 1024, 4096):
        for rate in (100, 400):
            beta = 8 / (rate * 1e9)
            b, _ = volumes("ring", "none", n, P)
            dense = 2 * (P - 1) * args.alpha + beta * b  # the ring's 2(P-1) steps
            cells, speed, bound_speed = [], [], []
            for codec in ("q8", "topk", "topk-q8"):
                algo, t, parts = predict(kern, codec, n, P, args.alpha, beta, 1.0, 0.01, per_message=True)
                bound = max(range(3), key=lambda i: parts[i])
                cells.append(f"{fmt_t(t)} ({algo}; {('messages', 'wire', 'compute')[bound]} "
                             f"{parts[bound] / t * 100:.0f}%)")
                speed.append(f"{dense / t:.2f}")
                _, _, lean = predict(kern, codec, n, P, args.alpha, beta, 1.0, 0.01, per_message=True, stage=n)
                bound_speed.append(f"{dense / (lean[0] + lean[1]):.1f}")
            print(f"| {P} | {rate} Gbit/s | {fmt_t(dense)} | " + " | ".join(cells) + " | " + " / ".join(speed)
                  + " | " + " / ".join(bound_speed) + " |")


if __name__ == "__main__":
    main()
