#!/usr/bin/env bash
# Builds the desktop app's .deb with the Tauri CLI (from npm; scripts/setup.sh installs it) and
# checks what matters in it: the binary, and a desktop entry that registers gatehouse:// with the
# URL passed on (`%u`; Tauri's default entry drops it, tauri issue 16014).
#
#   scripts/package-deb.sh            release build: target/release/bundle/deb/Gatehouse_*.deb
#   scripts/package-deb.sh --debug    debug build (CI: checks the packaging without a release build)
#
# AppImage is not offered: its bundler downloads tools from GitHub at build time.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
PROFILE=release
ARGS=()
if [ "${1:-}" = "--debug" ]; then
  PROFILE=debug
  ARGS=(--debug)
fi

[ -x node_modules/.bin/tauri ] || { echo "package-deb.sh: the Tauri CLI is missing: run scripts/setup.sh" >&2; exit 1; }
rm -f target/$PROFILE/bundle/deb/*.deb
node_modules/.bin/tauri build "${ARGS[@]}" --bundles deb --ci -- --locked

deb=$(ls target/$PROFILE/bundle/deb/*.deb)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
dpkg-deb -x "$deb" "$work"
fail() { echo "package-deb.sh: $deb: $*" >&2; exit 1; }
[ -x "$work/usr/bin/gatehouse-desktop" ] || fail "no /usr/bin/gatehouse-desktop"
entry=$(ls "$work"/usr/share/applications/*.desktop 2>/dev/null | head -1)
[ -n "$entry" ] || fail "no desktop entry"
grep -qx 'Exec=gatehouse-desktop %u' "$entry" || fail "the desktop entry does not pass the URL on: $(grep ^Exec "$entry")"
grep -q '^MimeType=.*x-scheme-handler/gatehouse' "$entry" || fail "the desktop entry does not register gatehouse://"
ls "$work"/usr/share/icons/hicolor/*/apps/*.png >/dev/null 2>&1 || fail "no icons"
depends=$(dpkg-deb -f "$deb" Depends)
case $depends in *libwebkit2gtk-4.1-0*) ;; *) fail "Depends lacks libwebkit2gtk-4.1-0: $depends" ;; esac
echo "package-deb.sh: $deb ($(du -h "$deb" | cut -f1)) is good: $(grep ^Exec "$entry"); Depends: $depends"
