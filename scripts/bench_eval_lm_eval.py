"""The baseline of `glassbox bench eval`: lm-evaluation-harness's `hf` backend on the same model,
tasks, window and batch size, float32 on the CPU with the same number of threads. Prints one JSON
object: documents, seconds (the evaluation only: the model is loaded before the clock starts),
documents per second, each task's metrics, and the versions.

    PYTHONPATH=<dir with lm-eval, transformers, torch> python3 bench_eval_lm_eval.py \
        --model DIR --task T.yaml [--task U.yaml] --threads 2 --batch-size 8 [--limit N] [--max-length N] [--num-fewshot N]
"""
import argparse
import json
import os
import sys
import time


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", required=True)
    p.add_argument("--task", action="append", required=True)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--limit", type=int, default=None)
    p.add_argument("--max-length", type=int, default=None)
    p.add_argument("--num-fewshot", type=int, default=None)
    a = p.parse_args()

    import torch

    torch.set_num_threads(a.threads)
    import lm_eval
    import transformers
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    kwargs = {"pretrained": a.model, "dtype": "float32", "device": "cpu", "batch_size": a.batch_size}
    if a.max_length:
        kwargs["max_length"] = a.max_length
    lm = HFLM(**kwargs)
    dirs = sorted({os.path.dirname(os.path.abspath(t)) for t in a.task})
    names = [os.path.splitext(os.path.basename(t))[0] for t in a.task]
    tm = TaskManager(include_path=dirs)
    t0 = time.perf_counter()
    res = lm_eval.simple_evaluate(model=lm, tasks=names, task_manager=tm, limit=a.limit,
                                  num_fewshot=a.num_fewshot, bootstrap_iters=0)
    secs = time.perf_counter() - t0
    docs = sum(res["n-samples"][n]["effective"] for n in names)
    metrics = {n: {k.split(",")[0]: v for k, v in res["results"][n].items()
                   if k.endswith(",none") and "stderr" not in k} for n in names}
    json.dump({"docs": docs, "seconds": secs, "docs_per_s": docs / secs, "metrics": metrics,
               "threads": torch.get_num_threads(), "lm_eval": lm_eval.__version__,
               "torch": torch.__version__, "transformers": transformers.__version__}, sys.stdout)
    print()


if __name__ == "__main__":
    main()
