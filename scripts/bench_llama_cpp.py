"""llama.cpp's prefill and decode speed on a GGUF file, measured as `glassbox bench generate` does.

The same prompt (token ids `i · 7919 mod vocab`), one prefill pass, then one token at a time with
the KV cache (greedy), timed repeats after one warm-up, medians reported. llama.cpp comes from
the Python registry's `llama-cpp-python` (which builds it from source for this CPU):

    PYTHONPATH=<dir with llama_cpp and numpy> python3 scripts/bench_llama_cpp.py FILE.gguf \
        --threads 2 --prompt-len 16 --new-tokens 64 --repeats 3 [--json]
"""
import argparse
import json
import statistics
import time

import llama_cpp
import numpy as np


def last_argmax(llm, vocab):
    """The greedy token after the last evaluated one (llama.cpp keeps only its logits)."""
    logits = np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(vocab,))
    return int(np.argmax(logits))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--prompt-len", type=int, default=512)
    ap.add_argument("--new-tokens", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    llm = llama_cpp.Llama(
        model_path=a.model,
        n_ctx=a.prompt_len + a.new_tokens + 8,
        n_batch=max(a.prompt_len, 8),
        n_ubatch=max(a.prompt_len, 8),
        n_threads=a.threads,
        n_threads_batch=a.threads,
        logits_all=False,
        verbose=False,
    )
    vocab = llm.n_vocab()
    prompt = [i * 7919 % vocab for i in range(a.prompt_len)]
    prefill, decode = [], []
    for rep in range(a.repeats + 1):
        llm.reset()
        t0 = time.perf_counter()
        llm.eval(prompt)
        nxt = last_argmax(llm, vocab)
        t1 = time.perf_counter()
        for _ in range(a.new_tokens):
            llm.eval([nxt])
            nxt = last_argmax(llm, vocab)
        t2 = time.perf_counter()
        if rep > 0:
            prefill.append(a.prompt_len / (t1 - t0))
            decode.append(a.new_tokens / (t2 - t1))
    r = {
        "llama_cpp_python": llama_cpp.__version__,
        "threads": a.threads,
        "prefill_tokens_per_s": statistics.median(prefill),
        "decode_tokens_per_s": statistics.median(decode),
    }
    if a.json:
        print(json.dumps(r, indent=2))
    else:
        print(f"llama.cpp (llama-cpp-python {r['llama_cpp_python']}), {a.threads} threads")
        print(f"prefill          {r['prefill_tokens_per_s']:.1f} tokens/s ({a.prompt_len} prompt tokens)")
        print(f"decode           {r['decode_tokens_per_s']:.2f} tokens/s ({a.new_tokens} new tokens)")


if __name__ == "__main__":
    main()
