#!/usr/bin/env python3
"""Eager-PyTorch baseline of `glassbox bench train`.

The same model as glassbox's `bench-10m` preset — Llama, hidden 320, intermediate 864, 6 layers,
5 heads, 5 kv heads, vocab 8192, tied embeddings, RMSNorm eps 1e-5, RoPE theta 10000 — written in
plain PyTorch (nn.Linear, F.scaled_dot_product_attention), trained in fp32 on random token
batches with torch.optim.AdamW (lr 6e-4, betas 0.9/0.95, weight decay 0.1 on matrices only)
and global-norm clipping at 1.0: the work glassbox's step does. Prints one JSON object.

glassbox runs it itself (`glassbox bench train --python python3`); by hand:

  PYTHONPATH=/path/with/torch python3 scripts/bench_train_torch.py --threads 2
"""

import argparse
import json
import resource
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


# glassbox's training presets: hidden, intermediate, layers, heads, kv heads.
SHAPES = {"bench-10m": (320, 864, 6, 5, 5), "smollm2-135m": (576, 1536, 30, 9, 3)}


class Block(nn.Module):
    def __init__(self, h, inter, heads, kv):
        super().__init__()
        self.hd = h // heads
        self.heads, self.kv = heads, kv
        self.input_layernorm = nn.RMSNorm(h, eps=1e-5)
        self.q_proj = nn.Linear(h, heads * self.hd, bias=False)
        self.k_proj = nn.Linear(h, kv * self.hd, bias=False)
        self.v_proj = nn.Linear(h, kv * self.hd, bias=False)
        self.o_proj = nn.Linear(heads * self.hd, h, bias=False)
        self.post_attention_layernorm = nn.RMSNorm(h, eps=1e-5)
        self.gate_proj = nn.Linear(h, inter, bias=False)
        self.up_proj = nn.Linear(h, inter, bias=False)
        self.down_proj = nn.Linear(inter, h, bias=False)

    def forward(self, x, cos, sin):
        b, t, _ = x.shape
        y = self.input_layernorm(x)
        q = self.q_proj(y).view(b, t, self.heads, self.hd).transpose(1, 2)
        k = self.k_proj(y).view(b, t, self.kv, self.hd).transpose(1, 2)
        v = self.v_proj(y).view(b, t, self.kv, self.hd).transpose(1, 2)

        def rot(u):
            a, c = u[..., : self.hd // 2], u[..., self.hd // 2:]
            return torch.cat([-c, a], -1)

        q, k = q * cos + rot(q) * sin, k * cos + rot(k) * sin
        if self.kv < self.heads:  # grouped-query attention: each kv head serves heads/kv queries
            k = k.repeat_interleave(self.heads // self.kv, dim=1)
            v = v.repeat_interleave(self.heads // self.kv, dim=1)
        a = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.o_proj(a.transpose(1, 2).reshape(b, t, -1))
        y = self.post_attention_layernorm(x)
        return x + self.down_proj(F.silu(self.gate_proj(y)) * self.up_proj(y))


class Llama(nn.Module):
    def __init__(self, vocab, h, inter, layers, heads, kv):
        super().__init__()
        self.embed_tokens = nn.Embedding(vocab, h)
        self.layers = nn.ModuleList(Block(h, inter, heads, kv) for _ in range(layers))
        self.norm = nn.RMSNorm(h, eps=1e-5)
        self.hd = h // heads
        for p in self.parameters():
            if p.dim() == 2:
                nn.init.normal_(p, std=0.02)

    def forward(self, ids):
        t = ids.shape[1]
        inv = 1.0 / (10000.0 ** (torch.arange(0, self.hd, 2).float() / self.hd))
        f = torch.arange(t).float()[:, None] * inv[None, :]
        emb = torch.cat([f, f], -1)
        cos, sin = emb.cos()[None, None], emb.sin()[None, None]
        x = self.embed_tokens(ids)
        for layer in self.layers:
            x = layer(x, cos, sin)
        return self.norm(x) @ self.embed_tokens.weight.T  # tied lm_head


def peak_rss():
    """VmHWM of this process (ru_maxrss would carry over the parent's peak across exec)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--seq-len", type=int, default=256)
    ap.add_argument("--vocab", type=int, default=8192)
    ap.add_argument("--preset", default="bench-10m", choices=sorted(SHAPES),
                    help="model shape (hidden, intermediate, layers, heads, kv heads), as glassbox's presets")
    ap.add_argument("--lora", type=int, default=0,
                    help="train a PEFT LoRA adapter of this rank (alpha 2r) on every linear layer")
    ap.add_argument("--device", default="cpu", help="cpu, or cuda / cuda:N (as glassbox's --device)")
    ap.add_argument("--compile", action="store_true",
                    help="run the model through torch.compile (inductor); two more warm-up steps")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    device = torch.device(a.device)
    model = Llama(a.vocab, *SHAPES[a.preset]).to(device)
    params = sum(p.numel() for p in model.parameters())
    if a.lora:
        # PEFT's LoRA layers on the same modules glassbox adapts; only they train.
        from peft import LoraConfig, inject_adapter_in_model
        cfg = LoraConfig(r=a.lora, lora_alpha=2 * a.lora, lora_dropout=0.0,
                         target_modules=["q_proj", "k_proj", "v_proj", "o_proj",
                                         "gate_proj", "up_proj", "down_proj"])
        model = inject_adapter_in_model(cfg, model)
        for n, p in model.named_parameters():
            p.requires_grad = "lora_" in n
    trainable = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in trainable if p.dim() == 2]
    no_decay = [p for p in trainable if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=6e-4, betas=(0.9, 0.95), eps=1e-8)
    forward = torch.compile(model) if a.compile else model
    warmup = a.warmup + 2 if a.compile else a.warmup
    gen = torch.Generator().manual_seed(42)
    times = []
    loss = None
    for i in range(warmup + a.steps):
        rows = torch.randint(0, a.vocab, (a.batch_size, a.seq_len + 1), generator=gen).to(device)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        logits = forward(rows[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, a.vocab), rows[:, 1:].reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainable, 1.0)
        opt.step()
        if device.type == "cuda":
            # Kernels run asynchronously: the step ends when the GPU has finished it.
            torch.cuda.synchronize(device)
        secs = time.perf_counter() - t
        if i >= warmup:
            times.append(secs)
    median = statistics.median(times)
    print(json.dumps({
        "torch": torch.__version__,
        "compiled": a.compile,
        "device": str(device),
        "threads": torch.get_num_threads(),
        "parameters": params,
        "trainable_parameters": sum(p.numel() for p in trainable),
        "tokens_per_step": a.batch_size * a.seq_len,
        "median_step_s": median,
        "tokens_per_s": a.batch_size * a.seq_len / median,
        "step_s": times,
        "last_loss": loss.item(),
        "peak_rss_bytes": peak_rss(),
    }))


if __name__ == "__main__":
    main()
