#!/usr/bin/env bash
# Installs what building and testing glassbox needs on a fresh Debian/Ubuntu machine, and nothing
# when it is already there: a C compiler (the tokenizers crate builds the Oniguruma regex library)
# OpenSSL headers for the Hub client, a Rust toolchain with rustfmt and clippy (via rustup), headless
# Chromium with its WebDriver (browser tests), the `openai` Python client and the test corpora.
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

# Headless Chromium and its WebDriver for the browser tests of the web pages
# (crates/glassbox-cli/tests/ui.rs), from Debian's packages.
if ! command -v chromedriver >/dev/null 2>&1 || ! { command -v chromium >/dev/null 2>&1 \
     || command -v chromium-browser >/dev/null 2>&1; }; then
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "dev-setup: installing chromium and chromium-driver with apt-get" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium chromium-driver >/dev/null
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

# The test corpora: the World English Bible and the Reina-Valera 1909 (public domain), extracted
# from Debian's SWORD modules with diatheke into target/corpora, byte for byte as
# tests/fixtures/corpora/README.md describes (SHA-256 checked). The tests read them from there.
corpora="$(cd "$(dirname "$0")/.." && pwd)/target/corpora"
declare -A want=(
  [en_web.txt]=5bd7275c02c7d9eb5a64cc7665604b7f8c1ae2cad19d58a0583dd052985e44a0
  [es_rv1909.txt]=ff4f56764f5c11e65c8636dfa23649b35e9050e6298a68c740845d0cb0f0ca73
)
have_corpora=1
for f in "${!want[@]}"; do
  [ -f "$corpora/$f" ] && [ "$(sha256sum "$corpora/$f" | cut -d' ' -f1)" = "${want[$f]}" ] || have_corpora=0
done
if [ "$have_corpora" -eq 0 ]; then
  if ! command -v diatheke >/dev/null 2>&1 || ! dpkg -s sword-text-web >/dev/null 2>&1 \
     || ! dpkg -s sword-text-sparv >/dev/null 2>&1; then
    sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    echo "dev-setup: installing diatheke and the SWORD Bible modules with apt-get" >&2
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq diatheke sword-text-web sword-text-sparv >/dev/null
  fi
  mkdir -p "$corpora"
  strip() { sed -E 's/ ?<[GH][0-9]+>//g; s/^ +//; /^\((engWEB2015eb|spaRV1909eb)\)$/d'; }
  echo "dev-setup: extracting the test corpora into $corpora" >&2
  diatheke -b engWEB2015eb -f plain -k "Gen 1:1 - Rev 22:21" | strip > "$corpora/en_web.txt"
  diatheke -b spaRV1909eb -f plain -k "Gen 1:1 - Rev 22:21" | strip > "$corpora/es_rv1909.txt"
  for f in "${!want[@]}"; do
    got="$(sha256sum "$corpora/$f" | cut -d' ' -f1)"
    if [ "$got" != "${want[$f]}" ]; then
      echo "dev-setup: $corpora/$f has SHA-256 $got, expected ${want[$f]} (another diatheke or module version?)" >&2
      exit 1
    fi
  done
fi
