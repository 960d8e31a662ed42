#!/usr/bin/env bash
# Installs the server's .deb (scripts/package-server-deb.sh) on this machine for real and checks
# what the package promises, with dpkg and the unit itself:
#
#   1. installed: the gatehoused system user, /etc/gatehoused root:gatehoused 0750 with the
#      conffile 0640, /var/lib/gatehoused gatehoused 0700, the unit enabled;
#   2. the unit: `systemd-analyze verify`, and `systemd-analyze security --offline=yes` with its
#      exposure score printed (at most MAX_EXPOSURE), when systemd-analyze exists;
#   3. the unit's ExecStartPre (`admin migrate`) and ExecStart run by hand as systemd would run
#      them: as its User/Group, with its UMask, WorkingDirectory, StateDirectory, Environment and
#      EnvironmentFile, no new privileges and no capabilities, and — in a private mount
#      namespace — ProtectSystem=strict (everything read-only but the state directory and the API
#      file systems), PrivateTmp and ProtectHome. Migrate twice (the second applies nothing), then
#      the server answers `GET /api/client/v2.0/app/<app>/location` and an anonymous login on
#      its port, writes only private files, and stops cleanly on SIGTERM;
#   4. removed (`dpkg --remove`): data, settings and user are kept; purged (`dpkg --purge`):
#      nothing is left — files, directories, unit symlinks, the user and the group.
#
#   scripts/check-server-deb.sh [--debug]    (the profile whose .deb package-server-deb.sh built)
#
# systemd need not run (it is not PID 1 in CI's containers): nothing here starts a unit. The
# sandbox settings that need systemd itself (system-call filter, namespaces, device and kernel
# protections) are checked statically by step 2. It installs into /usr and /etc, so it runs only
# as root, never over a gatehoused package, user or data directory that is already there, and
# scripts/test.sh calls it only in CI or with TEST_DEB_INSTALL=1.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
me=check-server-deb.sh
MAX_EXPOSURE=2.0
APP=deb-check
PROFILE=release
case "${1:-}" in
  --debug) PROFILE=debug ;;
  "") ;;
  *) echo "$me: unknown argument '$1' (usage: $me [--debug])" >&2; exit 2 ;;
esac
fail() { echo "$me: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || fail "must run as root (it installs the package)"
for tool in dpkg setpriv unshare curl findmnt python3; do
  command -v "$tool" >/dev/null 2>&1 \
    || fail "$tool not found (Debian packages: dpkg, util-linux, mount, curl, python3)"
done
arch=$(dpkg --print-architecture)
deb=$(ls -t "$ROOT"/target/$PROFILE/gatehoused_*_"$arch".deb 2>/dev/null | head -1 || true)
[ -n "$deb" ] || fail "no gatehoused_*_$arch.deb in target/$PROFILE: run scripts/package-server-deb.sh${1:+ $1} first"
status=$(dpkg-query -W -f '${db:Status-Status}' gatehoused 2>/dev/null || true)
[ -z "$status" ] || [ "$status" = not-installed ] \
  || fail "a gatehoused package is already here (state: $status); not touching it"
! getent passwd gatehoused >/dev/null || fail "a user gatehoused already exists; not touching it"
! getent group gatehoused >/dev/null || fail "a group gatehoused already exists; not touching it"
for path in /var/lib/gatehoused /etc/gatehoused /etc/default/gatehoused; do
  [ ! -e "$path" ] || fail "$path already exists; not touching it"
done

work=$(mktemp -d)
SERVER=""
INSTALLED=0
cleanup() {
  local rc=$?
  if [ -n "$SERVER" ]; then kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; fi
  if [ $INSTALLED = 1 ]; then
    rm -f /etc/default/gatehoused
    dpkg --purge gatehoused >/dev/null 2>&1 || echo "$me: warning: dpkg --purge gatehoused failed" >&2
  fi
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT

mode_owner() { stat -c '%a %U:%G' "$1"; }
expect_mode() {   # expect_mode PATH "MODE USER:GROUP"
  [ -e "$1" ] || fail "$1 is missing"
  [ "$(mode_owner "$1")" = "$2" ] || fail "$1 is $(mode_owner "$1"), not $2"
}

# ---- 1. install ----------------------------------------------------------------------------------
INSTALLED=1
dpkg -i "$deb" >"$work/install.log" 2>&1 || { cat "$work/install.log" >&2; fail "dpkg -i $(basename "$deb") failed"; }
uid=$(id -u gatehoused 2>/dev/null) || fail "the package made no gatehoused user"
[ "$uid" -lt 1000 ] || fail "gatehoused is not a system user (uid $uid)"
[ "$(getent passwd gatehoused | cut -d: -f7)" = /usr/sbin/nologin ] || fail "gatehoused has a login shell"
expect_mode /etc/gatehoused "750 root:gatehoused"
expect_mode /etc/gatehoused/gatehoused.toml "640 root:gatehoused"
expect_mode /var/lib/gatehoused "700 gatehoused:gatehoused"
unit=/lib/systemd/system/gatehoused.service
[ -f "$unit" ] || fail "no $unit"
[ -L /etc/systemd/system/multi-user.target.wants/gatehoused.service ] \
  || fail "the unit is not enabled (no multi-user.target.wants/gatehoused.service)"
echo "$me: installed $(basename "$deb"): user gatehoused (uid $uid), unit enabled"

# ---- 2. the unit, statically ---------------------------------------------------------------------
if command -v systemd-analyze >/dev/null 2>&1; then
  # Without systemd as PID 1 it still parses the unit and checks its commands exist.
  systemd-analyze verify "$unit" >"$work/verify.log" 2>&1 \
    || { cat "$work/verify.log" >&2; fail "systemd-analyze verify $unit found problems"; }
  [ ! -s "$work/verify.log" ] || { cat "$work/verify.log" >&2; fail "systemd-analyze verify printed warnings"; }
  systemd-analyze security --offline=yes "$unit" >"$work/security.log" 2>&1 || true
  exposure=$(sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p' "$work/security.log")
  [ -n "$exposure" ] || { cat "$work/security.log" >&2; fail "systemd-analyze security printed no exposure level"; }
  echo "$me: systemd-analyze verify: clean; security exposure $exposure (0 best, 10 worst; at most $MAX_EXPOSURE)"
  awk -v e="$exposure" -v m="$MAX_EXPOSURE" 'BEGIN { exit !(e <= m) }' \
    || { grep '✗' "$work/security.log" >&2 || true; fail "exposure $exposure is above $MAX_EXPOSURE"; }
else
  echo "$me: note: systemd-analyze not found (package systemd): the unit was not verified or scored"
fi

# ---- 3. the unit's commands, run as systemd would run them ----------------------------------------
setting() { sed -n "s/^$1=//p" "$unit"; }   # every value of a setting, one a line
one() {
  local v
  v=$(setting "$1")
  [ -n "$v" ] && [ "$(wc -l <<<"$v")" = 1 ] || fail "the unit has no single $1= (got: '$v')"
  printf '%s' "$v"
}
user=$(one User)
group=$(one Group)
umask_=$(one UMask)
workdir=$(one WorkingDirectory)
state=/var/lib/$(one StateDirectory)
state_mode=$(one StateDirectoryMode)
exec_pre=$(one ExecStartPre)
exec_start=$(one ExecStart)
envfile=$(one EnvironmentFile)
envfile=${envfile#-}   # '-': optional

# A free port, given through the unit's EnvironmentFile (an admin's file, not the package's).
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
printf 'GATEHOUSE_LISTEN=127.0.0.1:%s\n' "$port" >"$envfile"
chmod 600 "$envfile"
# An app to ask for, in the conffile (which makes it a modified conffile: purge must remove it).
printf '\n[apps.%s]\nproviders = ["anon-user"]\n' "$APP" >>/etc/gatehoused/gatehoused.toml

# systemd: StateDirectory= is made (or re-owned) for User/Group with StateDirectoryMode.
install -d -o "$user" -g "$group" -m "$state_mode" "$state"
# The environment systemd gives a service: its own variables, Environment=, then the
# EnvironmentFile= (read as root, so it may be private to root), which wins.
home=$(getent passwd "$user" | cut -d: -f6)
envs=(PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8
  "USER=$user" "LOGNAME=$user" "HOME=$home" SHELL=/usr/sbin/nologin "STATE_DIRECTORY=$state")
while IFS= read -r kv; do envs+=("$kv"); done < <(setting Environment)
while IFS= read -r kv; do
  case $kv in '' | '#'*) ;; *) envs+=("$kv") ;; esac
done <"$envfile"

# The sandbox, as far as a mount namespace can show it: ProtectSystem=strict, PrivateTmp,
# ProtectHome. Then the process drops to the unit's user with no capabilities and no new
# privileges, in a clean environment, with the unit's umask and working directory.
cat >"$work/as-unit.sh" <<'EOF'
set -euo pipefail
state=$1 user=$2 group=$3 umask_=$4 workdir=$5
shift 5
envs=()
while [ "$1" != -- ]; do envs+=("$1"); shift; done
shift
mount --bind "$state" "$state"
findmnt -rn -o TARGET | sort -u | while read -r m; do
  case $m in /proc | /proc/* | /sys | /sys/* | /dev | /dev/* | "$state") continue ;; esac
  mount -o remount,bind,ro "$m" 2>/dev/null || true
done
for d in /tmp /var/tmp; do mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$d"; done
for d in /home /root /run/user; do
  if [ -d "$d" ]; then mount -t tmpfs -o mode=000,ro tmpfs "$d"; fi
done
# The emulation holds: the system is read-only, the state directory is not.
if touch /usr/.gatehoused-probe 2>/dev/null; then
  rm -f /usr/.gatehoused-probe; echo "as-unit: /usr is writable: no ProtectSystem emulation" >&2; exit 90
fi
umask "$umask_"
cd "$workdir"
exec setpriv --reuid="$user" --regid="$group" --init-groups --no-new-privs \
  --inh-caps=-all --ambient-caps=-all --bounding-set=-all \
  env -i "${envs[@]}" "$@"
EOF
as_unit() {   # as_unit EXEC-LINE: runs it in the sandbox (exec: the caller's $! is the server)
  local argv
  read -ra argv <<<"$1"
  exec unshare --mount --propagation private \
    bash "$work/as-unit.sh" "$state" "$user" "$group" "$umask_" "$workdir" "${envs[@]}" -- "${argv[@]}"
}

migrate() {   # runs ExecStartPre; prints its stdout
  (as_unit "$exec_pre") 2>"$work/migrate.err" \
    || { cat "$work/migrate.err" >&2; fail "ExecStartPre ($exec_pre) failed"; }
}
first=$(migrate)
grep -Eq '^\{"before":0,"after":[1-9][0-9]*\}$' <<<"$first" \
  || fail "the first ExecStartPre did not migrate an empty database: $first"
latest=$(sed 's/.*"after":\([0-9]*\).*/\1/' <<<"$first")
second=$(migrate)
[ "$second" = "{\"before\":$latest,\"after\":$latest}" ] \
  || fail "the second ExecStartPre was not a no-op: $second"
echo "$me: ExecStartPre as $user: $first, then $second"

(as_unit "$exec_start") >"$work/server.log" 2>&1 &
SERVER=$!
base="http://127.0.0.1:$port"
for _ in $(seq 1 200); do
  [ "$(curl -s -o /dev/null -w '%{http_code}' "$base/health/ready" || true)" = 204 ] && break
  kill -0 "$SERVER" 2>/dev/null || { cat "$work/server.log" >&2; fail "ExecStart ($exec_start) exited"; }
  sleep 0.1
done
location=$(curl -sf "$base/api/client/v2.0/app/$APP/location") \
  || { cat "$work/server.log" >&2; fail "GET /api/client/v2.0/app/$APP/location failed on port $port"; }
grep -q "\"hostname\":\"$base\"" <<<"$location" || fail "unexpected location answer: $location"
login=$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' -d '{}' \
  "$base/api/client/v2.0/app/$APP/auth/providers/anon-user/login")
[ "$login" = 200 ] || { cat "$work/server.log" >&2; fail "anonymous login answered $login"; }
# What it wrote is its own and private (UMask, StateDirectoryMode, the server's own 0600).
while read -r f; do
  [ "$(stat -c %U:%G "$f")" = "$user:$group" ] || fail "$f is owned by $(stat -c %U:%G "$f")"
  [ $(( 8#$(stat -c %a "$f") & 8#077 )) = 0 ] || fail "$f is mode $(stat -c %a "$f"): others may read it"
done < <(find "$state" -mindepth 1)
for f in gatehouse.db keys.json mfa.key; do [ -f "$state/$f" ] || fail "no $state/$f"; done
kill -TERM "$SERVER"
rc=0; wait "$SERVER" || rc=$?
SERVER=""
[ $rc = 0 ] || { cat "$work/server.log" >&2; fail "the server exited $rc on SIGTERM, not 0"; }
echo "$me: ExecStart as $user on 127.0.0.1:$port: location and anonymous login answered," \
  "$(find "$state" -mindepth 1 | wc -l) private files in $state, clean stop on SIGTERM"

# ---- 4. remove, then purge ----------------------------------------------------------------------
rm -f "$envfile"   # ours, not the package's
dpkg --remove gatehoused >"$work/remove.log" 2>&1 || { cat "$work/remove.log" >&2; fail "dpkg --remove failed"; }
[ ! -e /usr/sbin/gatehoused ] || fail "/usr/sbin/gatehoused is still there after removal"
[ -f "$state/gatehouse.db" ] || fail "removal (not purge) deleted the database"
[ -f /etc/gatehoused/gatehoused.toml ] || fail "removal (not purge) deleted the configuration"
getent passwd gatehoused >/dev/null || fail "removal (not purge) deleted the user"
dpkg --purge gatehoused >"$work/purge.log" 2>&1 || { cat "$work/purge.log" >&2; fail "dpkg --purge failed"; }
INSTALLED=0
left=()
for path in /usr/sbin/gatehoused "$unit" /etc/gatehoused /var/lib/gatehoused /usr/share/doc/gatehoused; do
  [ ! -e "$path" ] && [ ! -L "$path" ] || left+=("$path")
done
while read -r path; do left+=("$path"); done < <(find /etc/systemd /var/lib/systemd -name '*gatehoused*' 2>/dev/null)
getent passwd gatehoused >/dev/null && left+=("user gatehoused")
getent group gatehoused >/dev/null && left+=("group gatehoused")
status=$(dpkg-query -W -f '${db:Status-Status}' gatehoused 2>/dev/null || true)
[ -z "$status" ] || [ "$status" = not-installed ] || left+=("dpkg state $status")
[ ${#left[@]} -eq 0 ] || fail "left after purge: ${left[*]}"
echo "$me: removed (data, settings and user kept), purged without a trace ($(basename "$deb"))"
