#!/usr/bin/env bash
# Finds Chromium for the web UI's browser tests: Debian's `chromium` package, with a Chinese
# font (fonts-wqy-microhei) so that the zh-CN screenshots are legible; both are installed with
# apt-get when missing and this runs as root. The last line printed is the executable.
set -euo pipefail

exe="${TUNERY_CHROMIUM:-/usr/bin/chromium}"
missing=()
[ -x "$exe" ] || missing+=(chromium)
fc-list :lang=zh 2>/dev/null | grep -q . || missing+=(fonts-wqy-microhei)
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "fetch-chromium: installing Debian's ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y --no-install-recommends "${missing[@]}" >&2 \
      || { apt-get update >&2 && apt-get install -y --no-install-recommends "${missing[@]}" >&2; }
  else
    echo "fetch-chromium: missing ${missing[*]}: install them (apt-get install ${missing[*]}) or set TUNERY_CHROMIUM" >&2
    exit 1
  fi
fi
"$exe" --version >&2
echo "$exe"
