#!/usr/bin/env bash
# One command from a fresh clone to a full test run: set-up, lint, every test for the three frameworks.
# A test skipped for any reason (a missing framework, say) fails the run (CNNVIS_STRICT=1).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-env.sh
.venv/bin/ruff check visualization tests bench examples scripts notebooks
CNNVIS_STRICT=1 MPLBACKEND=Agg .venv/bin/python -m pytest "$@"
