#!/usr/bin/env bash
# Renders HTML reports to PNG screenshots in headless Chromium, to look at
# the charts as a reader's browser draws them.
#
#   scripts/screenshot-reports.sh OUT_DIR REPORT.html...
#
# Each REPORT.html becomes OUT_DIR/<parent dir>-<name>.png. Needs Debian's
# chromium (apt-get install -y chromium); it runs as root with --no-sandbox.
# Example, a fresh load run with a pause and a baseline:
#
#   go run ./cmd/loadgen run --duration 10s --pause 1s@4s --out /tmp/base
#   go run ./cmd/loadgen run --duration 10s --out /tmp/new --baseline /tmp/base --max-regression 1e9
#   scripts/screenshot-reports.sh /tmp/shots /tmp/base/report.html /tmp/new/report.html
#
# A chaos run's report renders the same way:
#
#   go run ./cmd/chaos run truncated-tail clock-skew-lock concurrent-processors --quick --out /tmp/chaos-run
#   scripts/screenshot-reports.sh /tmp/shots /tmp/chaos-run/report.html
#
# A long page is cut at the window's height, 3800 px unless HEIGHT says
# otherwise (HEIGHT=20000 for a chaos run of every scenario); crop a PNG
# to read it closer,
# for example with ImageMagick: convert IN.png -crop 1280x1000+0+1000 OUT.png
set -euo pipefail
if [ $# -lt 2 ]; then
	echo "usage: $0 OUT_DIR REPORT.html..." >&2
	exit 2
fi
out=$1; shift
browser=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
if [ -z "$browser" ]; then
	echo "error: no chromium found; hint: apt-get install -y chromium" >&2
	exit 1
fi
mkdir -p "$out"
for f in "$@"; do
	abs=$(cd "$(dirname "$f")" && pwd)/$(basename "$f")
	png="$out/$(basename "$(dirname "$abs")")-$(basename "$f" .html).png"
	"$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars \
		--window-size=1280,"${HEIGHT:-3800}" --screenshot="$png" "file://$abs" 2>/dev/null
	echo "$png"
done
