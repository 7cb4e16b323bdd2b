#!/usr/bin/env bash
# Fetches WordNet 3.0 (Princeton's database, in its own file layout) for METEOR's synonym stage:
# Debian's `wordnet-base` package, unpacked without installing (no root needed), into a cache
# folder outside the checkout:
#
#   ${TUNERY_CACHE_DIR:-$HOME/.cache/tunery}/wordnet-3.0/   index.* data.* *.exc
#
# Idempotent. The last line printed is the folder: `tunery serve --wordnet-dir "$(…| tail -1)"`,
# `tunery eval score --wordnet-dir …`. Without apt (not a Debian-family machine), point
# --wordnet-dir at any WordNet 3.0 `dict/` folder instead.
set -euo pipefail

DIR="${TUNERY_CACHE_DIR:-$HOME/.cache/tunery}/wordnet-3.0"
FILES="index.noun index.verb index.adj index.adv data.noun data.verb data.adj data.adv noun.exc verb.exc adj.exc adv.exc"

complete() {
    for f in $FILES; do [ -s "$DIR/$f" ] || return 1; done
}

if ! complete; then
    command -v apt-get >/dev/null || { echo "fetch-wordnet: needs apt-get (Debian's wordnet-base package)" >&2; exit 1; }
    echo "fetch-wordnet: downloading Debian's wordnet-base" >&2
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    (cd "$work" && apt-get download wordnet-base >&2)
    dpkg-deb -x "$work"/wordnet-base_*.deb "$work/root"
    mkdir -p "$DIR.part"
    for f in $FILES; do cp "$work/root/usr/share/wordnet/$f" "$DIR.part/$f"; done
    grep -q "WordNet 3.0 Copyright" "$DIR.part/data.noun" || { echo "fetch-wordnet: not WordNet 3.0" >&2; exit 1; }
    rm -rf "$DIR"
    mv "$DIR.part" "$DIR"
fi
echo "$DIR"
