#!/usr/bin/env bash
# Headless Chromium from Debian for the console's browser tests (tests/console/).
# Idempotent: does nothing when chromium is installed; `apt-get update` only when the package
# lists do not know chromium yet. Never downloads a browser build (no `playwright install`).
set -euo pipefail

if command -v chromium >/dev/null 2>&1; then
  exit 0
fi
if [[ $(id -u) -ne 0 ]] && ! command -v sudo >/dev/null 2>&1; then
  echo "install-browser: chromium is missing and this user cannot run apt-get; install the Debian package 'chromium'." >&2
  exit 1
fi
SUDO=""
[[ $(id -u) -ne 0 ]] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
if ! apt-cache policy chromium 2>/dev/null | grep -q 'Candidate: [0-9]'; then
  $SUDO apt-get update -qq || true
fi
if ! $SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null; then
  echo "install-browser: could not install the Debian package 'chromium' (apt-get install -y chromium failed); the browser tests need it." >&2
  exit 1
fi
