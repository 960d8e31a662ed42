#!/usr/bin/env bash
# Installs what building and testing Gatehouse needs on a Debian 12 machine, and only what is missing.
# Safe to run any number of times; a machine that has everything costs well under a second.
#
#   1. Debian packages (apt-get update runs once, and only if something is missing):
#        build-essential pkg-config curl ca-certificates postgresql nodejs npm python3 python3-venv sqlite3
#        libdbus-1-dev dbus gnome-keyring libsecret-tools (the OS keychain: Secret Service over D-Bus)
#        libwebkit2gtk-4.1-dev libsoup-3.0-dev libjavascriptcoregtk-4.1-dev librsvg2-dev (the desktop
#        app's window: Tauri 2 on WebKitGTK), libayatana-appindicator3-dev (the tray: Tauri's
#        tray-icon feature dlopens libayatana-appindicator3.so.1 at run time),
#        xdg-utils desktop-file-utils (gatehouse:// deep links),
#        xvfb webkit2gtk-driver (a display without a screen, and WebDriver for the window tests),
#        chromium chromium-driver (a real browser and its WebDriver: the passkey tests drive the
#        server's WebAuthn pages with Chrome's virtual authenticator),
#        nginx (the reverse proxy the forwarded-address tests run behind; its service is not used)
#        wrk (the load generator of scripts/bench-server.sh), haproxy (the load balancer and the
#        PostgreSQL switch of the cluster tests), libevent-dev libc-ares-dev (to build pgbouncer,
#        step 8)
#      Node.js and npm count as present when the `node` / `npm` commands exist, whoever installed
#      them: NodeSource's nodejs package ships npm itself and conflicts with Debian's npm package.
#   2. Rust: only checked. If `cargo` is missing this prints how to install it and exits 1
#      (this script never downloads toolchains).
#   3. tests/realm-web: `npm ci` when node_modules/realm-web is missing, is not the locked
#      version, or package-lock.json is newer than the last install.
#      SETUP_SKIP_NODE=1 skips this step (scripts/run.sh does; only the tests need realm-web).
#   4. tests/peers/.venv: a Python venv with aiosmtpd (the real SMTP server the mail tests send
#      to), standardwebhooks (the official Standard Webhooks library every webhook test's
#      receiver verifies with) and pyotp (the independent TOTP implementation the second-factor
#      tests compute their codes with), created or completed only when missing or not the pinned
#      version. Skipped with SETUP_SKIP_NODE=1 as well.
#   5. tests/peers/oidc: `npm ci` (oidc-provider, the real OpenID provider the identity-provider
#      tests log in against) when node_modules/oidc-provider is missing, is not the locked
#      version, or package-lock.json is newer than the last install. Skipped with SETUP_SKIP_NODE=1.
#   6. tauri-driver (WebDriver in front of WebKitWebDriver, for the window tests): cargo install of
#      the pinned version when missing. Skipped with SETUP_SKIP_NODE=1.
#   7. ./node_modules: the Tauri CLI from npm (it makes the .deb; 2 s instead of a 12-minute cargo
#      install), `npm ci` when missing or older than package-lock.json. Skipped with SETUP_SKIP_NODE=1.
#   8. pgbouncer 1.24.1 for the cluster tests, built from Debian 13's source package (the
#      upstream tarball from deb.debian.org's pool, checked against its SHA-256) into
#      /opt/gatehouse-peers/pgbouncer-1.24.1 when missing (about 30 s). Debian 12's own pgbouncer
#      (1.18) cannot carry protocol-level prepared statements in transaction pooling
#      (`max_prepared_statements` came in 1.21). Skipped with SETUP_SKIP_NODE=1.
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
          libayatana-appindicator3-dev
          xdg-utils desktop-file-utils xvfb x11-utils webkit2gtk-driver
          chromium chromium-driver
          nginx wrk haproxy libevent-dev libc-ares-dev)

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
# The test command's gates (cargo fmt --check, clippy -D warnings) need both components; rustup's
# minimal profile leaves them out.
for component in rustfmt clippy; do
  tool=$([ "$component" = rustfmt ] && echo fmt || echo clippy)
  if ! cargo "$tool" --version >/dev/null 2>&1; then
    if command -v rustup >/dev/null 2>&1; then
      say "Rust: adding the $component component"
      rustup component add "$component"
    else
      echo "setup: error: cargo $tool is missing and there is no rustup to add $component" >&2
      exit 1
    fi
  fi
done

# ---- 3. realm-web for the end-to-end tests ---------------------------------------------------
if [ "${SETUP_SKIP_NODE:-0}" = 1 ]; then
  say "test peers (realm-web, aiosmtpd, oidc-provider): skipped (SETUP_SKIP_NODE=1)"
  exit 0
fi

# ---- 4. aiosmtpd for the mail tests, standardwebhooks for the webhook tests, pyotp for MFA -------
AIOSMTPD_VERSION=1.4.6
STANDARDWEBHOOKS_VERSION=1.1.0
PYOTP_VERSION=2.9.0
VENV="$ROOT/tests/peers/.venv"
if "$VENV/bin/python" -c "import aiosmtpd, sys; sys.exit(aiosmtpd.__version__ != '$AIOSMTPD_VERSION')" 2>/dev/null; then
  say "aiosmtpd: $AIOSMTPD_VERSION up to date"
else
  say "aiosmtpd: installing $AIOSMTPD_VERSION into tests/peers/.venv"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check "aiosmtpd==$AIOSMTPD_VERSION"
fi
# The package has no __version__; its installed metadata says which one it is.
if "$VENV/bin/python" -c "import standardwebhooks, sys, importlib.metadata as m; sys.exit(m.version('standardwebhooks') != '$STANDARDWEBHOOKS_VERSION')" 2>/dev/null; then
  say "standardwebhooks: $STANDARDWEBHOOKS_VERSION up to date"
else
  say "standardwebhooks: installing $STANDARDWEBHOOKS_VERSION into tests/peers/.venv"
  [ -x "$VENV/bin/pip" ] || python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check "standardwebhooks==$STANDARDWEBHOOKS_VERSION"
fi
if "$VENV/bin/python" -c "import pyotp, sys, importlib.metadata as m; sys.exit(m.version('pyotp') != '$PYOTP_VERSION')" 2>/dev/null; then
  say "pyotp: $PYOTP_VERSION up to date"
else
  say "pyotp: installing $PYOTP_VERSION into tests/peers/.venv"
  [ -x "$VENV/bin/pip" ] || python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check "pyotp==$PYOTP_VERSION"
fi

command -v node >/dev/null 2>&1 || die "node was not found (Debian package nodejs)"
command -v npm >/dev/null 2>&1 || die "npm was not found (Debian package npm)"
node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 18 ? 0 : 1)' \
  || die "Node.js $(node --version) is too old: realm-web needs Node 18 or newer"

# npm_ci_locked DIR PACKAGE: `npm ci` in DIR when node_modules/PACKAGE is missing, is not the
# version package-lock.json pins, or the lock file is newer than the last install.
npm_ci_locked() {
  local dir=$1 pkg=$2 locked need="" stamp
  [ -f "$dir/package-lock.json" ] || die "$dir/package-lock.json is missing"
  locked=$(node -p 'require(process.argv[1]).packages["node_modules/" + process.argv[2]].version' "$dir/package-lock.json" "$pkg")
  if [ ! -f "$dir/node_modules/$pkg/package.json" ]; then
    need="node_modules/$pkg is missing"
  elif [ "$(node -p 'require(process.argv[1]).version' "$dir/node_modules/$pkg/package.json")" != "$locked" ]; then
    need="installed $pkg is not the locked $locked"
  else
    # npm writes node_modules/.package-lock.json at the end of every install.
    stamp="$dir/node_modules/.package-lock.json"
    [ -f "$stamp" ] || stamp="$dir/node_modules/$pkg/package.json"
    if [ "$dir/package-lock.json" -nt "$stamp" ]; then
      need="package-lock.json is newer than node_modules"
    fi
  fi
  if [ -n "$need" ]; then
    say "$pkg: npm ci ($need)"
    (cd "$dir" && npm ci --no-audit --no-fund)
    say "$pkg: installed $locked"
  else
    say "$pkg: $locked up to date"
  fi
}

npm_ci_locked "$ROOT/tests/realm-web" realm-web

# ---- 5. oidc-provider for the external identity provider tests --------------------------------
npm_ci_locked "$ROOT/tests/peers/oidc" oidc-provider

# ---- 6. tauri-driver for the window tests ---------------------------------------------------------
TAURI_DRIVER_VERSION=2.1.0
if command -v tauri-driver >/dev/null 2>&1 || [ -x "${CARGO_HOME:-$HOME/.cargo}/bin/tauri-driver" ]; then
  say "tauri-driver: present"
else
  say "tauri-driver: cargo install $TAURI_DRIVER_VERSION (about a minute)"
  cargo install tauri-driver --version "$TAURI_DRIVER_VERSION" --locked --quiet
fi

# ---- 7. the Tauri CLI (packaging) -------------------------------------------------------------------
npm_ci_locked "$ROOT" @tauri-apps/cli

# ---- 8. pgbouncer for the cluster tests --------------------------------------------------------
PGBOUNCER_VERSION=1.24.1
PGBOUNCER_SHA256=da72a3aba13072876d055a3e58dd4aba4a5de4ed6148e73033185245598fd3e0
PGBOUNCER_PREFIX=/opt/gatehouse-peers/pgbouncer-$PGBOUNCER_VERSION
if [ "${SETUP_SKIP_NODE:-0}" = 1 ]; then
  :
elif [ -x "$PGBOUNCER_PREFIX/bin/pgbouncer" ]; then
  say "pgbouncer $PGBOUNCER_VERSION: present"
else
  say "pgbouncer $PGBOUNCER_VERSION: building from Debian 13's source package (about 30 s)"
  build=$(mktemp -d)
  tarball="pgbouncer_$PGBOUNCER_VERSION.orig.tar.gz"
  curl -fsS --retry 3 -o "$build/$tarball" \
    "http://deb.debian.org/debian/pool/main/p/pgbouncer/$tarball" \
    || die "cannot download $tarball from deb.debian.org"
  echo "$PGBOUNCER_SHA256  $build/$tarball" | sha256sum -c --quiet - \
    || die "$tarball does not match its SHA-256"
  tar -xzf "$build/$tarball" -C "$build"
  (cd "$build/pgbouncer-$PGBOUNCER_VERSION" \
    && ./configure --prefix="$PGBOUNCER_PREFIX" --without-systemd --without-pam --without-ldap \
      >"$build/configure.log" 2>&1 \
    && make -j"$(nproc)" >"$build/make.log" 2>&1 \
    && "${SUDO[@]}" make install >"$build/install.log" 2>&1) \
    || die "building pgbouncer failed; see $build/*.log"
  rm -rf "$build"
fi
