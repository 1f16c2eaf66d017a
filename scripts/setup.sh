#!/usr/bin/env bash
# Sets up a fresh Linux machine for VAF Bridge: system build tools, a virtual
# environment in .venv, the native core and every Python dependency.
# Idempotent: a second run only reinstalls the package.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v cmake >/dev/null || need+=(cmake)
command -v c++ >/dev/null || need+=(g++)
command -v cc >/dev/null || need+=(gcc)
command -v make >/dev/null || need+=(make)
python3 -c 'import venv, ensurepip' 2>/dev/null || need+=(python3-venv)
if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing system packages: ${need[*]}"
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${need[@]}"
fi

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  python3 -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip
fi

echo "setup: building the native core and installing vaf-bridge[dev] (editable)"
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".[dev]"
.venv/bin/python -c "import vaf._native as n; print('setup: native core', n.version(), 'ready')"
