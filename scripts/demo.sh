#!/usr/bin/env bash
# Set up (Dovecot from apt, pecsync in ./.venv) and run the demo migration.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python scripts/demo.py
