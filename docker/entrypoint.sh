#!/bin/sh
# "dovecot-src" / "dovecot-dst": render the lab template for that flavour and run Dovecot in
# the foreground; anything else runs as a command (pecsync ...).
set -eu
case "${1:-}" in
  dovecot-src|dovecot-dst)
    flavour=${1#dovecot-}
    root=/srv/lab/$flavour
    mkdir -p "$root/mail" "$root/users.d"
    chown dovecot:dovecot "$root/mail"
    [ -f "$root/master-users" ] || echo "master:{PLAIN}${MASTER_PASSWORD:-master}" > "$root/master-users"
    touch "$root/twofa"
    cd /opt/pecsync
    python3 -m lab render --flavour "$flavour" --root "$root" --port 143 --listen '*' \
      --checkpassword "$root/checkpassword" > "$root/dovecot.conf"
    exec dovecot -F -c "$root/dovecot.conf"
    ;;
  *) exec "$@" ;;
esac
