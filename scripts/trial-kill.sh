#!/usr/bin/env bash
# Crash trials: SIGKILL `glassbox train`, `glassbox data tokenize` and `glassbox release` at
# random moments, resume or rerun, and check that the end result is byte-identical to an
# uninterrupted run and that no half-written output ever looks complete.
#
#   scripts/trial-kill.sh [TRIALS] [GLASSBOX]        # defaults: 50, target/release/glassbox
#
# Training: the parity recipe of tests/fixtures/train (tiny Llama, 40 steps, Pythia-style
# checkpoints); each trial starts a run, kills it after a random delay within the uninterrupted
# run's duration, then runs `glassbox train --resume` until it finishes, and compares the SHA-256
# of the final weights with the uninterrupted run's. Tokenize and release: killed the same way,
# then the output is checked (it must be absent or complete and verifiable) and the command rerun.
# Prints one line per trial and a summary table (trials, survived, steps redone).
set -euo pipefail
cd "$(dirname "$0")/.."
TRIALS="${1:-50}"
GB="${2:-target/release/glassbox}"
[ -x "$GB" ] || { echo "trial-kill: $GB not found; build it with cargo build --release -p glassbox-cli" >&2; exit 2; }
GB="$(cd "$(dirname "$GB")" && pwd)/$(basename "$GB")"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp -r tests/fixtures/train/dataset "$work/dataset"
sed 's/^steps = 20$/steps = 40/' tests/fixtures/train/recipe.toml > "$work/recipe.toml"
sha() { sha256sum "$1" | cut -d' ' -f1; }
now() { date +%s.%N; }
minus() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a - b }'; }
final="checkpoints/step-0000040/model.safetensors"

# The uninterrupted reference.
t0=$(now)
"$GB" --threads 2 train "$work/recipe.toml" --out "$work/ref" >/dev/null 2>&1
t1=$(now)
ref_sha=$(sha "$work/ref/$final")
dur=$(minus "$t1" "$t0")
echo "reference: 40 steps in ${dur}s, final weights $ref_sha"

train_ok=0; train_redone=0
for i in $(seq 1 "$TRIALS"); do
  run="$work/run-$i"
  delay=$(awk -v d="$dur" -v s="$RANDOM" 'BEGIN { srand(s); printf "%.3f", rand() * d }')
  "$GB" --threads 2 train "$work/recipe.toml" --out "$run" >/dev/null 2>&1 &
  pid=$!
  sleep "$delay"
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  # Work lost: steps logged before the kill beyond the last checkpoint that survived.
  logged=$(grep -c '"step"' "$run/logs/train.jsonl" 2>/dev/null || true)
  ck=$( (ls "$run/checkpoints" 2>/dev/null || true) | sed -n 's/^step-0*\([0-9][0-9]*\)$/\1/p' | sort -n | tail -1)
  redone=$(( ${logged:-0} > ${ck:-0} ? ${logged:-0} - ${ck:-0} : 0 ))
  train_redone=$((train_redone + redone))
  tries=0
  while [ ! -f "$run/$final" ] && [ "$tries" -lt 3 ]; do
    tries=$((tries + 1))
    if [ ! -f "$run/recipe.toml" ]; then
      # Killed before the run directory held its recipe: start again, as a user would.
      rm -rf "$run"
      "$GB" --threads 2 train "$work/recipe.toml" --out "$run" >/dev/null 2>&1 || true
    else
      "$GB" --threads 2 train --resume "$run" >/dev/null 2>&1 || true
    fi
  done
  got=$( [ -f "$run/$final" ] && sha "$run/$final" || echo missing)
  if [ "$got" = "$ref_sha" ]; then
    train_ok=$((train_ok + 1)); status=ok
  else
    status="MISMATCH ($got)"
  fi
  echo "train trial $i: killed after ${delay}s at step ${logged:-0} (last checkpoint ${ck:-none}), resumed: $status, steps redone: $redone"
  rm -rf "$run"
done

# Tokenize: the output directory must be absent or complete (its manifest verifies) after a kill.
tok_ok=0; tok_trials=$TRIALS
curated="$work/curated"
mkdir -p "$work/corpus"
head -c 2000000 target/corpora/en_web.txt > "$work/corpus/web.txt" 2>/dev/null || cp tests/fixtures/corpora/README.md "$work/corpus/web.txt"
printf '[[source]]\nname = "web"\npath = "corpus/web.txt"\nlicense = "public-domain"\nsplit = "line"\npack_words = 200\n' > "$work/sources.toml"
"$GB" data curate --config "$work/sources.toml" --out "$curated" >/dev/null 2>&1
"$GB" data tokenizer train --input "$curated" --vocab-size 512 --out "$work/tok.json" >/dev/null 2>&1
t0=$(now); "$GB" data tokenize --input "$curated" --tokenizer "$work/tok.json" --out "$work/ds-ref" >/dev/null 2>&1; t1=$(now)
tdur=$(minus "$t1" "$t0")
ds_sha=$(sha "$work/ds-ref/manifest.json")
for i in $(seq 1 "$tok_trials"); do
  out="$work/ds-$i"
  delay=$(awk -v d="$tdur" -v s="$RANDOM" 'BEGIN { srand(s); printf "%.3f", rand() * d }')
  "$GB" data tokenize --input "$curated" --tokenizer "$work/tok.json" --out "$out" >/dev/null 2>&1 &
  pid=$!; sleep "$delay"; kill -9 "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true
  state=absent
  if [ -e "$out/manifest.json" ]; then
    # Complete-looking output must be the real thing.
    [ "$(sha "$out/manifest.json")" = "$ds_sha" ] && state=complete || state=CORRUPT
  fi
  rm -rf "$out"
  "$GB" data tokenize --input "$curated" --tokenizer "$work/tok.json" --out "$out" >/dev/null 2>&1
  if [ "$state" != CORRUPT ] && [ "$(sha "$out/manifest.json")" = "$ds_sha" ]; then tok_ok=$((tok_ok + 1)); fi
  echo "tokenize trial $i: killed after ${delay}s, output was $state, rerun identical: $([ "$(sha "$out/manifest.json")" = "$ds_sha" ] && echo yes || echo NO)"
  rm -rf "$out"
done

# Release: the bundle directory must be absent or verify after a kill.
rel_ok=0; rel_trials=$tok_trials
t0=$(now); "$GB" release "$work/ref" --out "$work/bundle-ref" >/dev/null 2>&1; t1=$(now)
rdur=$(minus "$t1" "$t0")
for i in $(seq 1 "$rel_trials"); do
  out="$work/bundle-$i"
  delay=$(awk -v d="$rdur" -v s="$RANDOM" 'BEGIN { srand(s); printf "%.3f", rand() * d }')
  "$GB" release "$work/ref" --out "$out" >/dev/null 2>&1 &
  pid=$!; sleep "$delay"; kill -9 "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true
  state=absent
  if [ -e "$out" ]; then
    "$GB" verify "$out" --no-data --no-replay --no-record >/dev/null 2>&1 && state=complete || state=CORRUPT
  fi
  [ "$state" != CORRUPT ] && rel_ok=$((rel_ok + 1))
  echo "release trial $i: killed after ${delay}s, bundle was $state"
  rm -rf "$out"
done

# A full disk and a read-only directory (needs root for tmpfs mounts; skipped otherwise). The run
# must stop with an error that says what happened, keep its last good checkpoint, and finish
# identically once space or write access is back.
disk_rows=()
disk_ok=1
mnt="$work/mnt"
mkdir -p "$mnt"
if [ "$(id -u)" -eq 0 ] && mount -t tmpfs -o size=5m tmpfs "$mnt" 2>/dev/null; then
  trap 'umount "$mnt" 2>/dev/null || true; rm -rf "$work"' EXIT
  err=$("$GB" --threads 2 train "$work/recipe.toml" --out "$mnt/run" 2>&1 >/dev/null | tail -1 || true)
  kept=$( (ls "$mnt/run/checkpoints" 2>/dev/null || true) | grep -c '^step-' || true)
  mount -o remount,size=64m "$mnt"
  "$GB" --threads 2 train --resume "$mnt/run" >/dev/null 2>&1 || true
  got=$( [ -f "$mnt/run/$final" ] && sha "$mnt/run/$final" || echo missing)
  [ "$got" = "$ref_sha" ] && full=ok || { full="MISMATCH ($got)"; disk_ok=0; }
  case "$err" in *"No space left"*|*"space"*) ;; *) disk_ok=0 ;; esac
  echo "full disk (5 MiB): train stopped with: $err"
  echo "full disk: $kept checkpoints kept; after space was freed, --resume: $full"
  disk_rows+=("| full disk (5 MiB tmpfs), then space freed | 1 | $([ "$full" = ok ] && echo 1 || echo 0) | — |")
  # Read-only: stop a run part-way, make its directory read-only, resume, then allow writes.
  rm -rf "${mnt:?}/run"
  "$GB" --threads 2 train "$work/recipe.toml" --out "$mnt/run" --stop-after 10 >/dev/null 2>&1
  mount -o remount,ro "$mnt"
  err=$("$GB" --threads 2 train --resume "$mnt/run" 2>&1 >/dev/null | tail -1 || true)
  mount -o remount,rw "$mnt"
  "$GB" --threads 2 train --resume "$mnt/run" >/dev/null 2>&1 || true
  got=$( [ -f "$mnt/run/$final" ] && sha "$mnt/run/$final" || echo missing)
  [ "$got" = "$ref_sha" ] && ro=ok || { ro="MISMATCH ($got)"; disk_ok=0; }
  case "$err" in *"Read-only"*|*"read-only"*) ;; *) disk_ok=0 ;; esac
  echo "read-only directory: --resume stopped with: $err"
  echo "read-only directory: after writes were allowed, --resume: $ro"
  disk_rows+=("| read-only run directory, then writable | 1 | $([ "$ro" = ok ] && echo 1 || echo 0) | — |")
  umount "$mnt"
else
  echo "full disk and read-only trials skipped (they need root to mount a tmpfs)"
fi

echo
echo "| command | trials | survived | steps redone |"
echo "|---|---|---|---|"
echo "| train (SIGKILL, then --resume) | $TRIALS | $train_ok | $train_redone |"
echo "| data tokenize (SIGKILL, then rerun) | $tok_trials | $tok_ok | — |"
echo "| release (SIGKILL; bundle absent or verifying) | $rel_trials | $rel_ok | — |"
for r in "${disk_rows[@]}"; do echo "$r"; done
[ "$train_ok" -eq "$TRIALS" ] && [ "$tok_ok" -eq "$tok_trials" ] && [ "$rel_ok" -eq "$rel_trials" ] && [ "$disk_ok" -eq 1 ]
