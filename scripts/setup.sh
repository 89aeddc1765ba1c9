#!/usr/bin/env bash
# Install what pecsync needs on a Debian 12 machine, in one of two profiles:
#
#   scripts/setup.sh --profile demo   Dovecot's IMAP server and pecsync in ./.venv (the demo)
#   scripts/setup.sh --profile test   the demo's, plus PostgreSQL, Cyrus IMAP, chromium and
#                                     the Python test extras (the test suite)
#   scripts/setup.sh --print-plan [--profile P] [--all]
#                                     print the plan (apt transactions, downloads, checks)
#                                     and change nothing; --all plans every package of the
#                                     profile, installed or not (what tests simulate)
#
# Every apt package is installed in ONE transaction, without recommends: cyrus-common
# recommends cyrus-imapd, which conflicts with dovecot-imapd (both provide imap-server), and a
# second transaction with recommends on once removed the Dovecot this script had just
# installed.  At the end every requirement of the profile is checked again; a missing one
# exits non-zero and names its package.  tests/unit/test_setup_plan.py simulates the plan
# with `apt-get install -s` and fails if a transaction would remove a package setup needs.
set -euo pipefail
cd "$(dirname "$0")/.."

PROFILE=test
PRINT_PLAN=0
ALL=0
while [ $# -gt 0 ]; do
  case "$1" in
    --profile) PROFILE=${2:?--profile needs demo or test}; shift 2 ;;
    --profile=*) PROFILE=${1#--profile=}; shift ;;
    --print-plan) PRINT_PLAN=1; shift ;;
    --all) ALL=1; shift ;;
    -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "setup: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
case "$PROFILE" in demo|test) ;; *) echo "setup: profile must be demo or test, not $PROFILE" >&2; exit 2 ;; esac

CYRUS_DIR=${PECSYNC_CYRUS_DIR:-/opt/pecsync-cyrus}

# --- requirement checks: one function per requirement, each naming its package -----------
have_dovecot_imap() {
  { command -v dovecot >/dev/null 2>&1 || [ -x /usr/sbin/dovecot ]; } || return 1
  local dir
  for dir in /usr/lib/dovecot /usr/libexec/dovecot /usr/local/libexec/dovecot; do
    [ -x "$dir/imap" ] && [ -x "$dir/imap-login" ] && return 0
  done
  return 1
}
have_postgres() { ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; }
have_cyrus_common() { [ -x /usr/lib/cyrus/bin/master ]; }
have_saslpasswd() { command -v saslpasswd2 >/dev/null 2>&1; }
have_cyrus_imapd() { [ -x "$CYRUS_DIR/root/usr/lib/cyrus/bin/imapd" ]; }
have_chromium() { [ -x /usr/bin/chromium ]; }
have_chromedriver() { [ -x /usr/bin/chromedriver ]; }
have_venv_module() { "${PYTHON:-python3}" -c 'import ensurepip, venv' >/dev/null 2>&1; }

# requirement:package:why — the order is the order of the plan's lines.
REQS_DEMO=(
  "have_dovecot_imap:dovecot-imapd:the lab's IMAP servers (source and destination) are Dovecot"
  "have_venv_module:python3-venv:pecsync is installed into ./.venv"
)
REQS_TEST=(
  "have_postgres:postgresql:the shared state database's tests start private PostgreSQL clusters"
  "have_cyrus_common:cyrus-common:Cyrus IMAP, the second server implementation (master, ctl_cyrusdb)"
  "have_saslpasswd:sasl2-bin:saslpasswd2 makes the Cyrus test users"
  "have_chromium:chromium:the member and admin pages are tested in headless chromium"
  "have_chromedriver:chromium-driver:selenium drives chromium through chromedriver"
)
reqs() {
  printf '%s\n' "${REQS_DEMO[@]}"
  [ "$PROFILE" = test ] && printf '%s\n' "${REQS_TEST[@]}"
  return 0
}

APT_FLAGS=(-y -qq --no-install-recommends)
missing=()
why=()
while IFS= read -r line; do
  check=${line%%:*}; rest=${line#*:}; pkg=${rest%%:*}; reason=${rest#*:}
  if [ "$ALL" = 1 ] || ! "$check"; then
    missing+=("$pkg"); why+=("$pkg: $reason")
  fi
done < <(reqs)
need_cyrus_unpack=0
if [ "$PROFILE" = test ] && { [ "$ALL" = 1 ] || ! have_cyrus_imapd; }; then need_cyrus_unpack=1; fi

if [ "$PRINT_PLAN" = 1 ]; then
  echo "profile $PROFILE"
  for w in "${why[@]+"${why[@]}"}"; do echo "why $w"; done
  if [ ${#missing[@]} -gt 0 ]; then echo "apt-get install ${APT_FLAGS[*]} ${missing[*]}"; fi
  if [ "$need_cyrus_unpack" = 1 ]; then
    echo "why cyrus-imapd: Cyrus's imapd, unpacked (not installed: it conflicts with dovecot-imapd)"
    echo "apt-get download cyrus-imapd && dpkg-deb -x cyrus-imapd_*.deb $CYRUS_DIR/root"
  fi
  echo "pip install -e .$([ "$PROFILE" = test ] && echo "[test]")"
  exit 0
fi

SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
apt_updated=0
apt_update() {
  [ "$apt_updated" = 1 ] && return 0
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  apt_updated=1
}

if [ ${#missing[@]} -gt 0 ]; then
  for w in "${why[@]}"; do echo "setup: installing $w" >&2; done
  apt_update
  # One transaction, no recommends: nothing installed here can remove what it needs.
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install "${APT_FLAGS[@]}" "${missing[@]}" >/dev/null
  # The packaged system services are not needed: the lab and the tests start their own.
  for svc in dovecot postgresql cyrus-imapd; do
    $SUDO systemctl disable --now "$svc" >/dev/null 2>&1 || true
  done
fi

if [ "$need_cyrus_unpack" = 1 ]; then
  echo "setup: unpacking cyrus-imapd into $CYRUS_DIR (Cyrus's imapd for the tests; not installed, it conflicts with dovecot-imapd)" >&2
  $SUDO mkdir -p "$CYRUS_DIR"
  tmp=$(mktemp -d)
  if ! (cd "$tmp" && apt-get download cyrus-imapd >/dev/null 2>&1); then
    apt_update
    (cd "$tmp" && apt-get download cyrus-imapd >/dev/null)
  fi
  $SUDO dpkg-deb -x "$tmp"/cyrus-imapd_*.deb "$CYRUS_DIR/root"
  rm -rf "$tmp"
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating ./.venv and installing pecsync into it" >&2
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
if [ "$PROFILE" = test ]; then
  .venv/bin/python -m pip install -q -e '.[test]'
else
  .venv/bin/python -m pip install -q -e .
fi

# --- every requirement again: a package removed by a later step is caught here -------------
failed=0
while IFS= read -r line; do
  check=${line%%:*}; rest=${line#*:}; pkg=${rest%%:*}
  if ! "$check"; then
    echo "setup: requirement missing after setup: $check (package $pkg)" >&2; failed=1
  fi
done < <(reqs)
if [ "$PROFILE" = test ] && ! have_cyrus_imapd; then
  echo "setup: requirement missing after setup: $CYRUS_DIR/root/usr/lib/cyrus/bin/imapd (package cyrus-imapd, unpacked)" >&2
  failed=1
fi
if [ "$failed" = 1 ]; then exit 1; fi
echo "setup: profile $PROFILE ready" >&2
