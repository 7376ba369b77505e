#!/usr/bin/env bash
# pdftoppm and pdftotext for the PDF dashboards' end-to-end test
# (apps/server/test/pdf-reports-flow.ts), from Debian's `poppler-utils`
# package: 22.12 on bookworm. The test turns a rendered report's first page
# into a PNG and reads the PDF's text back, so it checks what a reader sees,
# not only the bytes pdfkit wrote. Not an engine: nothing runs, so there is
# no start/stop.
#
#   infra/local/poppler.sh [ensure]   install where pdftoppm or pdftotext is missing; log the versions
#   infra/local/poppler.sh status     the versions, or "missing" (exit 3)
#
# Everything is logged to stderr: up.sh's stdout is evaluated by its callers.
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

present() { command -v pdftoppm >/dev/null && command -v pdftotext >/dev/null; }

# Both print their version on stderr, first line "pdftoppm version 22.12.0".
versions() {
  printf '%s; %s\n' "$(pdftoppm -v 2>&1 | head -n 1)" "$(pdftotext -v 2>&1 | head -n 1)"
}

# The test asks for PNG output; a pdftoppm built without libpng lacks -png and
# would fail there with a usage message, so say so now.
check_png() {
  local usage
  usage=$(pdftoppm -h 2>&1 || true) # older poppler exits 99 after its help
  grep -q -- '-png ' <<<"$usage" || die "this pdftoppm cannot write PNG; install Debian's poppler-utils package"
}

debian_tool_main poppler-utils check_png "${1:-ensure}"
