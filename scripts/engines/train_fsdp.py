#!/usr/bin/env python3
"""Trains a run exported by `glassbox export-run --engine torch-fsdp` with PyTorch FSDP.

Launched by the export's launch.sh (`torchrun --nproc_per_node N train_fsdp.py --export DIR
--out OUT`). It trains exactly the exported run: the step-0 weights of model/, the sample of
every position from data/order.bin (sample i = tokens [i*seq_len, i*seq_len + seq_len + 1) of
data/tokens.bin), the global batch split evenly over the ranks, each rank's rows in grad_accum
micro-batches, AdamW with the exported settings (norm weights and biases undecayed unless the
recipe says otherwise), the learning rate of every step as export.json lists it, global-norm
clipping, held-out evaluations at the exported steps (the mean loss over the first windows of
data/heldout.bin, to OUT/logs/eval.jsonl), and checkpoints at the exported steps in Hugging Face
layout. Per-step losses (the mean over the global batch) go to OUT/logs/train.jsonl;
OUT/engine.json records the engine. At every checkpoint the sharded weights and AdamW moments
are saved too (OUT/resume, torch's distributed checkpoint, the newest only): launched again with
the same OUT and the same number of processes, the loop continues from there, to the same losses
as an uninterrupted launch.

Needs torch (>= 2.6, FSDP2's fully_shard) and transformers; the model is transformers'
LlamaForCausalLM, sharded per decoder layer. Bring the result back with `glassbox import-run`.
"""

import json
import math
import os
import shutil
import time
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
import torch.distributed.checkpoint as dcp
from torch.distributed.checkpoint.state_dict import (
    StateDictOptions,
    get_model_state_dict,
    get_state_dict,
    set_state_dict,
)
from torch.distributed.device_mesh import init_device_mesh
from torch.distributed.fsdp import fully_shard

from engine_common import arguments, export_record, heldout, mark_latest, reopen_logs, resume_step


def main():
    args = arguments(__doc__).parse_args()

    dist.init_process_group(args.backend)
    rank, world = dist.get_rank(), dist.get_world_size()
    torch.set_num_threads(args.threads)
    if args.backend == "nccl":
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        device = torch.device("cuda", local)
    else:
        device = torch.device("cpu")

    exp, out = Path(args.export), Path(args.out)
    rec = export_record(exp, "torch-fsdp")
    B, L, A, T = rec["batch_size"], rec["seq_len"], rec["grad_accum"], rec["total_steps"]
    if B % world:
        raise SystemExit(f"batch_size {B} is not a multiple of the {world} processes")
    per = B // world
    if per % A:
        raise SystemExit(f"each process's {per} rows do not split into grad_accum {A} micro-batches")
    tokens = np.memmap(exp / "data" / "tokens.bin", dtype="<u4", mode="r")
    heldout_tokens, windows = heldout(exp, rec)
    order = np.memmap(exp / "data" / "order.bin", dtype="<u8", mode="r")
    if len(order) != rec["positions"] or len(tokens) != rec["train_tokens"]:
        raise SystemExit(f"{exp / 'data'}: the files do not have the sizes export.json records")

    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(exp / "model", dtype=torch.float32, attn_implementation="eager")
    model.to(device)
    mesh = init_device_mesh(device.type, (world,))
    for layer in model.model.layers:
        fully_shard(layer, mesh=mesh)
    fully_shard(model, mesh=mesh)

    o = rec["optimizer"]
    decay, plain = [], []
    for name, p in model.named_parameters():
        undecayed = name.endswith("norm.weight") or name.endswith(".bias")
        (plain if undecayed and not o["decay_norms_and_biases"] else decay).append(p)
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": o["weight_decay"]}, {"params": plain, "weight_decay": 0.0}],
        lr=0.0, betas=tuple(o["betas"]), eps=o["eps"],
    )

    resume_dir = out / "resume"

    def save(step):
        sd = get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
        if rank == 0:
            d = out / "checkpoints" / f"step-{step:07d}"
            d.mkdir(parents=True, exist_ok=True)
            model.save_pretrained(d, state_dict=sd, safe_serialization=True)
            tok = exp / "model" / "tokenizer.json"
            if tok.exists():
                shutil.copy(tok, d / "tokenizer.json")
        if step == 0:
            # Nothing to continue from yet. (Asking torch for the state dict of an optimiser
            # with no state makes it take a zero-gradient step to create one, which advances
            # AdamW's step count and changes every later update.)
            dist.barrier()
            return
        # The state a relaunch continues from: sharded weights and AdamW moments (torch's
        # distributed checkpoint), the newest only; `latest` is written once it is complete.
        model_sd, optim_sd = get_state_dict(model, opt)
        dcp.save({"model": model_sd, "optim": optim_sd}, checkpoint_id=resume_dir / f"step-{step:07d}")
        dist.barrier()
        if rank == 0:
            mark_latest(resume_dir, step)
        dist.barrier()

    checkpoints = set(rec["checkpoint_steps"])
    eval_steps = set(rec["eval_steps"])

    def evaluate():
        # Mean of each window's mean loss over the first `windows` held-out windows (window i =
        # held-out tokens [i*L, i*L + L + 1)), as glassbox evaluates; every process runs the same
        # forwards (the sharded weights are gathered collectively).
        total = 0.0
        with torch.no_grad():
            for i in range(windows):
                w = torch.from_numpy(heldout_tokens[i * L: i * L + L + 1].astype(np.int64))[None].to(device)
                logits = model(input_ids=w[:, :-1]).logits
                total += F.cross_entropy(logits.reshape(-1, logits.size(-1)).float(), w[:, 1:].reshape(-1)).item()
        return total / windows
    steps = T if args.max_steps is None else min(T, args.max_steps)
    # A relaunch with the same OUT continues from the newest saved step (same world size).
    start = resume_step(resume_dir)
    if start > 0:
        model_sd, optim_sd = get_state_dict(model, opt)
        state = {"model": model_sd, "optim": optim_sd}
        dcp.load(state, checkpoint_id=resume_dir / f"step-{start:07d}")
        set_state_dict(model, opt, model_state_dict=state["model"], optim_state_dict=state["optim"])
    if rank == 0:
        log, eval_log = reopen_logs(out, start)
        if start > 0:
            print(f"resuming from step {start} ({resume_dir / f'step-{start:07d}'})", flush=True)
    if start == 0 and 0 in checkpoints:
        save(0)
    t0 = time.time()
    for step in range(start, steps):
        lr = rec["lr_schedule"][step]
        for g in opt.param_groups:
            g["lr"] = lr
        first = step * B + rank * per
        rows = np.stack([tokens[i * L: i * L + L + 1] for i in order[first: first + per].astype(np.int64)])
        batch = torch.from_numpy(rows.astype(np.int64)).to(device)
        opt.zero_grad(set_to_none=True)
        mean = torch.zeros((), dtype=torch.float64, device=device)
        for micro in batch.chunk(A):
            logits = model(input_ids=micro[:, :-1]).logits
            loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)).float(), micro[:, 1:].reshape(-1))
            (loss / A).backward()
            mean += loss.detach().double() / A
        norm = torch.nn.utils.clip_grad_norm_(model.parameters(), rec["max_grad_norm"])
        norm = norm.full_tensor() if hasattr(norm, "full_tensor") else norm
        opt.step()
        dist.all_reduce(mean)
        mean /= world
        if rank == 0:
            log.write(json.dumps({"step": step + 1, "loss": mean.item(), "lr": lr, "grad_norm": float(norm),
                                  "tokens_seen": (step + 1) * B * L, "wall_time": time.time() - t0}) + "\n")
            log.flush()
        if step + 1 in eval_steps and windows > 0:
            loss = evaluate()
            if rank == 0:
                eval_log.write(json.dumps({"step": step + 1, "loss": loss, "perplexity": math.exp(loss),
                                           "tokens": windows * L}) + "\n")
                eval_log.flush()
        if step + 1 in checkpoints:
            save(step + 1)
    if rank == 0:
        log.close()
        eval_log.close()
        import transformers

        (out / "engine.json").write_text(json.dumps({
            "schema_version": 1, "engine": "torch-fsdp", "torch": torch.__version__, "transformers": transformers.__version__,
            "world_size": world, "backend": args.backend, "steps": steps,
            "export_recipe_sha256": rec["recipe_sha256"],
        }, indent=1) + "\n")
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
