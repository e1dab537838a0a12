#!/usr/bin/env bash
# Set up causalrx on a fresh machine: a virtual environment in .venv with every dependency.
# PyTorch is installed first as the pinned CPU wheel (torch==2.13.0), so that no resolver
# ever pulls a CUDA build; pyproject's torch range is satisfied by it.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3
[ -x .venv/bin/python ] || "$PY" -m venv .venv
FIND_LINKS=()
[ -d /opt/wheels ] && FIND_LINKS=(--find-links /opt/wheels)
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q "${FIND_LINKS[@]}" torch==2.13.0
.venv/bin/python -m pip install -q "${FIND_LINKS[@]}" -e ".[dev]"
.venv/bin/python -c "import torch, causalrx; assert torch.__version__.startswith('2.13.0'), torch.__version__; print('causalrx', causalrx.__version__, '| torch', torch.__version__)"
