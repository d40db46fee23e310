#!/usr/bin/env python3
"""Trains a run exported by `glassbox export-run --engine olmo-core` with OLMo-core's own Trainer.

Launched by the export's launch.sh (`torchrun --nproc_per_node N train_olmo_core.py --export DIR
--out OUT`). Everything that defines the run is read with OLMo-core's config classes from the
export: the model (olmo_core/model.json, a TransformerConfig), the dataset (olmo_core/dataset.json,
a NumpyFSLDatasetConfig over data/instances.npy: one instance of seq_len + 1 tokens per position of
glassbox's data order, read in file order — the loader's shuffling is switched off, so OLMo-core
sees glassbox's batches), the train module (olmo_core/train_module.json: AdamW with its
parameter-group overrides, gradient clipping, micro-batch size, FSDP). The step-0 weights are
olmo_core/model.safetensors (OLMo-core's parameter names) and become the engine's step-0
checkpoint. OLMo-core's step-based schedulers count the step one ahead of glassbox's, so the
learning rate of each step is the one export.json lists, set through a scheduler that reads that
table. Checkpoints are saved at the exported steps by OLMo-core's ListCheckpointerCallback and
unsharded afterwards with its unshard_checkpoint (OUT/checkpoints/stepN/model.safetensors);
per-step losses go to OUT/logs/train.jsonl and held-out evaluations to OUT/logs/eval.jsonl;
OUT/engine.json records the engine. Launched again with the same OUT, OLMo-core's trainer
continues from its newest checkpoint (weights, AdamW moments, data-loader position).

This file is glue: the training loop, data loader, sharding and checkpoints are OLMo-core's.
Needs ai2-olmo-core, torch and safetensors. Bring the result back with `glassbox import-run`.
"""

import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from torch.distributed.checkpoint.state_dict import StateDictOptions, set_model_state_dict

from olmo_core.version import VERSION as OLMO_CORE_VERSION

from engine_common import arguments, export_record, heldout, reopen_logs
from olmo_core.data import NumpyDataLoaderBase, NumpyFSLDatasetConfig
from olmo_core.data.collator import DataCollator
from olmo_core.distributed.checkpoint import unshard_checkpoint
from olmo_core.distributed.utils import get_fs_local_rank, get_rank, get_world_size
from olmo_core.nn.transformer import TransformerConfig
from olmo_core.optim.scheduler import Scheduler
from olmo_core.train import TrainerConfig, prepare_training_environment, teardown_training_environment
from olmo_core.train.callbacks import Callback, ListCheckpointerCallback
from olmo_core.train.common import Duration
from olmo_core.train.train_module import TransformerTrainModuleConfig


@dataclass
class ExportedSchedule(Scheduler):
    """The learning rate of every step as export.json lists it (OLMo-core step s is glassbox step s - 1)."""

    table: tuple = ()

    def get_lr(self, initial_lr, current, t_max):
        return self.table[min(max(current - 1, 0), len(self.table) - 1)]


class GlassboxLogs(Callback):
    """Writes each step's loss and the held-out evaluations in glassbox's log layout."""

    def __init__(self, out, heldout, seq_len, windows, eval_steps):
        self.out, self.heldout, self.L, self.windows = out, heldout, seq_len, windows
        self.eval_steps = set(eval_steps)
        self.train_log = self.eval_log = None
        self.t0 = time.time()

    def pre_train(self):
        # A relaunch resumes from OLMo-core's newest checkpoint (the trainer has loaded it by
        # now): log lines past that step belong to the interrupted launch and are written again.
        start = self.trainer.global_step
        if get_rank() == 0:
            self.train_log, self.eval_log = reopen_logs(self.out, start)
        if start == 0 and 0 in self.eval_steps:
            self._evaluate(0)

    def _evaluate(self, step):
        # Mean of each window's mean loss over the first `windows` held-out windows (window i =
        # held-out tokens [i*L, i*L + L + 1)), as glassbox evaluates; every rank runs the same
        # forwards (FSDP gathers the shards collectively).
        model = self.trainer.train_module.model
        model.eval()
        total = 0.0
        with torch.no_grad():
            for i in range(self.windows):
                w = torch.from_numpy(self.heldout[i * self.L: i * self.L + self.L + 1].astype(np.int64))[None]
                logits = model(w[:, :-1].to(self.trainer.device))
                total += F.cross_entropy(logits.reshape(-1, logits.size(-1)).float(),
                                         w[:, 1:].reshape(-1).to(logits.device)).item()
        model.train()
        if self.eval_log is not None:
            self.eval_log.write(json.dumps({"step": step, "loss": total / self.windows}) + "\n")
            self.eval_log.flush()

    def log_metrics(self, step, metrics):
        if self.train_log is not None and "train/CE loss" in metrics:
            lr = next((v for k, v in metrics.items() if k.startswith("optim/LR")), None)
            self.train_log.write(json.dumps({
                "step": step, "loss": float(metrics["train/CE loss"]), "lr": lr,
                "grad_norm": metrics.get("optim/total grad norm"), "elapsed_s": time.time() - self.t0,
            }) + "\n")
            self.train_log.flush()

    def post_step(self):
        if self.step in self.eval_steps:
            self._evaluate(self.step)


def main():
    args = arguments(__doc__).parse_args()

    exp, out = Path(args.export).resolve(), Path(args.out).resolve()
    rec = export_record(exp, "olmo-core")
    prepare_training_environment(seed=0, backend=args.backend)
    torch.set_num_threads(args.threads)
    B, L, T = rec["batch_size"], rec["seq_len"], rec["total_steps"]
    cfg_dir = exp / "olmo_core"

    model = TransformerConfig.from_file(cfg_dir / "model.json").build(init_device="cpu")
    dataset_cfg = NumpyFSLDatasetConfig.from_file(cfg_dir / "dataset.json")
    dataset_cfg.paths = [str(exp / p) for p in dataset_cfg.paths]
    dataset_cfg.work_dir = str(out / "olmo-core-work")
    dataset = dataset_cfg.build()
    if len(dataset) != rec["positions"]:
        raise SystemExit(f"{exp / 'data'}: {len(dataset)} instances, export.json records {rec['positions']}")
    loader = NumpyDataLoaderBase.wrap_numpy_dataset(
        dataset, global_batch_size=B * (L + 1),
        collator=DataCollator(pad_token_id=dataset.pad_token_id, vocab_size=dataset.vocab_size),
        work_dir=dataset.work_dir, dp_world_size=get_world_size(), dp_rank=get_rank(),
        fs_local_rank=get_fs_local_rank(), seed=0, shuffle=False,
        target_device_type="cuda" if args.backend == "nccl" else "cpu",
    )

    module_cfg = TransformerTrainModuleConfig.from_file(cfg_dir / "train_module.json")
    module_cfg.scheduler = ExportedSchedule(table=tuple(rec["lr_schedule"]))
    train_module = module_cfg.build(model)
    # The exported step-0 weights replace OLMo-core's own initialisation (the model is sharded by now).
    set_model_state_dict(train_module.model, load_file(cfg_dir / "model.safetensors"),
                         options=StateDictOptions(full_state_dict=True, strict=True))

    heldout_tokens, windows = heldout(exp, rec)
    steps = T if args.max_steps is None else min(T, args.max_steps)
    save_folder = out / "olmo-core"
    trainer = TrainerConfig(
        save_folder=str(save_folder), work_dir=str(out / "olmo-core-work"), save_overwrite=True,
        max_duration=Duration.steps(steps), metrics_collect_interval=1, cancel_check_interval=1_000_000,
        async_bookkeeping=False,
    ).with_callback(
        "checkpointer", ListCheckpointerCallback(save_steps=[s for s in rec["checkpoint_steps"] if 0 < s <= steps],
                                                 save_async=False, ephemeral_save_interval=None,
                                                 # No pre-train checkpoint: saving an optimiser that has
                                                 # no state yet makes torch's distributed checkpoint take a
                                                 # zero-gradient step, which advances AdamW's step count and
                                                 # changes the bias correction of every later step. Step 0
                                                 # is the exported weights (copied below).
                                                 pre_train_checkpoint=False),
    ).with_callback(
        "glassbox_logs", GlassboxLogs(out, heldout_tokens, L, windows, [s for s in rec["eval_steps"] if s <= steps]),
    ).build(train_module, loader)
    trainer.fit()
    rank, world = get_rank(), get_world_size()
    # unshard_checkpoint runs outside the process group.
    teardown_training_environment()

    if rank == 0:
        # Unshard each saved checkpoint with OLMo-core's own reader of its checkpoint format.
        if 0 in rec["checkpoint_steps"]:
            step0 = out / "checkpoints" / "step-0000000"
            step0.mkdir(parents=True, exist_ok=True)
            shutil.copy(cfg_dir / "model.safetensors", step0 / "model.safetensors")
            shutil.copy(cfg_dir / "model.json", step0 / "model.json")
        for d in sorted(save_folder.glob("step*")):
            step = int(d.name[len("step"):])
            if step not in rec["checkpoint_steps"]:
                continue
            target = out / "checkpoints" / f"step-{step:07d}"
            unshard_checkpoint(d / "model_and_optim", target, optim=False, use_safetensors=True,
                               save_overwrite=True, quiet=True)
            shutil.copy(cfg_dir / "model.json", target / "model.json")
        (out / "engine.json").write_text(json.dumps({
            "schema_version": 1, "engine": "olmo-core", "olmo_core": OLMO_CORE_VERSION,
            "torch": torch.__version__, "world_size": world, "backend": args.backend,
            "export_recipe_sha256": rec["recipe_sha256"], "steps": steps,
        }, indent=1) + "\n")


if __name__ == "__main__":
    main()
