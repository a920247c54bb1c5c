#!/usr/bin/env bash
# Creates .venv in the repository root with the pinned Python packages the Python tests need:
# numpy only (never torch). Idempotent and quick when .venv already has them. Never fails the
# caller: when the venv cannot be made (no python3, no network) it says so, removes a half-made
# .venv, and ctest then uses a system python3 with numpy or reports Python tests as SKIPPED.
set -uo pipefail
cd "$(dirname "$0")/.."

NUMPY_VERSION=2.2.6
VENV=.venv
PY="$VENV/bin/python3"

ready() {
  [ -x "$PY" ] && "$PY" -c "import numpy, sys; sys.exit(numpy.__version__ != '$NUMPY_VERSION')" 2>/dev/null
}

if ready; then
  echo "pyenv: $VENV ready (numpy $NUMPY_VERSION)"
  exit 0
fi

give_up() {
  echo "pyenv: WARNING: $1; Python tests use a system python3 with numpy or are SKIPPED" >&2
  [ "${made_venv:-0}" = 1 ] && rm -rf "$VENV"
  exit 0
}

command -v python3 >/dev/null 2>&1 || give_up "python3 not found"

# Debian/Ubuntu ship venv + ensurepip separately (python3-venv); install it like tools/deps.sh does.
if ! python3 -c "import venv, ensurepip" >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1; then
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    echo "pyenv: installing python3-venv"
    { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends python3-venv; } ||
      give_up "cannot install python3-venv"
  else
    give_up "python3 has no venv/ensurepip module"
  fi
fi

made_venv=1
[ -x "$PY" ] || python3 -m venv "$VENV" || give_up "python3 -m venv $VENV failed"
echo "pyenv: installing numpy==$NUMPY_VERSION into $VENV"
"$PY" -m pip install --disable-pip-version-check --no-input -q "numpy==$NUMPY_VERSION" ||
  give_up "pip install numpy==$NUMPY_VERSION failed (offline?)"
ready || give_up "numpy $NUMPY_VERSION not importable from $PY"
echo "pyenv: $VENV ready (numpy $NUMPY_VERSION)"
