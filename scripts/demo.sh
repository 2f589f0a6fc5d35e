#!/usr/bin/env bash
# One command: set up this machine, then run the main job on the embedded default
# (embedded Kafka-compatible broker, a simulated night, bronze -> silver -> gold under lake/).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PYSPARK_PYTHON="$PWD/.venv/bin/python"
exec .venv/bin/siskin demo "$@"
