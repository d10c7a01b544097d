#!/usr/bin/env bash
# Headless Chromium for the report-rendering test; installed through apt where missing.
set -u
command -v chromium >/dev/null 2>&1 && exit 0
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
    || echo "browser.sh: could not install chromium; the report-rendering test will be skipped" >&2
else
  echo "browser.sh: chromium missing and apt-get unavailable; the report-rendering test will be skipped" >&2
fi
exit 0
