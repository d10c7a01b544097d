#!/usr/bin/env bash
# espeak-ng for the 1-D signal tests (speech made locally: stridescope.analysis.signal_data);
# installed through apt where missing (~5 MB, a few seconds). Without it the speech tests are
# skipped with the reason and compare uses chirps and noise.
set -u
command -v espeak-ng >/dev/null 2>&1 && exit 0
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  (DEBIAN_FRONTEND=noninteractive apt-get install -y -qq espeak-ng >/dev/null 2>&1 \
    || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq espeak-ng >/dev/null)) \
    || echo "speech.sh: could not install espeak-ng; the speech tests will be skipped" >&2
else
  echo "speech.sh: espeak-ng missing and apt-get unavailable; the speech tests will be skipped" >&2
fi
exit 0
