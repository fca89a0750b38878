#!/usr/bin/env bash
# One command from a fresh clone to the main job's output: set-up, then the quick start on the
# embedded default, writing figures to out/quickstart/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-env.sh
MPLBACKEND=Agg .venv/bin/python examples/quickstart_pytorch.py --out out/quickstart "$@"
