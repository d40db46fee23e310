#!/usr/bin/env python3
"""PyTorch's f32 matrix product at the shapes of `glassbox bench gemm`, timed the same way.

Reads the shapes as JSON (`[[batch, m, k, n], ...]`) from --shapes, multiplies `(batch, m, k)`
by the transpose of `(batch, n, k)` (a linear layer's weight layout), one warm-up then
--repeats timed products, and prints the median seconds and GFLOP/s of each as JSON.
glassbox runs it itself (`glassbox bench gemm --python python3`).
"""
import argparse
import json
import statistics
import time

import torch


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shapes", required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=5)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    out = []
    with torch.no_grad():
        for batch, m, k, n in json.loads(a.shapes):
            x = torch.randn(batch, m, k)
            w = torch.randn(batch, n, k)
            times = []
            for i in range(a.repeats + 1):
                t = time.perf_counter()
                c = torch.matmul(x, w.transpose(1, 2))
                s = time.perf_counter() - t
                del c
                if i > 0:
                    times.append(s)
            sec = statistics.median(times)
            out.append({"seconds": sec, "gflops": 2 * batch * m * k * n / sec / 1e9})
    print(json.dumps({"torch": torch.__version__, "threads": a.threads, "rows": out}))


if __name__ == "__main__":
    main()
