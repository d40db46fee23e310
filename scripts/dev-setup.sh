#!/usr/bin/env bash
# Installs what building and testing glassbox needs on a fresh Debian/Ubuntu machine, and nothing
# when it is already there: a C compiler (the tokenizers crate builds the Oniguruma regex library)
# OpenSSL headers for the Hub client, and a Rust toolchain with rustfmt and clippy (via rustup).
set -euo pipefail

need_apt=()
command -v cc >/dev/null 2>&1 || need_apt+=(build-essential)
command -v curl >/dev/null 2>&1 || need_apt+=(curl ca-certificates)
# The Hub client links the system's OpenSSL (native-tls): headers and pkg-config to find them.
command -v pkg-config >/dev/null 2>&1 || need_apt+=(pkg-config)
[ -f /usr/include/openssl/ssl.h ] || need_apt+=(libssl-dev)
if [ ${#need_apt[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "dev-setup: installing ${need_apt[*]} with apt-get" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null 2>&1; then
  if [ -x "$HOME/.cargo/bin/cargo" ]; then
    echo "dev-setup: cargo is in ~/.cargo/bin; run: source \"\$HOME/.cargo/env\"" >&2
  else
    echo "dev-setup: installing Rust with rustup" >&2
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal -c rustfmt,clippy
  fi
  # shellcheck disable=SC1091
  . "$HOME/.cargo/env"
fi
if command -v rustup >/dev/null 2>&1; then
  rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt clippy >/dev/null 2>&1 || true
fi

# The official `openai` Python client, for the server's client tests (crates/glassbox-cli/tests/
# serve.rs), installed into target/pydeps (never into the system's Python).
pydeps="$(cd "$(dirname "$0")/.." && pwd)/target/pydeps"
if ! command -v python3 >/dev/null 2>&1 || ! python3 -m pip --version >/dev/null 2>&1; then
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "dev-setup: installing python3 and pip with apt-get" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq python3 python3-pip >/dev/null
fi
if ! PYTHONPATH="$pydeps" python3 -c "import openai" >/dev/null 2>&1; then
  echo "dev-setup: installing the openai Python client into $pydeps" >&2
  python3 -m pip install --quiet --disable-pip-version-check --target "$pydeps" "openai>=1.40" 2>/dev/null \
    || python3 -m pip install --quiet --disable-pip-version-check --break-system-packages --target "$pydeps" "openai>=1.40"
fi
