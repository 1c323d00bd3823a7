#!/usr/bin/env bash
# Sets up .venv with the test dependencies (and Debian's redis-server and
# postgresql when missing, for the lock tests' throwaway servers), then runs
# ruff, mypy --strict, the strict documentation build and pytest. Extra
# arguments go to pytest.
# REPEATING_SKIP_SERVER_TESTS=1 skips the tests that need those servers
# instead of failing them.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v redis-server >/dev/null || missing+=(redis-server)
command -v initdb >/dev/null || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 \
    || missing+=(postgresql)
if [ ${#missing[@]} -gt 0 ] && [ "${REPEATING_SKIP_SERVER_TESTS:-}" != 1 ]; then
    sudo=""
    [ "$(id -u)" = 0 ] || sudo="sudo"
    echo "installing ${missing[*]} for the lock tests"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check \
    --config-settings editable_mode=compat -e '.[test]'
.venv/bin/ruff format --check .
.venv/bin/ruff check .
.venv/bin/mypy
# Strict: a broken link, a missing page or an undocumented public name fails.
NO_MKDOCS_2_WARNING=1 .venv/bin/mkdocs build --strict --quiet --site-dir "$(mktemp -d)"
.venv/bin/python -m pytest "$@"
