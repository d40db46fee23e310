#!/usr/bin/env python3
"""Baseline for `glassbox bench data`: Hugging Face `tokenizers` from Python, `encode_batch` over
the lines of a file with the same tokenizer.json and the same number of threads.

Prints one JSON object: {"mb_per_s", "seconds", "bytes", "lines", "tokens", "threads", "tokenizers"}.
Needs only `pip install tokenizers`.
"""
import argparse
import json
import os
import statistics
import time

ap = argparse.ArgumentParser()
ap.add_argument("--tokenizer", required=True)
ap.add_argument("--input", required=True)
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--repeats", type=int, default=3)
args = ap.parse_args()
os.environ["RAYON_NUM_THREADS"] = str(args.threads)
os.environ["RAYON_RS_NUM_CPUS"] = str(args.threads)
os.environ["TOKENIZERS_PARALLELISM"] = "true"
import tokenizers  # noqa: E402  (after the thread settings)

tk = tokenizers.Tokenizer.from_file(args.tokenizer)
with open(args.input, encoding="utf-8") as f:
    text = f.read()
lines = text.splitlines()
times = []
tokens = 0
for _ in range(max(1, args.repeats)):
    t = time.perf_counter()
    enc = tk.encode_batch(lines, add_special_tokens=False)
    times.append(time.perf_counter() - t)
    tokens = sum(len(e.ids) for e in enc)
sec = statistics.median(times)
size = len(text.encode("utf-8"))
print(json.dumps({"mb_per_s": size / sec / 1e6, "seconds": sec, "bytes": size, "lines": len(lines),
                  "tokens": tokens, "threads": args.threads, "tokenizers": tokenizers.__version__}))
