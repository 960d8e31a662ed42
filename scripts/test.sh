#!/usr/bin/env bash
# README's one test command, and exactly what CI runs (.ci/run):
#
#   scripts/test.sh [CARGO TEST ARGS...] [-- TEST BINARY ARGS...]
#
#   1. scripts/setup.sh                     install whatever is missing (Debian packages, realm-web)
#   2. a throwaway PostgreSQL (scripts/pg-up.sh) in a fresh folder under /tmp on a free port
#      (55432 or the next free one; PG_PORT=N picks another start), with database gatehouse_test, and
#        GATEHOUSE_TEST_PG_URL=postgres://postgres@127.0.0.1:$PORT/gatehouse_test
#      exported to the tests. A trap always stops it and removes the folder.
#   3. cargo build --workspace --bins --locked   (the e2e tests start the real gatehoused binary)
#   4. gates (whole-workspace runs only; TEST_SKIP_LINT=1 skips them): cargo fmt --all --check,
#      scripts/check-lines.py (no Rust line over 100 characters, no ui/ line over 120), and
#      cargo clippy --workspace --all-targets -- -D warnings
#   5. cargo test --workspace --locked [ARGS] -- --test-threads=2 [TEST BINARY ARGS], inside
#        dbus-run-session -- bash scripts/keyring-session.sh ...
#      i.e. on a private D-Bus session bus with an unlocked gnome-keyring whose files live in a
#      temp folder (GATEHOUSE_TEST_KEYRING=1 tells the OS-keychain tests it is there).
#   6. scripts/package-deb.sh --debug and scripts/package-server-deb.sh --debug (TEST_SKIP_DEB=1
#      skips them), and in CI (or with TEST_DEB_INSTALL=1, as root) scripts/check-deb-install.sh
#      (install, repair, purge) and scripts/check-server-deb.sh (install, the unit's commands run
#      as the unit would, purge).
#
# Examples:
#   scripts/test.sh                                   everything
#   scripts/test.sh -p gatehouse-proto                one package (then --workspace is left out)
#   scripts/test.sh --test e2e realm_web -- --nocapture
#   scripts/test.sh --test e2e keychain               the SDK on the real OS keychain
#
# Exits with cargo's exit code. Prints how long each phase took.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
  PATH="$HOME/.cargo/bin:$PATH"
fi

say() { printf '==> %s\n' "$*"; }

# ---- timings -----------------------------------------------------------------------------------
T0=$EPOCHREALTIME
TIMINGS=()
PHASE=""
PHASE_T=""
phase() {   # phase NAME: ends the running phase (if any) and starts NAME
  phase_end
  PHASE=$1
  PHASE_T=$EPOCHREALTIME
  say "$PHASE"
}
phase_end() {
  if [ -n "$PHASE" ]; then
    local secs
    secs=$(awk -v a="$PHASE_T" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
    TIMINGS+=("$(printf '%-10s %7s s' "$PHASE" "$secs")")
    say "$PHASE took $secs s"
    PHASE=""
  fi
}

# ---- cleanup: always stop PostgreSQL and remove its folder ---------------------------------------
PGROOT=""
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  phase_end
  if [ -n "$PGROOT" ] && [ -d "$PGROOT" ]; then
    local t=$EPOCHREALTIME
    bash "$ROOT/scripts/pg-down.sh" "$PGROOT/pg" || echo "test.sh: warning: could not stop PostgreSQL in $PGROOT/pg" >&2
    rmdir "$PGROOT" 2>/dev/null || echo "test.sh: warning: $PGROOT was not removed" >&2
    TIMINGS+=("$(printf '%-10s %7s s' pg-down "$(awk -v a="$t" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')")")
  fi
  if [ ${#TIMINGS[@]} -gt 0 ]; then
    echo "==> timings:"
    printf '    %s\n' "${TIMINGS[@]}"
    printf '    %-10s %7s s\n' total "$(awk -v a="$T0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- split the arguments: cargo's own, and the test binaries' (after --) --------------------------
CARGO_ARGS=()
HARNESS_ARGS=()
seen_dashdash=0
for arg in "$@"; do
  if [ $seen_dashdash -eq 0 ] && [ "$arg" = "--" ]; then
    seen_dashdash=1
  elif [ $seen_dashdash -eq 0 ]; then
    CARGO_ARGS+=("$arg")
  else
    HARNESS_ARGS+=("$arg")
  fi
done
WORKSPACE=(--workspace)
for arg in "${CARGO_ARGS[@]}"; do
  case $arg in
    -p | -p?* | --package | --package=*) WORKSPACE=() ;;   # with -p, --workspace would win
  esac
done
THREADS=(--test-threads=2)
for arg in "${HARNESS_ARGS[@]}"; do
  case $arg in --test-threads | --test-threads=*) THREADS=() ;; esac
done

# ---- 1. setup ----------------------------------------------------------------------------------
phase setup
bash "$ROOT/scripts/setup.sh"

# The test step needs a session bus and gnome-keyring (scripts/keyring-session.sh).
missing=()
for tool in dbus-run-session dbus-send gnome-keyring-daemon secret-tool; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "test.sh: ${missing[*]} not found: the tests need a D-Bus session and gnome-keyring (the OS keychain)." >&2
  echo "test.sh: run scripts/setup.sh (it installs the Debian packages dbus gnome-keyring libsecret-tools)." >&2
  exit 1
fi

# ---- 2. PostgreSQL -----------------------------------------------------------------------------
phase postgres
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
[ -n "$PGBIN" ] || { echo "test.sh: no PostgreSQL server installed" >&2; exit 1; }
# Directly in /tmp (not $TMPDIR, which may sit in a folder the postgres user cannot enter);
# mktemp makes it 0700, and the postgres user must traverse it.
PGROOT=$(mktemp -d -p /tmp gatehouse-pg.XXXXXX)
chmod 755 "$PGROOT"

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
PORT=${PG_PORT:-55432}
started=0
for attempt in 1 2 3 4 5; do
  while port_busy "$PORT"; do PORT=$((PORT + 1)); done
  if bash "$ROOT/scripts/pg-up.sh" "$PGROOT/pg" "$PORT" >/dev/null; then
    started=1
    break
  fi
  echo "test.sh: PostgreSQL did not start on port $PORT (attempt $attempt); trying the next port" >&2
  bash "$ROOT/scripts/pg-down.sh" "$PGROOT/pg" || true
  PORT=$((PORT + 1))
done
[ $started -eq 1 ] || { echo "test.sh: could not start PostgreSQL" >&2; exit 1; }

"$PGBIN/psql" "postgres://postgres@127.0.0.1:$PORT/postgres" -v ON_ERROR_STOP=1 -qc "CREATE DATABASE gatehouse_test"
export GATEHOUSE_TEST_PG_URL="postgres://postgres@127.0.0.1:$PORT/gatehouse_test"
say "PostgreSQL is up: $GATEHOUSE_TEST_PG_URL (folder $PGROOT/pg)"

# ---- 3. build ----------------------------------------------------------------------------------
phase build
# A one-shot build (CI, a fresh clone) gains nothing from incremental caches, which were 12 of the
# 29 GB one CI run left behind when its machine ran out of disk.
if [ -n "${CI:-}" ]; then export CARGO_INCREMENTAL=0; fi
say "free disk before building: $(df -h --output=avail . | tail -1 | tr -d ' ')"
rc=0
cargo build --workspace --bins --locked || rc=$?
if [ $rc -ne 0 ]; then
  echo "test.sh: cargo build failed (exit $rc)" >&2
  exit "$rc"
fi

# ---- 4. gates: format, line length, lints -------------------------------------------------------
# Whole-workspace runs only (a filtered run is for iterating). TEST_SKIP_LINT=1 skips them.
if [ "${TEST_SKIP_LINT:-0}" != 1 ] && [ ${#WORKSPACE[@]} -gt 0 ]; then
  phase lint
  cargo fmt --all --check || { echo "test.sh: cargo fmt --check failed: run cargo fmt --all" >&2; exit 1; }
  python3 "$ROOT/scripts/check-lines.py" || { echo "test.sh: lines over the limit (see above)" >&2; exit 1; }
  cargo clippy --workspace --all-targets --locked -- -D warnings \
    || { echo "test.sh: clippy found problems (see above)" >&2; exit 1; }
fi

# ---- 5. test -----------------------------------------------------------------------------------
phase test
dbus-run-session -- bash "$ROOT/scripts/keyring-session.sh" \
  cargo test "${WORKSPACE[@]}" --locked "${CARGO_ARGS[@]}" -- "${THREADS[@]}" "${HARNESS_ARGS[@]}" || rc=$?
phase_end
say "target folder: $(du -sh target 2>/dev/null | cut -f1); free disk: $(df -h --output=avail . | tail -1 | tr -d ' ')"
if [ $rc -ne 0 ]; then
  echo "test.sh: cargo test failed (exit $rc)" >&2
  exit "$rc"
fi

# ---- 6. the .debs: the desktop app's and the server's --------------------------------------------
# Debug packages: they check the packaging (binary, desktop entry with %u, icons, Depends; the
# server's hardened unit, conffile and maintainer scripts) without a second, release build of
# everything. TEST_SKIP_DEB=1 skips them while iterating.
if [ "${TEST_SKIP_DEB:-0}" != 1 ] && [ ${#WORKSPACE[@]} -gt 0 ]; then
  phase deb
  deb_rc=0
  bash "$ROOT/scripts/package-deb.sh" --debug || deb_rc=$?
  server_deb_rc=0
  bash "$ROOT/scripts/package-server-deb.sh" --debug || server_deb_rc=$?
  # Installing them for real (into /usr, /etc, a system user) is for throwaway machines: CI, or
  # when asked.
  if { [ -n "${CI:-}" ] || [ "${TEST_DEB_INSTALL:-0}" = 1 ]; } && [ "$(id -u)" = 0 ]; then
    if [ $deb_rc -eq 0 ]; then
      bash "$ROOT/scripts/check-deb-install.sh" --debug || deb_rc=$?
    fi
    if [ $server_deb_rc -eq 0 ]; then
      bash "$ROOT/scripts/check-server-deb.sh" --debug || server_deb_rc=$?
    fi
  fi
  [ $deb_rc -ne 0 ] || deb_rc=$server_deb_rc
  phase_end
  [ $deb_rc -eq 0 ] || echo "test.sh: a .deb failed its checks (exit $deb_rc; see above)" >&2
  [ $rc -ne 0 ] || rc=$deb_rc
fi
exit "$rc"
