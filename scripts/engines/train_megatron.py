#!/usr/bin/env python3
"""Trains a run exported by `glassbox export-run --engine megatron` on Megatron-Core's GPTModel.

Launched by the export's launch.sh (`torchrun --nproc_per_node N train_megatron.py --export DIR
--out OUT --tensor-parallel T`). The model is megatron-core's GPTModel (the local layer spec:
RMSNorm, fused q/k/v, gated MLP, RoPE), built from megatron/model.json, its layers split over T
tensor-parallel ranks by megatron-core; the processes form N / T data-parallel replicas. It
trains exactly the exported run: the step-0 weights of megatron/model.safetensors (megatron-core's
parameter names and layouts, each rank taking its tensor-parallel shard), the instances of
data/instances (a Megatron indexed dataset read with megatron-core's IndexedDataset; instance k
is the seq_len + 1 tokens of position k of glassbox's data order), the global batch split evenly
over the replicas, each replica's rows in grad_accum micro-batches, gradients averaged over the
replicas, the global gradient norm (tensor-parallel shards summed, replicated parameters counted
once) clipped, AdamW with the exported settings (1-D parameters — the norms — undecayed unless
the recipe says otherwise) and the learning rate of every step as export.json lists it.
Checkpoints at the exported steps are the full tensors (shards gathered) in megatron-core's names
(OUT/checkpoints/step-NNNNNNN/model.safetensors), per-step losses go to OUT/logs/train.jsonl,
held-out evaluations to OUT/logs/eval.jsonl, and OUT/engine.json records the engine. At every
checkpoint each rank also saves its shards and AdamW moments (OUT/resume, the newest only):
launched again with the same OUT, processes and TP, the loop continues from there, to the same
losses as an uninterrupted launch.

Needs torch and megatron-core. On GPUs use BACKEND=nccl. With BACKEND=gloo the loop runs on the
CPU: megatron-core places RoPE frequencies on the current CUDA device and forks a CUDA random
state around attention, so for the CPU the current device is the CPU and that fork is skipped
(dropout is 0: no random numbers are drawn). Bring the result back with `glassbox import-run`.
"""

import contextlib
import json
import os
import shutil
import time
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

from megatron.core import parallel_state, tensor_parallel
from megatron.core.datasets.indexed_dataset import IndexedDataset
from megatron.core.models.gpt.gpt_layer_specs import get_gpt_layer_local_spec
from megatron.core.models.gpt.gpt_model import GPTModel
from megatron.core.package_info import __version__ as MEGATRON_CORE_VERSION
from megatron.core.transformer.transformer_config import TransformerConfig

from engine_common import arguments, export_record, heldout, mark_latest, reopen_logs, resume_step


def shard(name, full, p, tp, rank, gated):
    """This rank's tensor-parallel part of the full tensor `full` of parameter `p`."""
    if not getattr(p, "tensor_model_parallel", False):
        return full
    dim = p.partition_dim
    if gated and name.endswith("mlp.linear_fc1.weight"):
        # [gate; up]: each rank holds its part of both halves, in that order.
        gate, up = full.chunk(2, dim=0)
        return torch.cat([gate.chunk(tp, dim=0)[rank], up.chunk(tp, dim=0)[rank]], dim=0)
    return full.chunk(tp, dim=dim)[rank]


def gather(name, p, tp, group, gated):
    """The full tensor of parameter `p` (every tensor-parallel rank calls this)."""
    t = p.detach().contiguous()
    if not getattr(p, "tensor_model_parallel", False) or tp == 1:
        return t.clone()
    parts = [torch.empty_like(t) for _ in range(tp)]
    dist.all_gather(parts, t, group=group)
    if gated and name.endswith("mlp.linear_fc1.weight"):
        halves = [x.chunk(2, dim=0) for x in parts]
        return torch.cat([h[0] for h in halves] + [h[1] for h in halves], dim=0)
    return torch.cat(parts, dim=p.partition_dim)


def run_on_cpu():
    """Lets megatron-core's model run on the CPU: it places RoPE frequencies on the current CUDA
    device (here the CPU) and forks a CUDA random state around attention (skipped: dropout is 0)."""
    torch.cuda.current_device = lambda: torch.device("cpu")
    tensor_parallel.get_cuda_rng_tracker().fork = lambda *a, **k: contextlib.nullcontext()


def build_model(mc, tp, path):
    """Megatron-Core's GPTModel of megatron/model.json `mc` (read from `path`) over `tp`
    tensor-parallel ranks, float32, no dropout, no fused kernels."""
    t, g = mc["transformer"], mc["gpt"]
    if t["activation"] != "silu":
        raise SystemExit(f"{path}: activation {t['activation']} is not silu")
    if g["vocab_size"] % tp:
        raise SystemExit(f"{path}: the vocabulary of {g['vocab_size']} does not split over {tp} tensor-parallel ranks")
    if t["num_query_groups"] % tp:
        raise SystemExit(f"{path}: {t['num_query_groups']} query groups do not split over {tp} tensor-parallel ranks")
    cfg = TransformerConfig(
        num_layers=t["num_layers"], hidden_size=t["hidden_size"], ffn_hidden_size=t["ffn_hidden_size"],
        num_attention_heads=t["num_attention_heads"], num_query_groups=t["num_query_groups"],
        kv_channels=t["kv_channels"], normalization=t["normalization"], layernorm_epsilon=t["layernorm_epsilon"],
        gated_linear_unit=t["gated_linear_unit"], activation_func=F.silu, add_bias_linear=t["add_bias_linear"],
        tensor_model_parallel_size=tp, use_cpu_initialization=True, params_dtype=torch.float32,
        hidden_dropout=0.0, attention_dropout=0.0, persist_layer_norm=False, bias_activation_fusion=False,
        bias_dropout_fusion=False, apply_rope_fusion=False, masked_softmax_fusion=False,
        gradient_accumulation_fusion=False,
    )
    return GPTModel(
        config=cfg, transformer_layer_spec=get_gpt_layer_local_spec(normalization=t["normalization"]),
        vocab_size=g["vocab_size"], max_sequence_length=g["max_sequence_length"],
        share_embeddings_and_output_weights=g["share_embeddings_and_output_weights"],
        position_embedding_type=g["position_embedding_type"], rotary_base=g["rotary_base"],
        rotary_percent=g["rotary_percent"],
    )


def main():
    ap = arguments(__doc__)
    ap.add_argument("--tensor-parallel", type=int, default=1, help="tensor-parallel ranks per replica")
    args = ap.parse_args()

    exp, out = Path(args.export), Path(args.out)
    rec = export_record(exp, "megatron")
    mc = json.loads((exp / "megatron" / "model.json").read_text())
    if args.backend == "nccl":
        # The device first: NCCL's communicators are made on the current device.
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        device = torch.device("cuda", local)
    else:
        device = torch.device("cpu")
    dist.init_process_group(args.backend)
    rank, world, tp = dist.get_rank(), dist.get_world_size(), args.tensor_parallel
    torch.set_num_threads(args.threads)
    if world % tp:
        raise SystemExit(f"{world} processes do not split into tensor-parallel groups of {tp}")
    parallel_state.initialize_model_parallel(tensor_model_parallel_size=tp, pipeline_model_parallel_size=1)
    if args.backend == "nccl":
        tensor_parallel.model_parallel_cuda_manual_seed(0)
    else:
        run_on_cpu()
    tp_rank = parallel_state.get_tensor_model_parallel_rank()
    tp_group = parallel_state.get_tensor_model_parallel_group()
    dp_rank = parallel_state.get_data_parallel_rank()
    dp_group = parallel_state.get_data_parallel_group()
    dp = world // tp

    B, L, A, T = rec["batch_size"], rec["seq_len"], rec["grad_accum"], rec["total_steps"]
    if B % dp:
        raise SystemExit(f"batch_size {B} is not a multiple of the {dp} data-parallel replicas")
    per = B // dp
    if per % A:
        raise SystemExit(f"each replica's {per} rows do not split into grad_accum {A} micro-batches")
    data = IndexedDataset(str(exp / "data" / "instances"))
    if len(data) != rec["positions"]:
        raise SystemExit(f"{exp / 'data'}: {len(data)} instances, export.json records {rec['positions']}")
    heldout_tokens, windows = heldout(exp, rec)

    model = build_model(mc, tp, exp / "megatron" / "model.json")
    t = mc["transformer"]
    gated = t["gated_linear_unit"]
    full = load_file(exp / "megatron" / "model.safetensors")
    names = {n for n, _ in model.named_parameters()}
    if names != set(full):
        raise SystemExit(f"{exp / 'megatron' / 'model.safetensors'}: tensors {sorted(set(full) ^ names)} "
                         "differ from the model's parameters")
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(shard(name, full[name], p, tp, tp_rank, gated))
    del full
    model.to(device)

    o = rec["optimizer"]
    decay, plain = [], []
    for _, p in model.named_parameters():
        (plain if p.ndim < 2 and not o["decay_norms_and_biases"] else decay).append(p)
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": o["weight_decay"]}, {"params": plain, "weight_decay": 0.0}],
        lr=0.0, betas=tuple(o["betas"]), eps=o["eps"],
    )
    mask = torch.triu(torch.ones(L, L, dtype=torch.bool, device=device), diagonal=1)[None, None]
    positions = torch.arange(L, device=device)[None]

    def losses(windows):
        """Per-token losses of windows [b, L + 1] (inputs the first L tokens, labels the last L)."""
        w = torch.as_tensor(np.asarray(windows, dtype=np.int64), device=device)
        return model(w[:, :-1], positions.expand(w.size(0), -1), mask, labels=w[:, 1:]).float()

    resume_dir = out / "resume"

    def save(step):
        sd = {n: gather(n, p, tp, tp_group, gated).cpu() for n, p in model.named_parameters()}
        if rank == 0:
            d = out / "checkpoints" / f"step-{step:07d}"
            d.mkdir(parents=True, exist_ok=True)
            save_file(sd, d / "model.safetensors", metadata={"format": "pt"})
            shutil.copy(exp / "megatron" / "model.json", d / "model.json")
        if step > 0:
            # The state a relaunch continues from: each rank's shards and AdamW moments, the
            # newest only; `latest` is written once every rank has written its file.
            d = resume_dir / f"step-{step:07d}"
            d.mkdir(parents=True, exist_ok=True)
            torch.save({"world": world, "tensor_parallel": tp, "model": model.state_dict(),
                        "optim": opt.state_dict()}, d / f"rank-{rank:05d}.pt")
            dist.barrier()
            if rank == 0:
                mark_latest(resume_dir, step)
        dist.barrier()


    def evaluate():
        # Mean of each window's mean loss over the first `windows` held-out windows (window i =
        # held-out tokens [i*L, i*L + L + 1)), as glassbox evaluates; every rank runs them.
        model.eval()
        with torch.no_grad():
            total = sum(losses([heldout_tokens[i * L: i * L + L + 1]]).mean().item() for i in range(windows))
        model.train()
        return total / windows

    checkpoints, eval_steps = set(rec["checkpoint_steps"]), set(rec["eval_steps"])
    steps = T if args.max_steps is None else min(T, args.max_steps)
    # A relaunch with the same OUT continues from the newest saved step (same processes and TP).
    start = resume_step(resume_dir)
    if start > 0:
        state = torch.load(resume_dir / f"step-{start:07d}" / f"rank-{rank:05d}.pt", map_location=device,
                           weights_only=True)
        if (state["world"], state["tensor_parallel"]) != (world, tp):
            raise SystemExit(f"{resume_dir}: saved by {state['world']} processes with tensor parallel "
                             f"{state['tensor_parallel']}; relaunch with the same")
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optim"])
    if rank == 0:
        log, eval_log = reopen_logs(out, start)
        if start > 0:
            print(f"resuming from step {start} ({resume_dir / f'step-{start:07d}'})", flush=True)
    if start == 0 and 0 in checkpoints:
        save(0)
    model.train()
    t0 = time.time()
    for step in range(start, steps):
        lr = rec["lr_schedule"][step]
        for group in opt.param_groups:
            group["lr"] = lr
        first = step * B + dp_rank * per
        mb = per // A
        total = torch.zeros((), dtype=torch.float64, device=device)
        for a in range(A):
            rows = [data[first + a * mb + r] for r in range(mb)]
            loss = losses(rows).mean() / A
            loss.backward()
            total += loss.detach().double()
        params = [p for p in model.parameters() if p.grad is not None]
        for p in params:
            dist.all_reduce(p.grad, group=dp_group)
            p.grad /= dp
        # Global norm: each tensor-parallel shard's squares summed over the group; a replicated
        # parameter's once (its gradient is the same on every tensor-parallel rank).
        sq = torch.zeros((), dtype=torch.float32, device=device)
        for p in params:
            if getattr(p, "tensor_model_parallel", False) or tp_rank == 0:
                sq += p.grad.float().pow(2).sum()
        dist.all_reduce(sq, group=tp_group)
        grad_norm = sq.sqrt().item()
        if rec["max_grad_norm"] > 0:
            coef = min(1.0, rec["max_grad_norm"] / (grad_norm + 1e-6))
            for p in params:
                p.grad.mul_(coef)
        opt.step()
        opt.zero_grad(set_to_none=True)
        dist.all_reduce(total, group=dp_group)
        done = step + 1
        if rank == 0:
            log.write(json.dumps({"step": done, "loss": total.item() / dp, "lr": lr, "grad_norm": grad_norm,
                                  "elapsed_s": time.time() - t0}) + "\n")
            log.flush()
        if done in eval_steps:
            e = evaluate()
            if rank == 0:
                eval_log.write(json.dumps({"step": done, "loss": e}) + "\n")
                eval_log.flush()
        if done in checkpoints:
            save(done)
    if rank == 0:
        (out / "engine.json").write_text(json.dumps({
            "schema_version": 1, "engine": "megatron", "megatron_core": MEGATRON_CORE_VERSION,
            "torch": torch.__version__, "world_size": world, "tensor_parallel": tp, "backend": args.backend,
            "export_recipe_sha256": rec["recipe_sha256"], "steps": steps,
        }, indent=1) + "\n")
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
