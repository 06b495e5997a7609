#!/usr/bin/env python3
"""gcomp's CUDA top-k against torch.topk on the same 10^8 floats at the same k, in one process.

Usage: torch_topk.py LIBGCOMP_CUDA_PY [N] [RATIO]   (writes torch_topk.json under $OUT when set)

torch.topk(|x|, k) is timed with CUDA events, sorted and unsorted; gcomp's topk encode (sampled and
exact selection, without and with error feedback) is timed by the library: kernels only ("device")
and the whole call with the frame in pinned host memory ("call"). Exact selection must keep the same
index set as torch.topk (ties aside, which random normal data does not have).
"""
import ctypes
import json
import math
import os
import statistics
import sys

import torch


def time_torch(fn, iters=10):
    fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(iters):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        torch.cuda.synchronize()
        times.append(a.elapsed_time(b))
    return statistics.median(times)


def main():
    lib = ctypes.CDLL(sys.argv[1])
    n = int(float(sys.argv[2])) if len(sys.argv) > 2 else 100_000_000
    ratio = float(sys.argv[3]) if len(sys.argv) > 3 else 0.01
    k = math.ceil(ratio * n)
    f = lib.gcomp_py_topk
    f.argtypes = [ctypes.c_ulonglong] * 4 + [ctypes.c_double, ctypes.c_int, ctypes.c_int,
                                             ctypes.POINTER(ctypes.c_double)]
    f.restype = ctypes.c_int
    dev = torch.device("cuda")
    torch.manual_seed(0)
    x = torch.randn(n, device=dev, dtype=torch.float32)
    res = torch.zeros_like(x)
    dst = torch.zeros_like(x)
    print(f"# {torch.cuda.get_device_name(0)}, torch {torch.__version__}, n = {n}, k = {k}")

    results = {"n": n, "k": k, "device": torch.cuda.get_device_name(0), "torch": torch.__version__}
    results["torch_topk_sorted_ms"] = time_torch(lambda: torch.topk(x.abs(), k, sorted=True))
    results["torch_topk_unsorted_ms"] = time_torch(lambda: torch.topk(x.abs(), k, sorted=False))
    best_torch = min(results["torch_topk_sorted_ms"], results["torch_topk_unsorted_ms"])
    print(f"torch.topk(|x|, k) sorted   {results['torch_topk_sorted_ms']:8.3f} ms")
    print(f"torch.topk(|x|, k) unsorted {results['torch_topk_unsorted_ms']:8.3f} ms")

    out = (ctypes.c_double * 4)()
    ok = True
    for exact in (0, 1):
        for ef in (0, 1):
            res.zero_()
            st = f(x.data_ptr(), res.data_ptr() if ef else 0, dst.data_ptr(), n, ratio, exact, 10, out)
            name = f"gcomp_topk_{'exact' if exact else 'sampled'}{'_ef' if ef else ''}"
            if st != 0:
                print(f"{name}: failed with status {st}")
                ok = False
                continue
            dev_ms, call_ms, kept, frame = out[0], out[1], int(out[2]), int(out[3])
            speedup = best_torch / dev_ms if dev_ms > 0 else float("nan")
            results[name] = {"device_ms": dev_ms, "call_ms": call_ms, "kept": kept, "frame_bytes": frame,
                             "speedup_vs_best_torch_device": speedup,
                             "speedup_vs_best_torch_call": best_torch / call_ms}
            print(f"{name:24s} device {dev_ms:8.3f} ms  call {call_ms:8.3f} ms  kept {kept}  "
                  f"frame {frame} B  {speedup:6.1f}x torch (device), {best_torch / call_ms:6.1f}x (call)")
            if exact and not ef:
                ours = torch.nonzero(dst).flatten()
                theirs = torch.sort(torch.topk(x.abs(), k, sorted=False).indices).values
                same = ours.numel() == theirs.numel() and bool(torch.equal(ours, theirs))
                vals = bool(torch.equal(dst[theirs], x[theirs]))
                results["exact_matches_torch"] = same and vals
                print(f"exact selection keeps torch.topk's index set and values: {same and vals}")
                ok = ok and same and vals
    path = os.path.join(os.environ.get("OUT", "."), "torch_topk.json")
    with open(path, "w") as fh:
        json.dump(results, fh, indent=1)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
