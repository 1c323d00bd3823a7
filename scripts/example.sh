#!/usr/bin/env bash
# Sets up .venv with the example's dependencies, then runs examples/token_cleanup.py.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check --config-settings editable_mode=compat -e '.[examples]'
exec .venv/bin/python examples/token_cleanup.py
