#!/usr/bin/env python3
"""Checks that a glassbox release (or any model directory glassbox writes) is a plain Hugging
Face model: transformers loads it with AutoTokenizer and AutoModelForCausalLM without remote
code, its greedy continuation of a prompt has the token ids `glassbox generate --greedy` gives,
and its chat template and generation config carry over. What vLLM and TGI load is this
directory; this is the check to run before serving it with them.

  PYTHONPATH=/path/with/torch/and/transformers python3 scripts/check_release_transformers.py BUNDLE \
      [--prompt TEXT] [--new-tokens N] [--glassbox target/release/glassbox]

Exit status 0 when every check passes, 1 otherwise; one line per check.
"""

import argparse
import json
import subprocess
import sys
from pathlib import Path


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model")
    ap.add_argument("--prompt", default="And God said")
    ap.add_argument("--new-tokens", type=int, default=8)
    ap.add_argument("--glassbox", default="glassbox")
    a = ap.parse_args()
    d = Path(a.model)
    ok = True

    def check(name, passed, detail=""):
        nonlocal ok
        ok &= bool(passed)
        print(f"{'PASS' if passed else 'FAIL'} {name}{': ' + detail if detail else ''}")

    cfg = json.loads((d / "config.json").read_text())
    check("no remote code", "auto_map" not in cfg, "config.json has auto_map" if "auto_map" in cfg else "")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(d, trust_remote_code=False)
    model = AutoModelForCausalLM.from_pretrained(d, trust_remote_code=False, dtype=torch.float32)
    check("loads", True, f"{type(tok).__name__}, {type(model).__name__}")
    ids = tok(a.prompt, return_tensors="pt")
    with torch.no_grad():
        out = model.generate(**ids, max_new_tokens=a.new_tokens, do_sample=False, min_new_tokens=a.new_tokens,
                             eos_token_id=None, pad_token_id=model.generation_config.eos_token_id)
    theirs = out[0][ids["input_ids"].shape[1]:].tolist()
    g = subprocess.run([a.glassbox, "generate", "--model", str(d), "--prompt", a.prompt, "--max-new-tokens",
                        str(a.new_tokens), "--greedy", "--ignore-eos", "--json"], check=True, capture_output=True, text=True)
    done = json.loads(g.stdout.splitlines()[0])["completion"]
    ours = done["tokens"]
    n = ids["input_ids"].shape[1]
    check("prompt length equals glassbox's", done["prompt_tokens"] == n, f"transformers {n}, glassbox {done['prompt_tokens']}")
    check("greedy tokens equal glassbox generate", theirs == ours, f"transformers {theirs}, glassbox {ours}")
    tc = d / "tokenizer_config.json"
    if tc.exists() and json.loads(tc.read_text()).get("chat_template"):
        check("chat template", tok.chat_template is not None)
    gc = d / "generation_config.json"
    if gc.exists():
        want = json.loads(gc.read_text()).get("eos_token_id")
        check("generation config", model.generation_config.eos_token_id == want,
              f"eos_token_id {model.generation_config.eos_token_id}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
