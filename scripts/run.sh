#!/usr/bin/env bash
# README's one "run" command: installs what is missing, builds the desktop app (release) and
# starts it on its built-in Local backend (an embedded gatehoused on 127.0.0.1 with its SQLite
# database in ~/.local/share/dev.gatehouse.desktop).
#
#   scripts/run.sh              the desktop app
#   scripts/run.sh --server     only gatehoused in dev mode (app "gatehouse-dev", data and the mail
#                               outbox in ./.gatehouse-dev); further arguments go to gatehoused
#
# With no display (a server, a container) the app runs on a virtual one (Xvfb) with a private,
# temporary keyring, so it starts and can be driven, but its sessions end with it.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
  PATH="$HOME/.cargo/bin:$PATH"
fi

SETUP_SKIP_NODE=${SETUP_SKIP_NODE:-1} bash "$ROOT/scripts/setup.sh"

if [ "${1:-}" = "--server" ]; then
  shift
  exec cargo run --release --locked -p gatehouse-server --bin gatehoused -- --dev "$@"
fi

cargo build --release --locked -p gatehouse-desktop
BIN="$ROOT/target/release/gatehouse-desktop"

if [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ]; then
  echo "run.sh: no display; starting Gatehouse on a virtual one (Xvfb) with a temporary keyring." >&2
  echo "run.sh: see it with e.g. DISPLAY=<n> import -window root shot.png; stop it with Ctrl-C." >&2
  exec dbus-run-session -- bash "$ROOT/scripts/keyring-session.sh" xvfb-run -a -s "-screen 0 1280x800x24" "$BIN" "$@"
fi
if [ -z "${DBUS_SESSION_BUS_ADDRESS:-}" ]; then
  echo "run.sh: warning: no D-Bus session bus: the keychain and deep links need one (the app will say so)." >&2
fi
exec "$BIN" "$@"
