#!/usr/bin/env bash
# The browser example's test (test/browser.test.mjs), with what it needs:
# Chromium (Debian's package, installed with apt-get when `chromium` is
# missing; sudo only when not root) and playwright-core (npm ci here). It
# expects the transpiled bindings in bindings/js/gen, which
# scripts/test-bindings.sh builds before it calls this. $CHROMIUM names
# another Chromium binary and skips the install.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

if [ -z "${CHROMIUM:-}" ]; then
  if ! command -v chromium >/dev/null; then
    if ! command -v apt-get >/dev/null; then
      echo "web test: Chromium is missing and there is no apt-get to install it; install Chromium and set CHROMIUM=/path/to/chromium" >&2
      exit 1
    fi
    sudo=()
    if [ "$(id -u)" -ne 0 ]; then
      if ! command -v sudo >/dev/null; then
        echo "web test: Chromium is missing; installing it needs root or sudo (apt-get install -y chromium), or set CHROMIUM=/path/to/chromium" >&2
        exit 1
      fi
      sudo=(sudo)
    fi
    echo "== apt-get install chromium"
    "${sudo[@]}" apt-get update -qq
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium
  fi
  CHROMIUM="$(command -v chromium)"
fi
export CHROMIUM
"$CHROMIUM" --version

if ! cmp -s package-lock.json node_modules/.wasmad-lock; then
  echo "== npm ci (examples/web)"
  npm ci --no-audit --no-fund
  cp package-lock.json node_modules/.wasmad-lock
fi

echo "== node --test (examples/web, headless Chromium)"
node --test test/*.test.mjs
