#!/usr/bin/env bash
# Sets up .venv with the documentation tools, then serves the site on
# http://127.0.0.1:8001, rebuilding it when a page changes.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check \
    --config-settings editable_mode=compat -e '.[docs]'
NO_MKDOCS_2_WARNING=1 exec .venv/bin/mkdocs serve --dev-addr 127.0.0.1:8001
