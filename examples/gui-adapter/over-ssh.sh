#!/bin/sh
# Runs windows_uia_adapter.py on the Windows machine for one scenario:
#   kazasu run --transport pcsc --client 'examples/gui-adapter/over-ssh.sh tester@192.0.2.10'
# The KAZASU_* inputs go over SSH's stdin (never on a command line); the
# outcome JSON comes back on stdout. UNTESTED ON WINDOWS (docs/gui-automation.md).
# KAZASU_GUI_ADAPTER: the script's path on the Windows machine.
set -eu
host=$1
adapter=${KAZASU_GUI_ADAPTER:-C:/kazasu/windows_uia_adapter.py}
env | grep '^KAZASU_' | ssh -T "$host" python "$adapter" --env-stdin
