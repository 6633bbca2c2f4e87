#!/usr/bin/env bash
# Set up (see install.sh), lint, and run the whole test-suite (slow tests included).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
. .venv/bin/activate
ruff check .
ruff format --check .
lint-imports
set +e
python -m pytest -q "$@"
rc=$?
set -e
# pytest exits 5 when no test ran: that is a failure here too.
exit $rc
