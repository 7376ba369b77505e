#!/usr/bin/env bash
# ffmpeg and ffprobe for the transcoding worker and its tests
# (workers/transcoding/src/media), from Debian's `ffmpeg` package: 5.1 on
# bookworm, built with libx264 and the native AAC encoder, which is all the
# HLS ladder needs. Not an engine: nothing runs, so there is no start/stop.
#
#   infra/local/ffmpeg.sh [ensure]   install where ffmpeg or ffprobe is missing; log the versions
#   infra/local/ffmpeg.sh status     the versions, or "missing" (exit 3)
#
# Everything is logged to stderr: up.sh's stdout is evaluated by its callers.
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

present() { command -v ffmpeg >/dev/null && command -v ffprobe >/dev/null; }

# The first line of `-version` names the build ("ffmpeg version 5.1.x-0+deb12u1 …").
versions() {
  printf '%s; %s\n' "$(ffmpeg -hide_banner -version | head -n 1)" "$(ffprobe -hide_banner -version | head -n 1)"
}

# The worker encodes H.264 + AAC; a build without them would fail at the first
# upload, so say so now rather than in a test's stderr tail.
check_encoders() {
  local encoders
  encoders=$(ffmpeg -hide_banner -encoders 2>/dev/null)
  grep -q ' libx264 ' <<<"$encoders" || die "this ffmpeg has no libx264 encoder; install Debian's ffmpeg package"
  grep -q ' aac ' <<<"$encoders" || die "this ffmpeg has no aac encoder; install Debian's ffmpeg package"
}

debian_tool_main ffmpeg check_encoders "${1:-ensure}"
