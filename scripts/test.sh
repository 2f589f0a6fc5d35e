#!/usr/bin/env bash
# Run the tests (set-up included). Default: everything but the slow end-to-end tests;
# `scripts/test.sh -m slow` runs those; extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PYSPARK_PYTHON="$PWD/.venv/bin/python"
if [ $# -eq 0 ]; then set -- -m "not slow"; fi
.venv/bin/ruff check siskin tests jobs
.venv/bin/mypy siskin
exec .venv/bin/python -m pytest "$@"
