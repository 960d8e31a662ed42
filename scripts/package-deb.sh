#!/usr/bin/env bash
# Builds the desktop app's .deb with the Tauri CLI (from npm; scripts/setup.sh installs it) and
# checks what matters in it: the binary, a desktop entry that registers gatehouse:// with the
# URL passed on (`%u`; Tauri's default entry drops it, tauri issue 16014), the `gatehouse`
# command with its man page and shell completions (generated from its clap definition), the
# tray's AppIndicator library in Depends, and a postrm that refreshes the system's handler cache.
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
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The `gatehouse` command for the same profile, and what it generates from its clap definition.
CARGO_PROFILE=()
[ "$PROFILE" = release ] && CARGO_PROFILE=(--release)
cargo build -p gatehouse-cli "${CARGO_PROFILE[@]}" --locked
cli="$ROOT/target/$PROFILE/gatehouse"
[ -x "$cli" ] || { echo "package-deb.sh: $cli was not built" >&2; exit 1; }
gen="$work/gen"
mkdir -p "$gen"
"$cli" man | gzip -9n > "$gen/gatehouse.1.gz"
"$cli" completions bash > "$gen/gatehouse.bash"
"$cli" completions zsh > "$gen/_gatehouse"
"$cli" completions fish > "$gen/gatehouse.fish"
# Merged into tauri.conf.json for this build only: the paths depend on the profile.
cat > "$work/files.json" <<JSON
{ "bundle": { "linux": { "deb": { "files": {
  "/usr/bin/gatehouse": "$cli",
  "/usr/share/man/man1/gatehouse.1.gz": "$gen/gatehouse.1.gz",
  "/usr/share/bash-completion/completions/gatehouse": "$gen/gatehouse.bash",
  "/usr/share/zsh/vendor-completions/_gatehouse": "$gen/_gatehouse",
  "/usr/share/fish/vendor_completions.d/gatehouse.fish": "$gen/gatehouse.fish"
} } } } }
JSON

rm -f target/$PROFILE/bundle/deb/*.deb
node_modules/.bin/tauri build "${ARGS[@]}" --bundles deb --ci --config "$work/files.json" -- --locked

deb=$(ls target/$PROFILE/bundle/deb/*.deb)
pkg="$work/pkg"
dpkg-deb -x "$deb" "$pkg"
dpkg-deb -e "$deb" "$work/control"
fail() { echo "package-deb.sh: $deb: $*" >&2; exit 1; }
[ -x "$pkg/usr/bin/gatehouse-desktop" ] || fail "no /usr/bin/gatehouse-desktop"
[ -x "$pkg/usr/bin/gatehouse" ] || fail "no executable /usr/bin/gatehouse"
cmp -s "$pkg/usr/bin/gatehouse" "$cli" || fail "/usr/bin/gatehouse is not the $PROFILE build"
zcat "$pkg/usr/share/man/man1/gatehouse.1.gz" | grep -q '^\.TH' || fail "no man page gatehouse(1)"
grep -q 'gatehouse' "$pkg/usr/share/bash-completion/completions/gatehouse" || fail "no bash completion"
grep -q '#compdef gatehouse' "$pkg/usr/share/zsh/vendor-completions/_gatehouse" || fail "no zsh completion"
grep -q 'complete -c gatehouse' "$pkg/usr/share/fish/vendor_completions.d/gatehouse.fish" || fail "no fish completion"
[ -x "$work/control/postrm" ] || fail "no postrm"
grep -q 'update-desktop-database' "$work/control/postrm" || fail "the postrm does not refresh the handler cache"
! grep -q 'HOME\|/home' "$work/control/postrm" || fail "the postrm touches users' homes"
entry=$(ls "$pkg"/usr/share/applications/*.desktop 2>/dev/null | head -1)
[ -n "$entry" ] || fail "no desktop entry"
grep -qx 'Exec=gatehouse-desktop %u' "$entry" || fail "the desktop entry does not pass the URL on: $(grep ^Exec "$entry")"
grep -q '^MimeType=.*x-scheme-handler/gatehouse' "$entry" || fail "the desktop entry does not register gatehouse://"
ls "$pkg"/usr/share/icons/hicolor/*/apps/*.png >/dev/null 2>&1 || fail "no icons"
depends=$(dpkg-deb -f "$deb" Depends)
case $depends in *libwebkit2gtk-4.1-0*) ;; *) fail "Depends lacks libwebkit2gtk-4.1-0: $depends" ;; esac
case $depends in *libayatana-appindicator3-1*) ;; *) fail "Depends lacks libayatana-appindicator3-1 (the tray): $depends" ;; esac
echo "package-deb.sh: $deb ($(du -h "$deb" | cut -f1)) is good: $(grep ^Exec "$entry"); Depends: $depends"
