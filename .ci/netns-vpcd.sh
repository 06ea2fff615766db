#!/usr/bin/env bash
# The card on a reader of another host (docs/remote-readers.md): a second
# pcscd runs in its own network namespace (and its own mount namespace, for
# a private /run/pcscd), reached over a veth pair — a real, non-loopback
# network path — and `kazasu card --vpcd ADDRESS:35963` serves it from this
# host's namespace. OpenSC, inside the namespace, then lists the PINs, reads
# the auth certificate and signs with it, and the signature is verified.
# Then `kazasu run --vpcd-host ADDRESS` plays scenarios (a story among
# them) with their cards in that remote reader, the reference client
# reading them through the namespace's pcscd, and signs a certificate of
# conformance that `kazasu verify-report` accepts.
#
# The main pcscd is not used and must not be disturbed: at the end, under
# the shared lock, it must still list its vpcd readers.
#
# Needs root, `ip netns`, `unshare`, pcscd with Debian's vpcd and OpenSC;
# without them it says why and exits 0 (1 under CI=1, where they must be).
# KAZASU: the kazasu binary (default target/release/kazasu, else debug).
set -euo pipefail
cd "$(dirname "$0")/.."

skip() {
  if [ -n "${CI:-}" ]; then
    echo "netns-vpcd: FAILED: $1 (CI must run this test)" >&2
    exit 1
  fi
  echo "netns-vpcd: skipped: $1"
  exit 0
}

[ "$(id -u)" -eq 0 ] || skip "needs root for ip netns and a second pcscd"
for tool in ip unshare pcscd opensc-tool pkcs15-tool pkcs11-tool openssl ss flock; do
  command -v "$tool" >/dev/null || skip "$tool is not installed (bash .ci/setup)"
done
[ -e /etc/reader.conf.d/vpcd ] || skip "Debian's vpcd driver is not installed (bash .ci/setup)"
module=$(find /usr/lib -name opensc-pkcs11.so 2>/dev/null | head -1)
[ -n "$module" ] || skip "OpenSC's PKCS#11 module is not installed"

kazasu=${KAZASU:-}
if [ -z "$kazasu" ]; then
  for candidate in target/release/kazasu target/debug/kazasu; do
    if [ -x "$candidate" ]; then kazasu=$candidate; break; fi
  done
fi
[ -n "$kazasu" ] && [ -x "$kazasu" ] || skip "no kazasu binary (cargo build -p kazasu, or KAZASU=path)"

# Names and a /30 of our own, so that two runs at once do not collide.
id=$(( $$ % 200 + 20 ))
ns="kazasu-vpcd-$$"
host_if="kz$$a"
ns_if="kz$$b"
host_ip="10.231.$id.1"
ns_ip="10.231.$id.2"
work=$(mktemp -d)
card_pid=""

cleanup() {
  [ -n "$card_pid" ] && kill "$card_pid" 2>/dev/null || true
  # The namespace's pcscd dies with its shell below; make sure of it.
  for pid in $(ip netns pids "$ns" 2>/dev/null); do kill "$pid" 2>/dev/null || true; done
  ip link del "$host_if" 2>/dev/null || true
  ip netns del "$ns" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

ip netns add "$ns" || skip "cannot create a network namespace here (a container without CAP_SYS_ADMIN?)"
ip link add "$host_if" type veth peer name "$ns_if" || skip "cannot create a veth pair here"
ip link set "$ns_if" netns "$ns"
ip addr add "$host_ip/30" dev "$host_if"
ip link set "$host_if" up
ip netns exec "$ns" ip addr add "$ns_ip/30" dev "$ns_if"
ip netns exec "$ns" ip link set "$ns_if" up
ip netns exec "$ns" ip link set lo up

# Inside: a private /run/pcscd (the main pcscd's socket and pid file stay
# untouched), a pcscd of its own with every inherited descriptor closed (it
# must not hold the caller's lock), and OpenSC against it once the card is in.
cat >"$work/inside.sh" <<'INSIDE'
set -euo pipefail
work=$1 module=$2
mount -t tmpfs -o mode=0755 tmpfs /run/pcscd
(
  for fd in /proc/"$BASHPID"/fd/*; do
    fd=${fd##*/}
    if [ "$fd" -gt 2 ]; then eval "exec $fd>&-"; fi
  done
  exec pcscd -f
) </dev/null >"$work/pcscd.log" 2>&1 &
pcscd_pid=$!
trap 'kill $pcscd_pid 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  ss -ltn | grep -q ':35963 ' && break
  sleep 0.1
done
ss -ltn | grep ':35963 ' | sed 's/^/inside: vpcd listens: /'
touch "$work/listening"
reader="Virtual PCD 00 00"
for _ in $(seq 1 150); do
  opensc-tool --reader "$reader" --atr >"$work/atr" 2>/dev/null && break
  sleep 0.2
done
echo "inside: card in \"$reader\", ATR $(cat "$work/atr")"
OPENSC_DRIVER=jpki pkcs15-tool --reader "$reader" --list-pins >"$work/pins"
grep -q "User Authentication PIN" "$work/pins"
pkcs15-tool --reader "$reader" --read-certificate 1 >"$work/cert.pem"
openssl x509 -in "$work/cert.pem" -noout -subject | sed 's/^/inside: auth certificate /'
printf 'eligibility challenge' >"$work/message"
pkcs11-tool --module "$module" --slot-index 0 --login --pin 1234 --sign --id 01 \
  -m SHA256-RSA-PKCS -i "$work/message" -o "$work/signature" >/dev/null 2>&1
openssl x509 -in "$work/cert.pem" -noout -pubkey >"$work/pub.pem"
openssl dgst -sha256 -verify "$work/pub.pem" -signature "$work/signature" "$work/message" \
  | sed 's/^/inside: signature /'
# Keep this pcscd for the scenario run, until the host is done with it.
echo "$pcscd_pid" >"$work/pcscd.pid"
while [ ! -e "$work/done" ]; do sleep 0.2; done
INSIDE

ip netns exec "$ns" unshare --mount --propagation private \
  bash "$work/inside.sh" "$work" "$module" >"$work/inside.log" 2>&1 &
inside=$!
for _ in $(seq 1 100); do
  [ -e "$work/listening" ] && break
  sleep 0.1
done
[ -e "$work/listening" ] || { cat "$work/inside.log" "$work/pcscd.log" >&2; echo "netns-vpcd: FAILED: the namespace's pcscd did not start" >&2; exit 1; }

echo "netns-vpcd: card on this host -> vpcd at $ns_ip:35963 (namespace $ns, over $host_if)"
"$kazasu" card --vpcd "$ns_ip:35963" --trace "$work/trace.jsonl" >"$work/card.log" 2>&1 &
card_pid=$!

# Until OpenSC is done inside (the pid file) or the inside failed.
while [ ! -e "$work/pcscd.pid" ] && kill -0 "$inside" 2>/dev/null; do sleep 0.2; done
status=0
if [ ! -e "$work/pcscd.pid" ]; then
  wait "$inside" || status=$?
  [ "$status" -ne 0 ] || status=1
fi
sed 's/^/  /' "$work/inside.log"
if [ "$status" -ne 0 ]; then
  echo "  card:" && sed 's/^/    /' "$work/card.log"
  echo "  namespace's pcscd:" && sed 's/^/    /' "$work/pcscd.log"
  echo "netns-vpcd: FAILED: OpenSC in the namespace could not use the card" >&2
  exit 1
fi
grep -q 'Verified OK' "$work/inside.log" || { echo "netns-vpcd: FAILED: no verified signature" >&2; exit 1; }
apdus=$(wc -l <"$work/trace.jsonl")
grep -q 'VERIFY' "$work/trace.jsonl" || { echo "netns-vpcd: FAILED: the card's trace has no VERIFY" >&2; exit 1; }
echo "netns-vpcd: the card served $apdus APDUs over $host_if (trace: VERIFY with the PIN masked)"
if grep -q '0020008004\(3[0-9]\)\{4\}' "$work/trace.jsonl"; then
  echo "netns-vpcd: FAILED: the trace holds the PIN" >&2
  exit 1
fi
kill "$card_pid" 2>/dev/null || true
wait "$card_pid" 2>/dev/null || true
card_pid=""

# The runner with its cards in the remote reader: each scenario's card goes
# to vpcd at the namespace's address, and the client (the reference
# client, `kazasu check --adapter`) reads it through the namespace's pcscd
# (its mount namespace, for the socket) while reaching the scenario's
# service on this host's loopback.
suite="$work/suite"
mkdir -p "$suite/pin" "$suite/visual" "$suite/stories"
cp scenarios/pin/right-pin.toml scenarios/pin/wrong-once.toml "$suite/pin/"
cp scenarios/visual/visual-ok.toml "$suite/visual/"
# A story: the card is swapped for the patient's new phone between holds.
cp scenarios/stories/phone-replaced.toml "$suite/stories/"
pcscd_pid=$(cat "$work/pcscd.pid")
absolute=$(realpath "$kazasu")
"$kazasu" keygen --out "$work/vendor.pem" >/dev/null
if ! "$kazasu" run "$suite" --transport pcsc --vpcd-host "$ns_ip" --profile conformance \
  --client "nsenter --target $pcscd_pid --mount $absolute check --adapter" \
  --client-name "kazasu reference client (adapter)" --client-version "over a remote reader" \
  --certificate "$work/certificate.json" --signing-key "$work/vendor.pem" \
  --json "$work/run.json" >"$work/run.log" 2>&1; then
  sed 's/^/  /' "$work/run.log"
  echo "netns-vpcd: FAILED: the scenarios through the remote reader" >&2
  exit 1
fi
grep -v '^  ✓' "$work/run.log" | sed 's/^/  run: /'
"$kazasu" verify-report "$work/certificate.json" --public-key "$work/vendor.pub.pem" \
  --scenarios "$suite" | sed 's/^/  verify-report: /'
touch "$work/done"
wait "$inside" || true

# The main pcscd, under the shared lock: still there, still listing vpcd.
if pgrep -x pcscd >/dev/null && ss -ltn | grep -q ':35963 '; then
  readers=$(flock /tmp/kazasu-pcscd.lock opensc-tool --list-readers 2>&1)
  if ! grep -q "Virtual PCD 00 00" <<<"$readers"; then
    echo "$readers" >&2
    echo "netns-vpcd: FAILED: the main pcscd no longer lists its vpcd readers" >&2
    exit 1
  fi
  echo "netns-vpcd: the main pcscd still lists \"Virtual PCD 00 00\""
else
  echo "netns-vpcd: (no main pcscd running here: nothing to compare)"
fi
echo "netns-vpcd: ok"
