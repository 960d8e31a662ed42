#!/usr/bin/env bash
# A real, unlocked OS keychain for tests: gnome-keyring (secrets component only) on the current
# D-Bus session bus, with its keyring files in a fresh temp folder. No X display is needed.
#
#   dbus-run-session -- scripts/keyring-session.sh CMD [ARGS...]
#
#   1. starts `gnome-keyring-daemon --foreground --unlock --components=secrets` with
#      XDG_DATA_HOME=<temp>/data (the keyrings) and a private control directory — both for the
#      daemon only: CMD keeps HOME and XDG_DATA_HOME (cargo lives under $HOME);
#   2. the daemon reads the password on its stdin (KEYRING_PASSWORD, default "gatehouse-test")
#      and creates + unlocks the "login" keyring with it;
#   3. waits until org.freedesktop.secrets is owned on the bus (the daemon answers before that);
#   4. runs CMD with GATEHOUSE_TEST_KEYRING=1 exported (tests use it to know a real unlocked
#      keyring is there);
#   5. stops the daemon, removes the temp folder, exits with CMD's exit code.
#
# scripts/test.sh runs `cargo test` this way; scripts/setup.sh installs dbus and gnome-keyring.
set -euo pipefail

me=keyring-session.sh
if [ $# -eq 0 ]; then
  echo "usage: dbus-run-session -- scripts/$me CMD [ARGS...]" >&2
  exit 2
fi
if [ -z "${DBUS_SESSION_BUS_ADDRESS:-}" ]; then
  echo "$me: no D-Bus session bus; run it as: dbus-run-session -- scripts/$me CMD [ARGS...]" >&2
  exit 2
fi
for tool in gnome-keyring-daemon dbus-send; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "$me: $tool is not installed; run scripts/setup.sh (Debian packages gnome-keyring, dbus)" >&2
    exit 2
  fi
done

KDIR=$(mktemp -d "${TMPDIR:-/tmp}/gatehouse-keyring.XXXXXX")
mkdir -m 700 "$KDIR/data" "$KDIR/control"
DAEMON_PID=""
cleanup() {
  if [ -n "$DAEMON_PID" ]; then
    kill "$DAEMON_PID" 2>/dev/null || true
    wait "$DAEMON_PID" 2>/dev/null || true
  fi
  rm -rf "$KDIR"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --foreground: the daemon stays our child, so we know its pid and can stop it. It prints
# GNOME_KEYRING_CONTROL=... on stdout; the secrets component needs nothing else from it.
printf '%s' "${KEYRING_PASSWORD:-gatehouse-test}" \
  | XDG_DATA_HOME="$KDIR/data" gnome-keyring-daemon --foreground --unlock --components=secrets \
      --control-directory="$KDIR/control" >"$KDIR/daemon.out" 2>"$KDIR/daemon.log" &
DAEMON_PID=$!

owned=0
for _ in $(seq 200); do   # up to ~10 s
  if dbus-send --session --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
      org.freedesktop.DBus.NameHasOwner string:org.freedesktop.secrets 2>/dev/null | grep -q 'boolean true'; then
    owned=1
    break
  fi
  if ! kill -0 "$DAEMON_PID" 2>/dev/null; then
    break
  fi
  sleep 0.05
done
if [ $owned -ne 1 ]; then
  echo "$me: gnome-keyring-daemon did not take org.freedesktop.secrets on the session bus; its log:" >&2
  cat "$KDIR/daemon.log" >&2 || true
  exit 1
fi

# Should the daemon die, D-Bus would start a new one on demand (org.freedesktop.secrets.service)
# with the bus's environment, i.e. keyrings under the real $HOME. Point activated services at the
# temp folder too: a restarted daemon then finds this session's (locked) keyring and tests fail
# loudly instead of writing to $HOME.
mkdir -m 700 "$KDIR/runtime"
dbus-send --session --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
  org.freedesktop.DBus.UpdateActivationEnvironment \
  "dict:string:string:XDG_DATA_HOME,$KDIR/data,XDG_RUNTIME_DIR,$KDIR/runtime" >/dev/null

export GATEHOUSE_TEST_KEYRING=1
set +e
"$@"
rc=$?
set -e
if ! kill -0 "$DAEMON_PID" 2>/dev/null; then
  dstatus=0
  wait "$DAEMON_PID" 2>/dev/null || dstatus=$?
  echo "$me: warning: gnome-keyring-daemon died while CMD ran (exit status $dstatus); its log:" >&2
  cat "$KDIR/daemon.log" >&2 || true
  DAEMON_PID=""
fi
exit "$rc"
