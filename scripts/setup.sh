#!/usr/bin/env bash
# Install what pecsync's demo and tests need on a Debian/Ubuntu machine:
# Dovecot from apt (only if missing) and pecsync with its test extras in ./.venv.
set -euo pipefail
cd "$(dirname "$0")/.."

# The IMAP server binary itself, not only the dovecot master: dovecot-core alone (without
# dovecot-imapd) has /usr/sbin/dovecot but no imap, and every lab server would fail to start.
have_imap() {
  { command -v dovecot >/dev/null 2>&1 || [ -x /usr/sbin/dovecot ]; } || return 1
  local dir
  for dir in /usr/lib/dovecot /usr/libexec/dovecot /usr/local/libexec/dovecot; do
    [ -x "$dir/imap" ] && [ -x "$dir/imap-login" ] && return 0
  done
  return 1
}

if ! have_imap; then
  echo "setup: installing dovecot-imapd from apt (the Dovecot IMAP server binary is missing)" >&2
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dovecot-imapd >/dev/null
  # The packaged system service is not needed: pecsync's lab starts its own instances.
  $SUDO systemctl disable --now dovecot >/dev/null 2>&1 || true
  have_imap || { echo "setup: dovecot-imapd installed but no imap binary found" >&2; exit 1; }
fi

# PostgreSQL: the shared state database's tests start private clusters from its binaries.
if [ ! -x /usr/lib/postgresql/15/bin/initdb ] && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  echo "setup: installing postgresql from apt" >&2
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  # The packaged cluster is not needed: tests start their own under a temporary directory.
  $SUDO systemctl disable --now postgresql >/dev/null 2>&1 || true
fi

# Cyrus IMAP 3.6, a second server implementation for the tests.  cyrus-imapd conflicts with
# dovecot-imapd in apt (both provide imap-server), so only cyrus-common (master, ctl_cyrusdb)
# and sasl2-bin (saslpasswd2) are installed; cyrus-imapd's imapd is unpacked with dpkg-deb
# into $CYRUS_DIR (lab/cyrus.py reads it from there, or from $PECSYNC_CYRUS_ROOT).
CYRUS_DIR=${PECSYNC_CYRUS_DIR:-/opt/pecsync-cyrus}
if [ ! -x /usr/lib/cyrus/bin/master ] || ! command -v saslpasswd2 >/dev/null 2>&1; then
  echo "setup: installing cyrus-common and sasl2-bin from apt" >&2
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq cyrus-common sasl2-bin >/dev/null
  $SUDO systemctl disable --now cyrus-imapd >/dev/null 2>&1 || true
fi
if [ ! -x "$CYRUS_DIR/root/usr/lib/cyrus/bin/imapd" ]; then
  echo "setup: unpacking cyrus-imapd into $CYRUS_DIR" >&2
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO mkdir -p "$CYRUS_DIR"
  tmp=$(mktemp -d)
  (cd "$tmp" && apt-get download cyrus-imapd >/dev/null 2>&1) \
    || { $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq \
         && (cd "$tmp" && apt-get download cyrus-imapd >/dev/null); }
  $SUDO dpkg-deb -x "$tmp"/cyrus-imapd_*.deb "$CYRUS_DIR/root"
  rm -rf "$tmp"
fi

# The intake page's browser tests (tests/integration/test_intake_web.py) drive Debian's
# chromium through chromium-driver; they skip with the reason when these are missing.
if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
  echo "setup: installing chromium and chromium-driver from apt" >&2
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq || true
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver \
    >/dev/null || echo "setup: chromium not installed: the browser tests will skip" >&2
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -e '.[test]'
