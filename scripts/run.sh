#!/usr/bin/env bash
# README's one "run" command (the desktop app will take this over later):
#
#   scripts/run.sh [GATEHOUSED FLAGS...]
#
# Installs what is missing (scripts/setup.sh; the realm-web test dependencies are skipped unless
# SETUP_SKIP_NODE=0 is set), then builds and starts gatehoused in dev mode: app "gatehouse-dev" with
# anonymous, email/password and API-key login, data and the mail outbox (outbox.jsonl) in
# ./.gatehouse-dev. Extra arguments go to gatehoused, e.g. scripts/run.sh --listen 127.0.0.1:9090
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
  PATH="$HOME/.cargo/bin:$PATH"
fi

SETUP_SKIP_NODE=${SETUP_SKIP_NODE:-1} bash "$ROOT/scripts/setup.sh"
exec cargo run --release -p gatehouse-server --bin gatehoused -- --dev "$@"
