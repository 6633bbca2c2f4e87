#!/usr/bin/env bash
# Set up (see install.sh) and run the main job: `jobtag demo` on a synthetic job board.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
exec .venv/bin/jobtag demo "$@"
