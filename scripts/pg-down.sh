#!/usr/bin/env bash
# Stops a throwaway cluster started by scripts/pg-up.sh DIR (fast shutdown) and deletes DIR.
#
# usage: scripts/pg-down.sh DIR
#   Safe to call when the server is already down or DIR is half-made (for use in EXIT traps): it
#   stops the server if DIR/data/postmaster.pid exists, then removes DIR. It refuses to delete a
#   folder that does not look like a pg-up.sh folder.
set -euo pipefail

if [ $# -ne 1 ] || [ -z "$1" ]; then
  echo "usage: $0 DIR" >&2
  exit 2
fi
DIR=$1
[ -e "$DIR" ] || exit 0   # nothing to do

if [ "$(id -u)" -eq 0 ]; then
  SUDO=(); AS_PG=(runuser -u postgres --)
elif [ "$(id -un)" = postgres ]; then
  SUDO=(); AS_PG=()
elif command -v sudo >/dev/null 2>&1; then
  SUDO=(sudo); AS_PG=(sudo -u postgres --)
else
  echo "pg-down: run as root (or as 'postgres', or install sudo)" >&2
  exit 1
fi

status=0
if "${SUDO[@]}" test -f "$DIR/data/postmaster.pid"; then
  PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
  if ! "${AS_PG[@]}" "$PGBIN/pg_ctl" -D "$DIR/data" -m fast -w -t 30 stop >/dev/null; then
    echo "pg-down: pg_ctl stop failed for $DIR/data" >&2
    status=1
  fi
fi

# Only delete what pg-up.sh made: DIR with nothing but data/, initdb.log, server.log and sockets.
for entry in "$DIR"/* "$DIR"/.[!.]*; do
  [ -e "$entry" ] || continue
  case ${entry##*/} in
    data | initdb.log | server.log | .s.PGSQL.*) ;;
    *) echo "pg-down: $DIR holds $entry, which pg-up.sh did not make; not deleting it" >&2; exit 1 ;;
  esac
done
"${SUDO[@]}" rm -rf -- "$DIR"
exit "$status"
