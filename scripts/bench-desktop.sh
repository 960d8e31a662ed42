#!/usr/bin/env bash
# The desktop app's figures (docs/benchmarks.md): builds the release app and the empty-window
# baseline, then runs tests/benches/desktop.rs on Xvfb with an unlocked gnome-keyring.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
cargo build --release --locked -p gatehouse-desktop --bins --example empty_window
dbus-run-session -- bash "$ROOT/scripts/keyring-session.sh" cargo bench --locked -p gatehouse-tests --bench desktop
