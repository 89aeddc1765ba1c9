#!/usr/bin/env bash
# The README's first command: install what the demo needs (Dovecot's IMAP server from apt, and
# pecsync into ./.venv; nothing of PostgreSQL, Cyrus or chromium) and run the demo migration.
# Options are passed to scripts/demo.py (--keep leaves the servers and the member page up).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --profile demo
exec .venv/bin/python scripts/demo.py "$@"
