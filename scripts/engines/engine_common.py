"""What the exported launchers (train_fsdp.py, train_olmo_core.py, train_megatron.py) share:
their command line, export.json, the held-out windows, the logs of a relaunch, and the marker
of the newest state a relaunch continues from. Shipped beside the launcher in every export."""

import argparse
import json
import shutil
from pathlib import Path

import numpy as np


def arguments(doc: str) -> argparse.ArgumentParser:
    """The options every launcher takes (launch.sh passes them)."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--export", required=True, help="the directory glassbox export-run wrote")
    ap.add_argument("--out", required=True, help="where checkpoints and logs go")
    ap.add_argument("--backend", default="gloo", choices=["gloo", "nccl"])
    ap.add_argument("--threads", type=int, default=1, help="torch threads per process")
    ap.add_argument("--max-steps", type=int, default=None, help="stop after this many steps")
    return ap


def export_record(exp: Path, engine: str) -> dict:
    """export.json, refused unless it is an export for `engine` of schema_version 1."""
    rec = json.loads((exp / "export.json").read_text())
    if rec.get("schema_version") != 1 or rec.get("engine") != engine:
        raise SystemExit(f"{exp / 'export.json'}: not a {engine} export of schema_version 1")
    return rec


def heldout(exp: Path, rec: dict):
    """The held-out split and how many of its windows (window i = tokens [i*L, i*L + L + 1))
    an evaluation averages, as glassbox evaluates."""
    tokens = np.fromfile(exp / "data" / "heldout.bin", dtype="<u4")
    return tokens, min(rec["eval_windows"], max(len(tokens) - 1, 0) // rec["seq_len"])


def reopen_logs(out: Path, start: int):
    """logs/train.jsonl and logs/eval.jsonl opened to append after step `start`: lines past it
    belong to an interrupted launch and are written again."""
    (out / "logs").mkdir(parents=True, exist_ok=True)
    files = []
    for name in ("train.jsonl", "eval.jsonl"):
        f = out / "logs" / name
        kept = [l for l in (f.read_text().splitlines() if f.exists() else [])
                if json.loads(l)["step"] <= start]
        f.write_text("".join(l + "\n" for l in kept))
        files.append(open(f, "a"))
    return files


def resume_step(resume_dir: Path) -> int:
    """The newest step a relaunch continues from (0: none)."""
    latest = resume_dir / "latest"
    return int(latest.read_text()) if latest.exists() else 0


def mark_latest(resume_dir: Path, step: int):
    """Once `resume_dir/step-NNNNNNN` is complete: it becomes the newest, the older ones go."""
    (resume_dir / "latest.tmp").write_text(str(step))
    (resume_dir / "latest.tmp").replace(resume_dir / "latest")
    for old in resume_dir.glob("step-*"):
        if old.name != f"step-{step:07d}":
            shutil.rmtree(old, ignore_errors=True)
