#!/usr/bin/env bash
# Render a report page the way an order's secretary sees it: headless Chromium to PNG.
# Usage: scripts/screenshot_report.sh demo-run/report/index.html [out.png]
# Needs Debian's chromium package (apt-get install chromium); not part of the test suite.
set -euo pipefail
page=$(realpath "$1")
out=${2:-${page%.html}.png}
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --user-data-dir="$profile" --hide-scrollbars --window-size=1200,1900 \
  --screenshot="$out" "file://$page" >/dev/null 2>&1
echo "wrote $out"
