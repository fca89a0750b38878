#!/usr/bin/env bash
# Create (or reuse) .venv and install the project with both frameworks and the test tools.
# Used by scripts/test.sh and scripts/demo.sh; safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
# The report's browser test drives Debian's Chromium (never a browser that playwright downloads).
if [ "${CNNVIS_SKIP_BROWSER:-0}" != "1" ] && ! command -v chromium >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" = "0" ] || SUDO="sudo"
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi
# torch is pinned: 2.13.0 is the CPU wheel; an unpinned torch pulls a ~5 GB CUDA build. The three
# frameworks (and protobuf / numpy) are pinned together at versions checked to resolve and to run in
# one process (import paddle before tensorflow there).
.venv/bin/python -m pip install --quiet --disable-pip-version-check \
  "torch==2.13.0" "paddlepaddle==3.3.1" "tensorflow-cpu==2.21.0" "keras==3.15.1" -e ".[test]"
