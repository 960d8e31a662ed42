#!/usr/bin/env bash
# Throwaway PostgreSQL cluster for tests: 127.0.0.1:PORT only, trust auth, owned by the 'postgres'
# OS user (initdb refuses to run as root). Durability is switched off (fsync, synchronous_commit,
# full_page_writes): this cluster is for tests only and is deleted afterwards.
#
# usage: scripts/pg-up.sh DIR [PORT]      (PORT defaults to 55432)
#   Creates DIR (which must not exist yet, or be empty), runs initdb in DIR/data, starts the server
#   with its socket in DIR and logs in DIR/server.log, and prints a DATABASE_URL on stdout:
#     postgres://postgres@127.0.0.1:PORT/postgres
#   Stop it and delete DIR with scripts/pg-down.sh DIR.
#
# IMPORTANT, the caller's job: every parent folder of DIR must be traversable (o+x) by the
# 'postgres' user, because the server runs as that user. `mktemp -d` creates a 0700 folder, so
# chmod 755 it before putting DIR inside it:
#     PGROOT=$(mktemp -d -p /tmp gatehouse-pg.XXXXXX) && chmod 755 "$PGROOT"
#     export DATABASE_URL=$(scripts/pg-up.sh "$PGROOT/pg" 55432)
#     ...
#     scripts/pg-down.sh "$PGROOT/pg"; rmdir "$PGROOT"
# Folders under /root or a 0700 $TMPDIR do not work. This script checks and names the folder that
# blocks the postgres user.
#
# Needs Debian's postgresql server package (scripts/setup.sh installs it), and root, or sudo.
set -euo pipefail

if [ $# -lt 1 ] || [ $# -gt 2 ] || [ -z "$1" ]; then
  echo "usage: $0 DIR [PORT]" >&2
  exit 2
fi
DIR=$1
PGPORT=${2:-55432}
case $DIR in /*) ;; *) DIR="$PWD/$DIR" ;; esac   # the server needs an absolute socket folder

# The newest installed server version (Debian layout: /usr/lib/postgresql/<version>/bin).
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
if [ -z "$PGBIN" ] || [ ! -x "$PGBIN/initdb" ]; then
  echo "pg-up: no PostgreSQL server found under /usr/lib/postgresql/*/bin; run scripts/setup.sh (apt package 'postgresql')" >&2
  exit 1
fi

# How to run commands as root (for chown) and as the postgres user.
if [ "$(id -u)" -eq 0 ]; then
  SUDO=(); AS_PG=(runuser -u postgres --)
elif [ "$(id -un)" = postgres ]; then
  SUDO=(); AS_PG=()
elif command -v sudo >/dev/null 2>&1; then
  SUDO=(sudo); AS_PG=(sudo -u postgres --)
else
  echo "pg-up: run as root (or as 'postgres', or install sudo): the cluster must belong to the postgres user" >&2
  exit 1
fi

mkdir -p "$DIR"
"${SUDO[@]}" chown postgres:postgres "$DIR"

# Make the "parents must be traversable" problem obvious instead of a cryptic initdb error.
if ! "${AS_PG[@]}" test -w "$DIR"; then
  blocker=""
  p=$(dirname "$DIR")
  while :; do
    if ! "${AS_PG[@]}" test -x "$p"; then blocker=$p; fi
    [ "$p" = / ] && break
    p=$(dirname "$p")
  done
  echo "pg-up: the postgres user cannot reach $DIR${blocker:+ (blocked at $blocker)}." >&2
  echo "pg-up: every parent folder must be traversable by 'postgres': chmod 755 it (mktemp -d makes 0700 folders)," >&2
  echo "pg-up: or use a DIR directly in /tmp, such as /tmp/gatehouse-pg." >&2
  exit 1
fi

if ! "${AS_PG[@]}" "$PGBIN/initdb" -D "$DIR/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 --no-sync \
    >"$DIR/initdb.log" 2>&1; then
  echo "pg-up: initdb failed; $DIR/initdb.log says:" >&2
  tail -n 20 "$DIR/initdb.log" >&2 || true
  exit 1
fi

# pg_ctl -l needs a log file the postgres user can write.
if ! "${AS_PG[@]}" "$PGBIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -t 30 start \
    -o "-c listen_addresses=127.0.0.1 -p $PGPORT -k $DIR -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
    >/dev/null; then
  echo "pg-up: the server did not start on 127.0.0.1:$PGPORT; $DIR/server.log says:" >&2
  tail -n 20 "$DIR/server.log" >&2 || true
  exit 1
fi

echo "postgres://postgres@127.0.0.1:$PGPORT/postgres"
