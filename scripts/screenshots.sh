#!/usr/bin/env bash
# Headless-Chromium screenshots of the Airflow UI (logged in as a named user) into
# <lake>/_reports/screenshots/, each checked for a complete render (no failed stylesheet, script, image or
# font load; styled; not blank). Uses the Airflow that `siskin airflow` serves for this lake, or starts one.
#   bash scripts/screenshots.sh [--lake LAKE] [--out DIR] [--night N  (also the night report and Data Docs)]
# Needs Debian's chromium (apt-get install -y chromium). Exit status 1 when a page did not render.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v chromium >/dev/null && ! command -v chromium-browser >/dev/null; then
  echo "screenshots.sh: no Chromium; install it with: apt-get install -y chromium" >&2
  exit 2
fi
exec .venv/bin/python -m siskin.orchestration.ui_screens "$@"
