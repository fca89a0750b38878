#!/usr/bin/env bash
# One command from a fresh clone to the main job's output: set-up, then `cnnvis demo` on the
# embedded default (pretrained EfficientNet-Lite0, four bundled CC0 photos, both frameworks),
# writing out/demo/report.html. Extra arguments go to `cnnvis demo` and win over the defaults here
# (e.g. --framework torch, or --framework all to add Keras and compare the three frameworks).
set -euo pipefail
cd "$(dirname "$0")/.."
CNNVIS_SKIP_BROWSER=1 bash scripts/setup-env.sh
MPLBACKEND=Agg .venv/bin/cnnvis demo --framework both --out out/demo --force "$@"
