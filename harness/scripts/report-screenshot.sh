#!/usr/bin/env bash
# Renders kazasu's HTML report in headless Chromium and saves a screenshot,
# to see the page as the people reading a failed run see it.
#
# The report comes from a small suite made on the spot: two scenarios of
# scenarios/ that pass, and a copy of one with an expectation that cannot
# hold, so that the page shows a failure (opened, with its diff and APDU
# trace) above the passes. In process: no pcscd needed.
#
# Needs Debian's `chromium` (a large install, so CI does not run this):
#   apt-get install chromium
#
# Usage: harness/scripts/report-screenshot.sh [PNG]   (default target/report.png)
# Leaves target/report.html and the PNG.
set -euo pipefail
cd "$(dirname "$0")/../.."

png=${1:-target/report.png}
# The first screen by default; a taller window (KAZASU_WINDOW=1280,4000) reaches the trace.
window=${KAZASU_WINDOW:-1280,1600}
command -v chromium >/dev/null || {
  echo "report-screenshot: chromium is not installed (apt-get install chromium)" >&2
  exit 2
}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/suite/pin" "$work/suite/results" target
cp scenarios/pin/wrong-once.toml "$work/suite/pin/"
cp scenarios/results/valid.toml "$work/suite/results/"
# The deliberate failure: the valid person's card confirms with validity 1.
sed -e 's/^name = "/name = "DELIBERATELY FAILING: /' -e 's/^validity = "1"/validity = "2"/' \
  scenarios/results/valid.toml >"$work/suite/results/valid-expects-2.toml"
grep -q '^validity = "2"' "$work/suite/results/valid-expects-2.toml"

# The run fails by design (exit 1); anything else is a real error.
rc=0
cargo run --release --quiet -p kazasu -- run "$work/suite" --html target/report.html || rc=$?
[ "$rc" -eq 1 ] || { echo "report-screenshot: kazasu run exited $rc, expected 1" >&2; exit 1; }

# A profile of its own (left behind otherwise), no network, no GPU: a
# container without a display server or a user namespace for the sandbox.
profile="$work/chromium-profile"
chromium --headless --no-sandbox --disable-gpu --disable-background-networking \
  --disable-component-update --disable-sync --no-first-run \
  --user-data-dir="$profile" --screenshot="$(realpath -m "$png")" --window-size="$window" \
  "file://$(realpath target/report.html)" 2>"$work/chromium.log" || {
  cat "$work/chromium.log" >&2
  exit 1
}
[ -s "$png" ] || { echo "report-screenshot: chromium wrote no $png" >&2; cat "$work/chromium.log" >&2; exit 1; }
echo "report-screenshot: $png ($(stat -c %s "$png") bytes) of target/report.html"
