#!/usr/bin/env bash
# Creates, once per machine, the virtual environment of the ml/ project (its pinned
# dependencies from ml/pyproject.toml) and prints the path of its python. Idempotent; a
# change of ml/ reinstalls it.
set -euo pipefail
cd "$(dirname "$0")/.."
cache=${GENIMS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/genims}
venv="$cache/ml"
python="$venv/bin/python"
stamp=$(cat ml/pyproject.toml ml/genims_ml/*.py | sha256sum | cut -c1-16)
if [ -x "$python" ] && [ "$(cat "$venv/genims-ml-stamp" 2>/dev/null)" = "$stamp" ]; then
  echo "$python"
  exit 0
fi
echo "ensure-ml: installing ml/ into $venv (once per change of ml/)" >&2
[ -x "$python" ] || python3 -m venv "$venv" >&2
"$venv/bin/pip" install --quiet --disable-pip-version-check ./ml >&2
echo "$stamp" > "$venv/genims-ml-stamp"
echo "$python"
