#!/bin/sh
# Runs uv, installing it with pip first when the machine does not have it.
# Usage: scripts/uv.sh ARGS...   (what the Makefile calls for every uv command)
set -eu
if command -v uv >/dev/null 2>&1; then
  exec uv "$@"
fi
if python3 -m uv --version >/dev/null 2>&1; then
  exec python3 -m uv "$@"
fi
echo "uv not found: installing it with pip" >&2
python3 -m pip install --quiet --user uv 2>/dev/null \
  || python3 -m pip install --quiet --user --break-system-packages uv 2>/dev/null \
  || python3 -m pip install --quiet uv
exec python3 -m uv "$@"
