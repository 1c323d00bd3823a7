#!/usr/bin/env bash
# Sets up .venv-bench with repeating and its peers (fastapi-utils, APScheduler 3),
# then runs every benchmark case; extra arguments go to benchmarks/run.py.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv-bench/bin/python ] || python3 -m venv .venv-bench
.venv-bench/bin/python -m pip install --quiet --disable-pip-version-check \
    --config-settings editable_mode=compat -e '.[bench]'
exec .venv-bench/bin/python benchmarks/run.py "$@"
