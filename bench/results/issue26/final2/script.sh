#!/bin/bash
# Issue 26 final runs of session 30: quiet machine, main at its final code, base = 0e59c41
# (/tmp/base, the release before this wave), pecsync-base now really run from that tree.
set -x
cd /work/main
O=bench/results/issue26/final2
mkdir -p $O
B=".venv/bin/python bench/bench.py --also-base /tmp/base --workdir /var/tmp"
uptime
$B --profile small --workers 4 --rtt-ms 20 --rate-mbit 50 --also-floor --json $O/A-small-50mbit.json --markdown $O/A-small-50mbit.md > $O/A-small-50mbit.log 2>&1
uptime
$B --profile large --no-large --workers 4 --rtt-ms 20 --rate-mbit 200 --also-floor --json $O/B-large-200mbit.json --markdown $O/B-large-200mbit.md > $O/B-large-200mbit.log 2>&1
uptime
$B --mailboxes 1 --messages 22623 --no-large --workers 1 --rtt-ms 20 --rate-mbit 100 --json $O/C-one-100mbit.json --markdown $O/C-one-100mbit.md > $O/C-one-100mbit.log 2>&1
uptime
$B --profile large --no-large --workers 4 8 --also-floor --json $O/D-loopback.json --markdown $O/D-loopback.md > $O/D-loopback.log 2>&1
uptime
$B --profile small --workers 4 --source-user-limit 2 --also-lanes 2 --skip-dsync --json $O/E-limit2.json --markdown $O/E-limit2.md > $O/E-limit2.log 2>&1
uptime
