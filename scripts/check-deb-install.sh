#!/usr/bin/env bash
# Installs the .deb on this machine for real and checks what the package promises about
# gatehouse:// (issue 16, installation hygiene), with Debian's own xdg-mime and dpkg:
#
#   1. installed: `gatehouse` runs, its man page and completions are in place, and for a fresh
#      user `xdg-mime query default x-scheme-handler/gatehouse` names the package's entry;
#   2. a stale user-level handler left by an unpackaged build (an old build tree) wins at first;
#      the packaged app, started once, removes it, and the package's entry wins again (xdg-mime
#      itself skips a handler whose binary is gone, so the case that bites is one that exists);
#   3. removed (`dpkg --purge`): no handler of ours is left, for that user or system-wide.
#
#   scripts/check-deb-install.sh [--debug]    (the profile whose .deb package-deb.sh built)
#
# It installs into /usr, so it runs only as root, never over a gatehouse package installed by
# someone else, and scripts/test.sh calls it only in CI or with TEST_DEB_INSTALL=1.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
me=check-deb-install.sh
PROFILE=release
[ "${1:-}" = "--debug" ] && PROFILE=debug
fail() { echo "$me: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || fail "must run as root (it installs the package)"
deb=$(ls "$ROOT"/target/$PROFILE/bundle/deb/*.deb 2>/dev/null | head -1)
[ -n "$deb" ] || fail "no .deb in target/$PROFILE/bundle/deb: run scripts/package-deb.sh first"
if dpkg-query -W -f '${Status}' gatehouse 2>/dev/null | grep -q 'install ok installed'; then
  fail "a gatehouse package is already installed here; not touching it"
fi

work=$(mktemp -d)
XVFB=""
cleanup() {
  [ -n "$XVFB" ] && kill "$XVFB" 2>/dev/null || true
  dpkg --purge gatehouse >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$deb" >"$work/apt.log" 2>&1 \
  || { cat "$work/apt.log" >&2; fail "the package does not install"; }

# A fresh user of this machine.
export HOME="$work/home" XDG_DATA_HOME="$work/home/.local/share" XDG_CONFIG_HOME="$work/home/.config"
export XDG_RUNTIME_DIR="$work/run"
mkdir -p "$XDG_DATA_HOME/applications" "$XDG_CONFIG_HOME"
mkdir -m 700 "$XDG_RUNTIME_DIR"
unset XDG_CURRENT_DESKTOP
query() { xdg-mime query default x-scheme-handler/gatehouse 2>/dev/null || true; }

# 1. Installed.
/usr/bin/gatehouse --help | grep -q 'token' || fail "/usr/bin/gatehouse --help does not list 'token'"
[ -s /usr/share/man/man1/gatehouse.1.gz ] || fail "no man page"
[ -s /usr/share/bash-completion/completions/gatehouse ] || fail "no bash completion"
entry=$(basename "$(grep -l 'x-scheme-handler/gatehouse' /usr/share/applications/*.desktop | head -1)")
[ -n "$entry" ] || fail "no system desktop entry registers gatehouse://"
[ "$(query)" = "$entry" ] || fail "after install the handler is '$(query)', not the package's $entry"

# 2. What an unpackaged build registered for this user earlier, from an old build tree.
mkdir -p "$work/old-build/target/debug"
printf '#!/bin/sh\nexit 0\n' >"$work/old-build/target/debug/gatehouse-desktop"
chmod +x "$work/old-build/target/debug/gatehouse-desktop"
stale="$XDG_DATA_HOME/applications/gatehouse-desktop-handler.desktop"
cat >"$stale" <<EOF
[Desktop Entry]
Type=Application
Name=gatehouse-desktop
Exec=$work/old-build/target/debug/gatehouse-desktop %u
MimeType=x-scheme-handler/gatehouse
NoDisplay=true
EOF
xdg-mime default gatehouse-desktop-handler.desktop x-scheme-handler/gatehouse
[ "$(query)" = gatehouse-desktop-handler.desktop ] || fail "the stale handler did not take over: $(query)"

exec 3< <(Xvfb -displayfd 1 -screen 0 1024x768x24 -nolisten tcp 2>/dev/null & echo "pid $!")
read -r -u 3 line; XVFB=${line#pid }
read -r -u 3 display
export DISPLAY=":$display"
dbus-run-session -- bash -c '/usr/bin/gatehouse-desktop --background >"$1" 2>&1 & app=$!
  for _ in $(seq 1 100); do [ -S "$XDG_RUNTIME_DIR/gatehouse/agent.sock" ] && break; sleep 0.1; done
  sleep 1; kill "$app"; wait "$app" 2>/dev/null || true' _ "$work/app.log" 2>>"$work/app.log"
[ ! -e "$stale" ] || { cat "$work/app.log" >&2; fail "the packaged app left the stale handler in place"; }
[ "$(query)" = "$entry" ] || fail "after the repair the handler is '$(query)', not $entry"

# 3. Removed.
dpkg --purge gatehouse >"$work/purge.log" 2>&1 || { cat "$work/purge.log" >&2; fail "dpkg --purge failed"; }
[ -z "$(query)" ] || fail "after removal gatehouse:// still opens '$(query)'"
! grep -qs 'x-scheme-handler/gatehouse' /usr/share/applications/mimeinfo.cache \
  || fail "the system MIME cache still names a gatehouse:// handler"
[ ! -e /usr/bin/gatehouse ] || fail "/usr/bin/gatehouse is still there"
echo "$me: installed, repaired a stale handler, removed without a trace ($entry; $(basename "$deb"))"
