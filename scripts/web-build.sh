#!/usr/bin/env bash
# Builds the web UI (web/) from its lockfile: `npm ci` when web/node_modules is missing or older
# than web/package-lock.json, then `npm run build` (API types generated from docs/openapi.json,
# the strict type check, the Vite build, gzipped copies and the initial-JavaScript budget).
# Needs Node.js 20 or later with npm. The last line printed is the built folder, for
# `tunery serve --web-dir "$(… | tail -n 1)"`.
set -euo pipefail
cd "$(dirname "$0")/../web"

if ! command -v npm >/dev/null 2>&1; then
  echo "web-build: Node.js 20+ with npm is needed to build the web UI (https://nodejs.org, or Debian's nodejs and npm)" >&2
  exit 1
fi
major=$(node --version | sed -E 's/^v([0-9]+).*/\1/')
if [ "$major" -lt 20 ]; then
  echo "web-build: Node.js $(node --version) is too old; the web UI needs 20 or later" >&2
  exit 1
fi
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "web-build: installing the UI's packages from package-lock.json" >&2
  npm ci --no-audit --no-fund --prefer-offline >&2
fi
npm run --silent build >&2
echo "$PWD/dist"
