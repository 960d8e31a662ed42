#!/usr/bin/env bash
# The local agent's and the `gatehouse` command's figures (docs/benchmarks.md, issue 16): builds
# the release CLI, then runs src-tauri/benches/agent.rs (a headless app with its agent, the CLI
# spawned beside it). No display or keychain needed: the bench keeps tokens in memory only.
# The release profile is fat LTO: the first run builds for several minutes on 2 cores.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
cargo build --release --locked -p gatehouse-cli
cargo bench --locked -p gatehouse-desktop --bench agent
