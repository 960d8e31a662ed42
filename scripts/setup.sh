#!/usr/bin/env bash
# Installs what building and testing Gatehouse needs on a Debian 12 machine, and only what is missing.
# Safe to run any number of times; a machine that has everything costs well under a second.
#
#   1. Debian packages (apt-get update runs once, and only if something is missing):
#        build-essential pkg-config curl ca-certificates postgresql nodejs npm python3 python3-venv sqlite3
#        libdbus-1-dev dbus gnome-keyring libsecret-tools (the OS keychain: Secret Service over D-Bus)
#        libwebkit2gtk-4.1-dev libsoup-3.0-dev libjavascriptcoregtk-4.1-dev librsvg2-dev (the desktop
#        app's window: Tauri 2 on WebKitGTK), xdg-utils desktop-file-utils (gatehouse:// deep links),
#        xvfb webkit2gtk-driver (a display without a screen, and WebDriver for the window tests)
#      Node.js and npm count as present when the `node` / `npm` commands exist, whoever installed
#      them: NodeSource's nodejs package ships npm itself and conflicts with Debian's npm package.
#   2. Rust: only checked. If `cargo` is missing this prints how to install it and exits 1
#      (this script never downloads toolchains).
#   3. tests/realm-web: `npm ci` when node_modules/realm-web is missing, is not the locked
#      version, or package-lock.json is newer than the last install.
#      SETUP_SKIP_NODE=1 skips this step (scripts/run.sh does; only the tests need realm-web).
#   4. tests/peers/.venv: a Python venv with aiosmtpd (the real SMTP server the mail tests send
#      to), created or completed only when missing. Skipped with SETUP_SKIP_NODE=1 as well.
#   5. tests/peers/oidc: `npm ci` (oidc-provider, the real OpenID provider the identity-provider
#      tests log in against) when node_modules/oidc-provider is missing, is not the locked
#      version, or package-lock.json is newer than the last install. Skipped with SETUP_SKIP_NODE=1.
#   6. tauri-driver (WebDriver in front of WebKitWebDriver, for the window tests): cargo install of
#      the pinned version when missing. Skipped with SETUP_SKIP_NODE=1.
#   7. ./node_modules: the Tauri CLI from npm (it makes the .deb; 2 s instead of a 12-minute cargo
#      install), `npm ci` when missing or older than package-lock.json. Skipped with SETUP_SKIP_NODE=1.
#
# Runs as root; as another user it uses sudo for apt-get when sudo exists.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
say() { printf 'setup: %s\n' "$*"; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }

# ---- privileges ------------------------------------------------------------------------------
if [ "$(id -u)" -eq 0 ]; then
  SUDO=()
elif command -v sudo >/dev/null 2>&1; then
  SUDO=(sudo)
else
  SUDO=()   # fine as long as nothing needs installing; checked below
fi

# ---- 1. Debian packages ------------------------------------------------------------------------
PACKAGES=(build-essential pkg-config curl ca-certificates postgresql nodejs npm python3 python3-venv sqlite3
          libdbus-1-dev dbus gnome-keyring libsecret-tools
          libwebkit2gtk-4.1-dev libsoup-3.0-dev libjavascriptcoregtk-4.1-dev librsvg2-dev
          xdg-utils desktop-file-utils xvfb webkit2gtk-driver)

is_installed() {
  case $1 in
    nodejs) command -v node >/dev/null 2>&1 && return 0 ;;
    npm) command -v npm >/dev/null 2>&1 && return 0 ;;
  esac
  [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null || true)" = installed ]
}

if command -v dpkg-query >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
  missing=()
  for pkg in "${PACKAGES[@]}"; do
    is_installed "$pkg" || missing+=("$pkg")
  done
  if [ ${#missing[@]} -eq 0 ]; then
    say "Debian packages: all present"
  else
    if [ "$(id -u)" -ne 0 ] && [ ${#SUDO[@]} -eq 0 ]; then
      die "missing Debian packages (${missing[*]}); run this script as root or install sudo"
    fi
    say "Debian packages: installing ${missing[*]}"
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
    say "Debian packages: done"
  fi
else
  say "warning: not a Debian system (no dpkg-query/apt-get); make sure these are installed: ${PACKAGES[*]}"
fi

# ---- 2. Rust -------------------------------------------------------------------------------
if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
  PATH="$HOME/.cargo/bin:$PATH"   # rustup's default place, when the shell's PATH lacks it
fi
if ! command -v cargo >/dev/null 2>&1; then
  cat >&2 <<'MSG'
setup: error: `cargo` (Rust) was not found.
  Install Rust with rustup (https://rustup.rs):
      curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
      . "$HOME/.cargo/env"
  Gatehouse needs Rust 1.85 or newer. Then run this script again.
MSG
  exit 1
fi
say "Rust: $(cargo --version)"

# ---- 3. realm-web for the end-to-end tests ---------------------------------------------------
if [ "${SETUP_SKIP_NODE:-0}" = 1 ]; then
  say "test peers (realm-web, aiosmtpd, oidc-provider): skipped (SETUP_SKIP_NODE=1)"
  exit 0
fi

# ---- 4. aiosmtpd for the mail tests -------------------------------------------------------------
AIOSMTPD_VERSION=1.4.6
VENV="$ROOT/tests/peers/.venv"
if "$VENV/bin/python" -c "import aiosmtpd, sys; sys.exit(aiosmtpd.__version__ != '$AIOSMTPD_VERSION')" 2>/dev/null; then
  say "aiosmtpd: $AIOSMTPD_VERSION up to date"
else
  say "aiosmtpd: installing $AIOSMTPD_VERSION into tests/peers/.venv"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check "aiosmtpd==$AIOSMTPD_VERSION"
fi

command -v node >/dev/null 2>&1 || die "node was not found (Debian package nodejs)"
command -v npm >/dev/null 2>&1 || die "npm was not found (Debian package npm)"
node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 18 ? 0 : 1)' \
  || die "Node.js $(node --version) is too old: realm-web needs Node 18 or newer"

RW="$ROOT/tests/realm-web"
[ -f "$RW/package-lock.json" ] || die "$RW/package-lock.json is missing"
locked_version=$(node -p 'require(process.argv[1]).packages["node_modules/realm-web"].version' "$RW/package-lock.json")

need_install=""
if [ ! -f "$RW/node_modules/realm-web/package.json" ]; then
  need_install="node_modules/realm-web is missing"
elif [ "$(node -p 'require(process.argv[1]).version' "$RW/node_modules/realm-web/package.json")" != "$locked_version" ]; then
  need_install="installed realm-web is not the locked $locked_version"
else
  # npm writes node_modules/.package-lock.json at the end of every install.
  stamp="$RW/node_modules/.package-lock.json"
  [ -f "$stamp" ] || stamp="$RW/node_modules/realm-web/package.json"
  if [ "$RW/package-lock.json" -nt "$stamp" ]; then
    need_install="package-lock.json is newer than node_modules"
  fi
fi

if [ -n "$need_install" ]; then
  say "realm-web: npm ci ($need_install)"
  (cd "$RW" && npm ci --no-audit --no-fund)
  say "realm-web: installed $locked_version"
else
  say "realm-web: $locked_version up to date"
fi

# ---- 5. oidc-provider for the external identity provider tests --------------------------------
OP="$ROOT/tests/peers/oidc"
[ -f "$OP/package-lock.json" ] || die "$OP/package-lock.json is missing"
op_locked_version=$(node -p 'require(process.argv[1]).packages["node_modules/oidc-provider"].version' "$OP/package-lock.json")

need_install=""
if [ ! -f "$OP/node_modules/oidc-provider/package.json" ]; then
  need_install="node_modules/oidc-provider is missing"
elif [ "$(node -p 'require(process.argv[1]).version' "$OP/node_modules/oidc-provider/package.json")" != "$op_locked_version" ]; then
  need_install="installed oidc-provider is not the locked $op_locked_version"
else
  stamp="$OP/node_modules/.package-lock.json"
  [ -f "$stamp" ] || stamp="$OP/node_modules/oidc-provider/package.json"
  if [ "$OP/package-lock.json" -nt "$stamp" ]; then
    need_install="package-lock.json is newer than node_modules"
  fi
fi

if [ -n "$need_install" ]; then
  say "oidc-provider: npm ci ($need_install)"
  (cd "$OP" && npm ci --no-audit --no-fund)
  say "oidc-provider: installed $op_locked_version"
else
  say "oidc-provider: $op_locked_version up to date"
fi

# ---- 6. tauri-driver for the window tests ---------------------------------------------------------
TAURI_DRIVER_VERSION=2.1.0
if command -v tauri-driver >/dev/null 2>&1 || [ -x "${CARGO_HOME:-$HOME/.cargo}/bin/tauri-driver" ]; then
  say "tauri-driver: present"
else
  say "tauri-driver: cargo install $TAURI_DRIVER_VERSION (about a minute)"
  cargo install tauri-driver --version "$TAURI_DRIVER_VERSION" --locked --quiet
fi

# ---- 7. the Tauri CLI (packaging) -------------------------------------------------------------------
[ -f "$ROOT/package-lock.json" ] || die "$ROOT/package-lock.json is missing"
stamp="$ROOT/node_modules/.package-lock.json"
if [ ! -x "$ROOT/node_modules/.bin/tauri" ] || [ ! -f "$stamp" ] || [ "$ROOT/package-lock.json" -nt "$stamp" ]; then
  say "tauri-cli: npm ci"
  (cd "$ROOT" && npm ci --no-audit --no-fund)
else
  say "tauri-cli: up to date"
fi
