#!/usr/bin/env bash
# The whole test suite, as CI runs it: lint, types, then unit + integration + fault tests
# against real Dovecot servers started by the fixtures.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --profile test || { echo "test: setup failed" >&2; exit 1; }

status=0
.venv/bin/ruff check pecsync tests lab || status=1
.venv/bin/mypy pecsync || status=1
.venv/bin/python -m pytest "$@"
rc=$?
if [ "$rc" -eq 5 ]; then
  echo "test: pytest collected no tests — that is a failure here" >&2
  rc=1
fi
[ "$rc" -ne 0 ] && status=$rc
exit $status
