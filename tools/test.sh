#!/usr/bin/env bash
# Set up (tools/setup.sh) and run the linters and the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh requirements-dev.txt
.venv/bin/ruff check .
.venv/bin/python -m pytest "$@"
