#!/usr/bin/env bash
# Server throughput with an external load generator (issue 14; docs/benchmarks.md).
#
#   scripts/bench-server.sh
#
# Drives a release `gatehoused` with Debian's `wrk` (default: 1 thread, 64 connections, 5 s per
# row after a 1 s warm-up) and prints one table: requests per second, p50/p99 latency, and each
# row's ratio to two reference rows measured in the same run:
#   - nginx answering a fixed `return 201;` (a private nginx on a free loopback port): the ceiling,
#     one HTTP round trip and no work;
#   - the npm-locked `oidc-provider` answering the refresh-token grant (tests/peers/oidc/bench.mjs:
#     in-memory adapter, `rotateRefreshToken: false`, one refresh token replayed by every request).
# gatehoused rows, each on SQLite (the default: WAL, synchronous=FULL) and on PostgreSQL: refresh
# (`POST /api/client/v2.0/auth/session`), anonymous login, API-key login (one key reused) and
# email/password login, the last beside the raw Argon2id rate measured right before it (the
# in-process figure, 1 thread per core, of `cargo bench -p gatehouse-server --bench http` with
# GATEHOUSE_BENCH_ONLY=password).
# Every server starts fresh with rate limits off; each row fails ("errors: N", exit status 1)
# if any answer was not 2xx or a socket error happened (scripts/bench/post.lua counts them).
# It only prints figures: no rate is a pass/fail criterion.
#
# PostgreSQL: $GATEHOUSE_TEST_PG_URL if exported (a database gatehouse_bench_<pid> is created
# beside it and dropped at the end), else a throwaway cluster from scripts/pg-up.sh, restarted
# with fsync, synchronous_commit and full_page_writes on (pg-up.sh turns them off for tests;
# a login answered by gatehoused must be on disk) unless BENCH_PG_DURABLE=0.
#
# Environment:
#   BENCH_SECS=5         seconds per measured row        BENCH_WARMUP=1   warm-up seconds per row
#   BENCH_CONNS=64       wrk connections                 BENCH_THREADS=1  wrk threads
#   BENCH_ROWS=refresh,anonymous,api-key,password        which gatehoused rows
#   BENCH_DBS=sqlite,postgres                            which databases
#   BENCH_REFS=1         0 skips the nginx and oidc-provider rows (ratios then print "-")
#   BENCH_ARGON2=1       0 skips the raw Argon2id figure (builds and runs the release bench)
#   BENCH_PG_DURABLE=1   see above
#   GATEHOUSED=path      the binary (default target/release/gatehoused, built here first)
#   BENCH_PERF_DIR=dir   record the server with `perf record $BENCH_PERF_ARGS` (default
#                        "--call-graph dwarf,16384 -F 499") during each measured gatehoused row,
#                        into dir/DB-ROW.data; scripts/bench/perf-summary.py sums one up by
#                        subsystem. The release profile strips symbols, so profile a binary built
#                        with CARGO_PROFILE_RELEASE_STRIP=none (same code, plus a symbol table) in
#                        another CARGO_TARGET_DIR, passed as GATEHOUSED. Rows recorded this way
#                        include perf's own cost.
#   BENCH_SERVER_TOML=.. appended to each gatehoused's configuration (`\n` for new lines), e.g.
#                        '[passwords]\nmax_concurrent_hashes = 2'
#   BENCH_KEEP=1         keep the work folder (server logs, wrk outputs) instead of deleting it
#
# Needs: wrk, nginx, node (+ `npm ci` in tests/peers/oidc), curl, python3, PostgreSQL server and
# psql (scripts/setup.sh installs them all), root or sudo for pg-up.sh.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

SECS=${BENCH_SECS:-5}
WARMUP=${BENCH_WARMUP:-1}
CONNS=${BENCH_CONNS:-64}
THREADS=${BENCH_THREADS:-1}
ROWS=${BENCH_ROWS:-refresh,anonymous,api-key,password}
DBS=${BENCH_DBS:-sqlite,postgres}
REFS=${BENCH_REFS:-1}
ARGON2=${BENCH_ARGON2:-1}
PG_DURABLE=${BENCH_PG_DURABLE:-1}
PERF_DIR=${BENCH_PERF_DIR:-}
PERF_ARGS=${BENCH_PERF_ARGS:---call-graph dwarf,16384 -F 499}
LUA="$ROOT/scripts/bench/post.lua"
APP=bench
EMAIL=runner@example.com
PASSWORD="correct horse battery staple at noon"

say() { printf 'bench-server: %s\n' "$*" >&2; }
die() { printf 'bench-server: error: %s\n' "$*" >&2; exit 1; }
has() { [[ ",$2," == *",$1,"* ]]; }

# ---- prerequisites -----------------------------------------------------------------------------
if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
  PATH="$HOME/.cargo/bin:$PATH"
fi
need() { command -v "$1" >/dev/null 2>&1 || die "'$1' is missing ($2); scripts/setup.sh installs it"; }
need wrk "Debian package wrk"
need curl "Debian package curl"
need python3 "Debian package python3"
if [ "$REFS" = 1 ]; then
  NGINX=$(command -v nginx || ls /usr/sbin/nginx 2>/dev/null || true)
  [ -n "$NGINX" ] || die "nginx is missing (Debian package nginx); scripts/setup.sh installs it"
  need node "Debian package nodejs"
  [ -f tests/peers/oidc/node_modules/oidc-provider/package.json ] ||
    die "oidc-provider is not installed in tests/peers/oidc: run scripts/setup.sh (npm ci there)"
fi
PGBIN=""
if has postgres "$DBS"; then
  PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
  [ -n "$PGBIN" ] && [ -x "$PGBIN/psql" ] ||
    die "no PostgreSQL under /usr/lib/postgresql/*/bin (Debian package postgresql); BENCH_DBS=sqlite skips it"
fi
[ -n "$PERF_DIR" ] && need perf "Debian package linux-perf"

if [ -n "${GATEHOUSED:-}" ]; then
  BIN=$GATEHOUSED
else
  say "cargo build --release -p gatehouse-server --locked (fat LTO: minutes on 2 cores the first time)"
  cargo build --release -p gatehouse-server --locked >&2
  BIN="$ROOT/target/release/gatehoused"
fi
[ -x "$BIN" ] || die "no gatehoused binary at $BIN"

# ---- work folder, cleanup ----------------------------------------------------------------------
# Directly in /tmp and 0755: the postgres user must traverse it (scripts/pg-up.sh).
WORK=$(mktemp -d -p /tmp gatehouse-bench.XXXXXX)
chmod 755 "$WORK"
PIDS=()
PG_DIR=""
PG_ADMIN_URL=""
PG_DB=""
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  if [ -n "$PG_DB" ] && [ -z "$PG_DIR" ]; then
    "$PGBIN/psql" "$PG_ADMIN_URL" -qc "DROP DATABASE IF EXISTS $PG_DB" >/dev/null 2>&1 || true
  fi
  if [ -n "$PG_DIR" ]; then
    bash "$ROOT/scripts/pg-down.sh" "$PG_DIR" || say "warning: could not stop PostgreSQL in $PG_DIR"
  fi
  if [ "${BENCH_KEEP:-0}" = 1 ]; then
    say "kept $WORK"
  else
    rm -rf -- "$WORK"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_for URL STATUS PID LOG: until URL answers STATUS (≤ 30 s); fails if PID exits.
wait_for() {
  local url=$1 want=$2 pid=$3 log=$4 i
  for ((i = 0; i < 600; i++)); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$url" || true)" = "$want" ] && return 0
    kill -0 "$pid" 2>/dev/null || { tail -n 20 "$log" >&2; die "$url: the server exited at start"; }
    sleep 0.05
  done
  tail -n 20 "$log" >&2
  die "$url did not answer $want within 30 s"
}

# json FIELD: reads a JSON object on stdin, prints FIELD (a string) or fails.
json() {
  python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"
}

# ---- one wrk run -------------------------------------------------------------------------------
# wrk_row NAME URL [VAR=VALUE ...]: a warm-up, then the measured run; the VARs (WRK_BODY,
# WRK_AUTH, WRK_CONTENT_TYPE) go to scripts/bench/post.lua. Sets RATE P50 P99 ERRORS FIRST.
# With PERF_PID set, `perf record` samples that process during the measured run.
PERF_PID=""
PERF_OUT=""
wrk_row() {
  local name=$1 url=$2
  shift 2
  local out="$WORK/wrk-$name.txt" line kv perf_pid=""
  local -a cmd=(wrk -t"$THREADS" -c"$CONNS" --timeout 10s --latency -s "$LUA")
  if [ "$WARMUP" != 0 ]; then
    env "$@" "${cmd[@]}" -d"${WARMUP}s" "$url" >"$WORK/wrk-$name-warmup.txt" 2>&1 ||
      die "wrk failed for $name (warm-up): $(tail -n 3 "$WORK/wrk-$name-warmup.txt")"
  fi
  if [ -n "$PERF_PID" ]; then
    # shellcheck disable=SC2086 # PERF_ARGS is a list of options
    perf record $PERF_ARGS -p "$PERF_PID" -o "$PERF_OUT" -- sleep "$SECS" \
      >"$WORK/perf-$name.txt" 2>&1 &
    perf_pid=$!
  fi
  env "$@" "${cmd[@]}" -d"${SECS}s" "$url" >"$out" 2>&1 ||
    die "wrk failed for $name: $(tail -n 3 "$out")"
  if [ -n "$perf_pid" ]; then
    wait "$perf_pid" || say "warning: perf record failed for $name: $(tail -n 2 "$WORK/perf-$name.txt")"
  fi
  line=$(sed -n 's/^wrk-result //p' "$out")
  [ -n "$line" ] || die "no wrk-result line from scripts/bench/post.lua for $name; wrk said: $(cat "$out")"
  local requests="" rate="" p50="" p99="" non2xx="" first="" sock=""
  for kv in $line; do
    case ${kv%%=*} in
      requests) requests=${kv#*=} ;;
      rate) rate=${kv#*=} ;;
      p50_ms) p50=${kv#*=} ;;
      p99_ms) p99=${kv#*=} ;;
      non2xx) non2xx=${kv#*=} ;;
      first_status) first=${kv#*=} ;;
      socket_errors) sock=${kv#*=} ;;
    esac
  done
  RATE=$rate P50=$p50 P99=$p99 ERRORS=$((non2xx + sock)) FIRST=$first
  # A row in which not one answer arrived measured nothing (all requests still in flight).
  if [ "$requests" = 0 ]; then ERRORS=$((ERRORS + 1)); fi
  say "$(printf '%-34s %10s req/s  p50 %8s ms  p99 %8s ms  (%s requests, errors %s)' \
    "$name" "$rate" "$p50" "$p99" "$requests" "$ERRORS")"
}

# Results, one TSV line each: position in the table, label, database, rate, p50, p99, errors,
# first bad status, note. The table groups each request's SQLite and PostgreSQL rows.
RESULTS="$WORK/results.tsv"
: >"$RESULTS"
FAILED=0
record() {   # record POSITION LABEL DB [NOTE]
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$RATE" "$P50" "$P99" "$ERRORS" \
    "$FIRST" "${4:-}" >>"$RESULTS"
  if [ "$ERRORS" != 0 ]; then FAILED=1; fi
}

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- raw Argon2id (built first, so no compile runs beside a measurement) ----------------------
RAW_RATE=""
RAW_THREADS=""
if has password "$ROWS" && [ "$ARGON2" = 1 ]; then
  say "building the release bench (cargo bench --no-run -p gatehouse-server --bench http)"
  cargo bench --locked --no-run -p gatehouse-server --bench http >&2 ||
    say "warning: the bench did not build; the raw Argon2id row will be missing"
fi

# ---- reference rows ----------------------------------------------------------------------------
OIDC_VERSION=""
if [ "$REFS" = 1 ]; then
  mkdir -p "$WORK/nginx"
  port=$(free_port)
  cat >"$WORK/nginx/nginx.conf" <<EOF
daemon off;
worker_processes auto;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $WORK/nginx/body;
    proxy_temp_path $WORK/nginx/proxy;
    fastcgi_temp_path $WORK/nginx/fastcgi;
    uwsgi_temp_path $WORK/nginx/uwsgi;
    scgi_temp_path $WORK/nginx/scgi;
    server {
        listen 127.0.0.1:$port;
        location / { return 201; }
    }
}
EOF
  "$NGINX" -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" -e "$WORK/nginx/error.log" \
    </dev/null >/dev/null 2>>"$WORK/nginx/error.log" &
  PIDS+=($!)
  wait_for "http://127.0.0.1:$port/" 201 "${PIDS[-1]}" "$WORK/nginx/error.log"
  wrk_row nginx "http://127.0.0.1:$port/"
  record 0 "nginx \`return 201\` (ceiling)" "-"
  NGINX_RATE=$RATE
  kill "${PIDS[-1]}"; wait "${PIDS[-1]}" 2>/dev/null || true; unset 'PIDS[-1]'

  OIDC_VERSION=$(python3 -c 'import json; print(json.load(open("tests/peers/oidc/node_modules/oidc-provider/package.json"))["version"])')
  (cd tests/peers/oidc && NODE_ENV=production OP_BENCH_PORT=0 exec node bench.mjs) \
    </dev/null >"$WORK/oidc.log" 2>&1 &
  PIDS+=($!)
  for ((i = 0; i < 400; i++)); do
    grep -q '^ready ' "$WORK/oidc.log" && break
    kill -0 "${PIDS[-1]}" 2>/dev/null || die "oidc-provider exited at start: $(cat "$WORK/oidc.log")"
    sleep 0.05
  done
  read -r _ port token < <(grep '^ready ' "$WORK/oidc.log") ||
    die "oidc-provider did not start within 20 s: $(cat "$WORK/oidc.log")"
  wrk_row oidc-provider "http://127.0.0.1:$port/token" \
    WRK_BODY="grant_type=refresh_token&refresh_token=$token" \
    WRK_CONTENT_TYPE=application/x-www-form-urlencoded \
    WRK_AUTH="Basic $(printf '%s' bench-client:bench-secret | base64)"
  record 1 "oidc-provider $OIDC_VERSION refresh grant" "memory" \
    "rotateRefreshToken: false (one token reused); opaque access token + RS256 ID token"
  OIDC_RATE=$RATE
  grep -q server_error "$WORK/oidc.log" && say "warning: oidc-provider logged server_error (see $WORK/oidc.log)"
  kill "${PIDS[-1]}"; wait "${PIDS[-1]}" 2>/dev/null || true; unset 'PIDS[-1]'
fi

# ---- raw Argon2id figure -----------------------------------------------------------------------
# raw_argon2 DB: measured right before each email/password row, so both see the same machine (other
# work on it moves an Argon2id rate by tens of percent within a minute). Sets RAW_RATE.
raw_argon2() {
  local db=$1 out="$WORK/argon2-$1.txt"
  RAW_RATE=""
  say "raw Argon2id: cargo bench -p gatehouse-server --bench http (GATEHOUSE_BENCH_ONLY=password)"
  # The figure is a reference only: a bench that does not build (work in progress in the tree)
  # costs the row, not the run.
  if GATEHOUSE_BENCH_ONLY=password GATEHOUSE_BENCH_SECS=$SECS GATEHOUSE_BENCH_PASSWORD_LOGINS=8 \
    cargo bench --locked -q -p gatehouse-server --bench http >"$out" 2>&1; then
    # The row with the most threads: "raw argon2id hash (in-process)   2t   85.1  23.40 ...".
    read -r RAW_THREADS RAW_RATE RAW_P50 RAW_P99 < <(awk '/^raw argon2id hash/ {
        split(substr($0, 32), f, " "); t = f[1]; sub(/t$/, "", t)
        if (t + 0 >= best) { best = t + 0; line = t " " f[2] " " f[3] " " f[4] } }
        END { print line }' "$out") || true
  fi
  if [ -n "$RAW_RATE" ]; then
    RATE=$RAW_RATE P50=$RAW_P50 P99=$RAW_P99 ERRORS=0 FIRST=0
    record 6 "raw Argon2id, $RAW_THREADS threads (in-process, no HTTP)" "$db" \
      "cargo bench --bench http, right before the $db login row"
  else
    say "warning: no raw Argon2id figure (cargo bench failed or printed no raw row): $(tail -n 5 "$out")"
  fi
}

# ---- PostgreSQL --------------------------------------------------------------------------------
PG_URL=""
PG_SETTINGS=""
start_postgres() {
  local port admin
  if [ -n "${GATEHOUSE_TEST_PG_URL:-}" ]; then
    admin="${GATEHOUSE_TEST_PG_URL%/*}/postgres"
    PG_ADMIN_URL=$admin
  else
    PG_DIR="$WORK/pg"
    port=55532
    port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
    # The port may still be taken when the server binds it (this range is also where the
    # kernel picks wrk's client ports): then the next one, as scripts/test.sh does.
    local attempt started=0
    for attempt in 1 2 3 4 5; do
      while port_busy "$port"; do port=$((port + 1)); done
      if bash "$ROOT/scripts/pg-up.sh" "$PG_DIR" "$port" >/dev/null; then started=1; break; fi
      say "PostgreSQL did not start on port $port (attempt $attempt); trying the next port"
      bash "$ROOT/scripts/pg-down.sh" "$PG_DIR" || true
      port=$((port + 1))
    done
    [ "$started" = 1 ] || die "scripts/pg-up.sh failed five times (see its messages above)"
    admin="postgres://postgres@127.0.0.1:$port/postgres"
    PG_ADMIN_URL=$admin
    if [ "$PG_DURABLE" = 1 ]; then
      local -a as_pg=(runuser -u postgres --)
      [ "$(id -u)" -eq 0 ] || as_pg=(sudo -u postgres --)
      "${as_pg[@]}" "$PGBIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 30 restart \
        -o "-c listen_addresses=127.0.0.1 -p $port -k $PG_DIR" >/dev/null ||
        die "restarting PostgreSQL with durability on failed; $PG_DIR/server.log: $(tail -n 5 "$PG_DIR/server.log")"
    fi
  fi
  PG_DB="gatehouse_bench_$$"
  "$PGBIN/psql" "$admin" -v ON_ERROR_STOP=1 -qc "CREATE DATABASE $PG_DB" >/dev/null ||
    die "cannot create database $PG_DB at $admin"
  PG_URL="${admin%/*}/$PG_DB"
  PG_SETTINGS=$("$PGBIN/psql" "$PG_URL" -AtXc "SELECT version()" | cut -d' ' -f1-2)
  PG_SETTINGS+=", $("$PGBIN/psql" "$PG_URL" -AtXc "SELECT string_agg(name || '=' || setting, ', ' ORDER BY name) FROM pg_settings WHERE name IN ('fsync', 'synchronous_commit', 'full_page_writes')")"
}

# ---- gatehoused rows ---------------------------------------------------------------------------
run_gatehoused() {   # run_gatehoused DB
  local db=$1 dir="$WORK/gatehoused-$1" port base app log pid refresh key db_line=""
  mkdir -p "$dir"
  port=$(free_port)
  if [ "$db" = postgres ]; then db_line="database_url = \"$PG_URL\""; fi
  cat >"$dir/gatehoused.toml" <<EOF
listen = "127.0.0.1:$port"
data_dir = "$dir"
$db_line

[rate_limits]
enabled = false

[apps.$APP]
name = "Load Test"
providers = ["anon-user", "local-userpass", "api-key"]

[apps.$APP.userpass]
auto_confirm = true
EOF
  if [ -n "${BENCH_SERVER_TOML:-}" ]; then printf '%b\n' "$BENCH_SERVER_TOML" >>"$dir/gatehoused.toml"; fi
  log="$dir/gatehoused.log"
  env -u GATEHOUSE_CONFIG -u GATEHOUSE_LISTEN -u GATEHOUSE_DATABASE_URL -u GATEHOUSE_DATA_DIR \
    -u GATEHOUSE_PUBLIC_URL -u GATEHOUSE_DEV \
    "$BIN" --config "$dir/gatehoused.toml" </dev/null >/dev/null 2>"$log" &
  pid=$!
  PIDS+=("$pid")
  base="http://127.0.0.1:$port"
  wait_for "$base/health/ready" 204 "$pid" "$log"
  app="$base/api/client/v2.0/app/$APP"

  # One confirmed email/password user, its refresh token, one API key.
  local body status
  body=$(python3 -c 'import json, sys; print(json.dumps({"email": sys.argv[1], "password": sys.argv[2]}))' "$EMAIL" "$PASSWORD")
  status=$(curl -s -o "$dir/setup.json" -w '%{http_code}' -H 'Content-Type: application/json' \
    -d "$body" "$app/auth/providers/local-userpass/register")
  [ "$status" = 204 ] || die "register answered $status: $(cat "$dir/setup.json")"
  local login
  login=$(python3 -c 'import json, sys; print(json.dumps({"username": sys.argv[1], "password": sys.argv[2]}))' "$EMAIL" "$PASSWORD")
  status=$(curl -s -o "$dir/setup.json" -w '%{http_code}' -H 'Content-Type: application/json' \
    -d "$login" "$app/auth/providers/local-userpass/login")
  [ "$status" = 200 ] || die "password login answered $status: $(cat "$dir/setup.json")"
  refresh=$(json refresh_token <"$dir/setup.json")
  status=$(curl -s -o "$dir/setup.json" -w '%{http_code}' -H 'Content-Type: application/json' \
    -H "Authorization: Bearer $refresh" -d '{"name": "bench"}' "$base/api/client/v2.0/auth/api_keys")
  [ "$status" = 201 ] || die "API key creation answered $status: $(cat "$dir/setup.json")"
  key=$(json key <"$dir/setup.json")
  local key_body
  key_body=$(python3 -c 'import json, sys; print(json.dumps({"key": sys.argv[1]}))' "$key")
  rm -f "$dir/setup.json"

  if [ -n "$PERF_DIR" ]; then mkdir -p "$PERF_DIR"; PERF_PID=$pid; fi
  # Refresh first: every login below opens a session for the same user, and past 50 sessions the
  # oldest one (the refreshed one) is evicted. Email/password before API key, so that it does not
  # inherit thousands of sessions (as crates/gatehouse-server/benches/http.rs does).
  local row
  for row in refresh password api-key anonymous; do
    has "$row" "$ROWS" || continue
    PERF_OUT="$PERF_DIR/$db-$row.data"
    case $row in
      refresh)
        wrk_row "$db-refresh" "$base/api/client/v2.0/auth/session" WRK_AUTH="Bearer $refresh"
        record 2 "gatehoused refresh" "$db" ;;
      anonymous)
        wrk_row "$db-anonymous" "$app/auth/providers/anon-user/login" \
          WRK_BODY='{}' WRK_CONTENT_TYPE=application/json
        record 3 "gatehoused anonymous login" "$db" "a new user each" ;;
      api-key)
        wrk_row "$db-api-key" "$app/auth/providers/api-key/login" \
          WRK_BODY="$key_body" WRK_CONTENT_TYPE=application/json
        record 4 "gatehoused API-key login" "$db" "one key reused" ;;
      password)
        if [ "$ARGON2" = 1 ]; then raw_argon2 "$db"; fi
        wrk_row "$db-password" "$app/auth/providers/local-userpass/login" \
          WRK_BODY="$login" WRK_CONTENT_TYPE=application/json
        local note="one Argon2id verification each"
        if [ -n "$RAW_RATE" ]; then
          note+="; $(awk -v a="$RATE" -v b="$RAW_RATE" 'BEGIN { printf "%.0f", 100 * a / b }')% of raw Argon2id"
        fi
        record 6 "gatehoused email/password login" "$db" "$note" ;;
    esac
  done
  PERF_PID=""
  kill -0 "$pid" 2>/dev/null || die "gatehoused ($db) exited during the run: $(tail -n 20 "$log")"
  kill "$pid"; wait "$pid" 2>/dev/null || true; unset 'PIDS[-1]'
}

SQLITE_FS=""
for db in sqlite postgres; do
  has "$db" "$DBS" || continue
  if [ "$db" = postgres ]; then start_postgres; fi
  if [ "$db" = sqlite ]; then SQLITE_FS=$(df -T "$WORK" | awk 'NR == 2 { print $2 " (" $1 " on " $7 ")" }'); fi
  run_gatehoused "$db"
done

# ---- report ------------------------------------------------------------------------------------
ratio() {   # ratio RATE REF SCALE FORMAT: SCALE*RATE/REF, or "-" without a reference
  if [ -z "$2" ]; then echo "-"; else awk -v a="$1" -v b="$2" -v s="$3" -v f="$4" 'BEGIN { printf f, s * a / b }'; fi
}
if [ -n "${GATEHOUSED:-}" ]; then
  built="given by GATEHOUSED"
else
  built="built from commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
  if [ -n "$(git status --porcelain -- crates Cargo.toml Cargo.lock 2>/dev/null)" ]; then
    built+=" + uncommitted changes"
  fi
fi
echo
echo "gatehoused throughput, external load generator ($(date -u '+%Y-%m-%d %H:%M UTC'))"
echo "  machine:   $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(uname -r)"
echo "  load avg:  $LOAD_START at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end (other work skews every figure)"
echo "  load:      $(wrk -v 2>&1 | head -n1 | cut -d' ' -f1-2), $THREADS thread(s), $CONNS connections, ${SECS} s per row after ${WARMUP} s warm-up, on the same cores"
echo "  server:    $BIN ($built), rate limits off, log level ${GATEHOUSE_LOG:-default}"
if [ -n "$SQLITE_FS" ]; then echo "  sqlite:    WAL, synchronous=FULL, on $SQLITE_FS"; fi
if [ -n "$PG_SETTINGS" ]; then echo "  postgres:  $PG_SETTINGS"; fi
if [ -n "$OIDC_VERSION" ]; then
  echo "  reference: nginx $("$NGINX" -v 2>&1 | cut -d/ -f2) (worker_processes auto); node $(node --version) oidc-provider $OIDC_VERSION (NODE_ENV=production)"
fi
echo
FMT='| %-52s | %-8s | %9s | %8s | %8s | %8s | %8s | %-10s | %s |\n'
# shellcheck disable=SC2059 # the format is ours
printf "$FMT" row db "req/s" "p50 ms" "p99 ms" "vs nginx" "vs OP" errors note
# shellcheck disable=SC2059
printf "$FMT" "$(printf -- '-%.0s' {1..52})" -------- --------: -------: -------: -------: \
  -------: ---------- ----
while IFS=$'\t' read -r _ label db rate p50 p99 errors first note; do
  errs="ok"
  if [ "$errors" != 0 ]; then errs="errors: $errors"; [ "$first" != 0 ] && note="first bad status $first; $note"; fi
  # shellcheck disable=SC2059
  printf "$FMT" "$label" "$db" "$(printf '%.0f' "$rate")" "$(printf '%.2f' "$p50")" \
    "$(printf '%.2f' "$p99")" "$(ratio "$rate" "${NGINX_RATE:-}" 100 '%.1f %%')" \
    "$(ratio "$rate" "${OIDC_RATE:-}" 1 '%.2f x')" "$errs" "$note"
done < <(sort -s -t$'\t' -k1,1n "$RESULTS")
echo
echo "req/s: answers per second (a row with a non-2xx answer, a socket error or no answer at all"
echo "fails: errors: N). p50/p99: wrk's latency histogram. vs nginx: share of the fixed-201 ceiling;"
echo "vs OP: multiple of the oidc-provider refresh grant. Figures only: no rate fails the run."
if [ -n "$PERF_DIR" ]; then echo "perf data: $PERF_DIR/<db>-<row>.data (perf report -i FILE --no-children)"; fi
if [ "$FAILED" = 1 ]; then
  say "some rows had non-2xx answers or socket errors (see 'errors'); logs in $WORK"
  BENCH_KEEP=1
  exit 1
fi
