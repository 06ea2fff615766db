#!/bin/sh
# Runs windows_uia_adapter.py on the Windows machine for one scenario, the
# scenario's card in that machine's vpcd reader (docs/gui-automation.md):
#
#   kazasu run --transport pcsc --vpcd-host 192.0.2.10 --vpcd-reader "NAME" \
#     --client 'examples/gui-adapter/over-ssh.sh tester@192.0.2.10'
#
# The scenario's service listens on this computer's loopback: an SSH reverse
# tunnel brings it to the Windows machine's 127.0.0.1:18787 (a loopback
# name, as the service wants). The KAZASU_* inputs go over SSH's stdin,
# never on a command line; the outcome JSON comes back on stdout.
# UNTESTED ON WINDOWS. KAZASU_GUI_ADAPTER: the script's path over there.
set -eu
host=$1
adapter=${KAZASU_GUI_ADAPTER:-C:/kazasu/windows_uia_adapter.py}
port=${KAZASU_SERVICE_URL##*:}
port=${port%%/*}
{
  env | grep '^KAZASU_' | grep -v '^KAZASU_SERVICE_URL='
  echo "KAZASU_SERVICE_URL=http://127.0.0.1:18787"
} | ssh -T -o ExitOnForwardFailure=yes -R "18787:127.0.0.1:$port" "$host" python "$adapter" --env-stdin
