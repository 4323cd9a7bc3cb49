#!/usr/bin/env bash
# The Python client's checks and tests, against a real Paybound:
#   bash clients/python/scripts/test.sh [pytest arguments]
#
# Finds a Python 3.10 or later (or $PYTHON), makes a virtual environment in .cache/ at the
# repository root with the package and its test extras (reused while pyproject.toml is
# unchanged), builds the TypeScript side (the tests start libs/devnet/stack-cli.ts), then
# runs ruff, mypy --strict and pytest. Without a Python 3.10 or later it says so and
# exits 0, so that `npm test` and CI run the rest.
set -euo pipefail

client_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
repo_root=$(cd "$client_dir/../.." && pwd)

python=""
for candidate in "${PYTHON:-}" python3 python3.13 python3.12 python3.11 python3.10 python; do
  [ -n "$candidate" ] || continue
  if command -v "$candidate" >/dev/null 2>&1 \
    && "$candidate" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)' >/dev/null 2>&1; then
    python=$candidate
    break
  fi
done
if [ -z "$python" ]; then
  echo "Python client tests: SKIPPED, no Python 3.10 or later on this machine (set PYTHON=/path/to/python3.x to use one)."
  exit 0
fi

venv="$repo_root/.cache/python-client-venv"
stamp="$venv/.installed-from"
wanted="$("$python" -c 'import sys; print(sys.version.split()[0])') $(sha256sum "$client_dir/pyproject.toml" | cut -d' ' -f1)"
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
  echo "Python client tests: installing the package with its test extras into ${venv#"$repo_root"/} ($("$python" --version))"
  rm -rf "$venv"
  if ! "$python" -m venv "$venv"; then
    echo "Python client tests: FAILED, $python cannot make a virtual environment (on Debian: apt-get install python3-venv)." >&2
    exit 1
  fi
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -e "$client_dir[test]"
  echo "$wanted" > "$stamp"
fi

# The session starts dist/libs/devnet/stack-cli.js: built unless it is newer than every
# TypeScript source (as right after `npm test`, which builds first).
stack_cli="$repo_root/dist/libs/devnet/stack-cli.js"
if [ ! -f "$stack_cli" ] \
  || [ -n "$(cd "$repo_root" && find apps libs -name '*.ts' -newer "$stack_cli" -print -quit)" ]; then
  (cd "$repo_root" && npm run build --silent)
fi

cd "$client_dir"
"$venv/bin/ruff" check .
"$venv/bin/ruff" format --check .
"$venv/bin/mypy"
exec "$venv/bin/python" -m pytest "$@"
