#!/usr/bin/env bash
# Builds the server's .deb, `gatehoused`, from packaging/gatehoused/ with plain dpkg-deb (no
# debhelper): /usr/sbin/gatehoused, the hardened unit gatehoused.service in /lib/systemd/system,
# the conffile /etc/gatehoused/gatehoused.toml, the maintainer scripts (system user, purge) and
# /usr/share/doc/gatehoused/ with README.Debian and the example configurations (every key, and
# several instances on one PostgreSQL). Then it checks what it built and fails loudly otherwise:
# the files, the unit's hardening settings, the conffiles, Depends, and that both shipped
# configurations load and validate with the packaged binary.
#
#   scripts/package-server-deb.sh            release build: target/release/gatehoused_<v>_<arch>.deb
#   scripts/package-server-deb.sh --debug    debug build:   target/debug/gatehoused_<v>_<arch>.deb
#
# scripts/check-server-deb.sh installs it for real (root, throwaway machines). No man page:
# gatehoused has no generator for one (`gatehoused --help` is the reference).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
me=package-server-deb.sh
fail() { echo "$me: $*" >&2; exit 1; }

PROFILE=release
CARGO_PROFILE=(--release)
case "${1:-}" in
  --debug) PROFILE=debug; CARGO_PROFILE=() ;;
  "") ;;
  *) fail "unknown argument '$1' (usage: $me [--debug])" ;;
esac
command -v cargo >/dev/null 2>&1 || fail "cargo not found: run scripts/setup.sh"
for tool in dpkg-deb dpkg; do
  command -v "$tool" >/dev/null 2>&1 || fail "$tool not found (Debian package dpkg)"
done
SRC="$ROOT/packaging/gatehoused"
for f in gatehoused.service gatehoused.toml gatehoused.example-cluster.toml README.Debian copyright \
  postinst prerm postrm; do
  [ -f "$SRC/$f" ] || fail "missing $SRC/$f"
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The debug build is the one scripts/test.sh made (`--workspace --bins`: the same feature set,
# so nothing is compiled again); a release package builds the server alone.
if [ "$PROFILE" = debug ]; then
  cargo build --workspace --bins --locked
else
  cargo build -p gatehouse-server --bin gatehoused "${CARGO_PROFILE[@]}" --locked
fi
bin="$ROOT/target/$PROFILE/gatehoused"
[ -x "$bin" ] || fail "$bin was not built"
# "gatehoused 0.1.0" -> 0.1.0 (the workspace version).
version=$("$bin" --version | awk '{print $2}')
[[ $version =~ ^[0-9][0-9A-Za-z.+~-]*$ ]] || fail "cannot read a version from '$bin --version'"
arch=$(dpkg --print-architecture)

# ---- the tree ------------------------------------------------------------------------------------
# debian/gatehoused is where dpkg-shlibdeps expects a package's files.
pkg="$work/debian/gatehoused"
install -D -m 0755 "$bin" "$pkg/usr/sbin/gatehoused"
install -D -m 0644 "$SRC/gatehoused.service" "$pkg/lib/systemd/system/gatehoused.service"
# 0750/0640 from the start (root:root in the package); postinst gives the group to gatehoused.
install -d -m 0750 "$pkg/etc/gatehoused"
install -m 0640 "$SRC/gatehoused.toml" "$pkg/etc/gatehoused/gatehoused.toml"
doc="$pkg/usr/share/doc/gatehoused"
install -d -m 0755 "$doc"
install -m 0644 "$SRC/README.Debian" "$SRC/copyright" "$SRC/gatehoused.example-cluster.toml" "$doc/"
install -m 0644 "$ROOT/crates/gatehouse-server/gatehoused.example.toml" "$doc/"
install -d -m 0755 "$pkg/DEBIAN"
install -m 0755 "$SRC/postinst" "$SRC/prerm" "$SRC/postrm" "$pkg/DEBIAN/"
echo /etc/gatehoused/gatehoused.toml >"$pkg/DEBIAN/conffiles"

# Depends: the shared libraries the binary links (dpkg-shlibdeps, from dpkg-dev), and adduser for
# the postinst. Without dpkg-shlibdeps: what ldd shows, named by hand.
if command -v dpkg-shlibdeps >/dev/null 2>&1; then
  printf 'Source: gatehoused\n\nPackage: gatehoused\nArchitecture: any\n' >"$work/debian/control"
  shlibs=$(cd "$work" && dpkg-shlibdeps -O -e debian/gatehoused/usr/sbin/gatehoused 2>"$work/shlibdeps.log") \
    || { cat "$work/shlibdeps.log" >&2; fail "dpkg-shlibdeps failed"; }
  shlibs=${shlibs#shlibs:Depends=}
else
  echo "$me: dpkg-shlibdeps not found (package dpkg-dev); Depends from ldd" >&2
  libs=$(ldd "$bin")
  shlibs="libc6"
  grep -q 'libgcc_s\.so' <<<"$libs" && shlibs+=", libgcc-s1"
  grep -q 'libssl\.so\.3' <<<"$libs" && shlibs+=", libssl3"
fi
[ -n "$shlibs" ] || fail "no shared-library dependencies found for $bin"
installed_size=$(du -sk --exclude=DEBIAN "$pkg" | cut -f1)
cat >"$pkg/DEBIAN/control" <<EOF
Package: gatehoused
Version: $version
Architecture: $arch
Maintainer: gatehouse
Installed-Size: $installed_size
Depends: $shlibs, adduser
Section: net
Priority: optional
Description: Gatehouse auth server (App Services client auth protocol)
 gatehoused is a self-hostable authentication server speaking the Atlas App
 Services client auth protocol: anonymous, email/password, API-key, phone,
 magic-link, custom-token and browser sign-in, second factors and passkeys,
 on SQLite or PostgreSQL.
 .
 This package runs it as a hardened systemd service (gatehoused.service)
 under its own system user, with its state in /var/lib/gatehoused and its
 settings in /etc/gatehoused/gatehoused.toml. Database migrations are applied
 by "gatehoused admin migrate" before the server starts.
EOF

out="$ROOT/target/$PROFILE/gatehoused_${version}_${arch}.deb"
rm -f "$out"
dpkg-deb --build --root-owner-group "$pkg" "$out" >/dev/null

# ---- checks on what was built -------------------------------------------------------------------
bad() { fail "$out: $*"; }
listing=$(dpkg-deb -c "$out")
has() {   # has MODE PATH: the archive holds PATH with exactly these permissions, owned by root
  grep -Eq "^$1 root/root +[0-9]+ [0-9-]+ [0-9:]+ \./${2#/}\$" <<<"$listing" \
    || bad "no $2 with mode $1 owned by root (dpkg-deb -c shows: $(grep -F "${2#/}" <<<"$listing" || echo nothing))"
}
has '-rwxr-xr-x' /usr/sbin/gatehoused
has '-rw-r--r--' /lib/systemd/system/gatehoused.service
has 'drwxr-x---' /etc/gatehoused/
has '-rw-r-----' /etc/gatehoused/gatehoused.toml
for f in README.Debian copyright gatehoused.example.toml gatehoused.example-cluster.toml; do
  has '-rw-r--r--' "/usr/share/doc/gatehoused/$f"
done

x="$work/extracted"
dpkg-deb -x "$out" "$x"
dpkg-deb -e "$out" "$x/DEBIAN"
cmp -s "$x/usr/sbin/gatehoused" "$bin" || bad "/usr/sbin/gatehoused is not the $PROFILE build"
[ "$(cat "$x/DEBIAN/conffiles")" = /etc/gatehoused/gatehoused.toml ] \
  || bad "conffiles is '$(cat "$x/DEBIAN/conffiles")', not /etc/gatehoused/gatehoused.toml"
for s in postinst prerm postrm; do
  [ -x "$x/DEBIAN/$s" ] || bad "no executable $s"
  sh -n "$x/DEBIAN/$s" || bad "$s is not valid sh"
done
grep -q 'adduser --system' "$x/DEBIAN/postinst" || bad "the postinst does not create the system user"
grep -q 'rm -rf /var/lib/gatehoused' "$x/DEBIAN/postrm" || bad "the postrm does not remove the data on purge"

# The unit: every hardening setting, exactly (a typo'd key would be ignored by systemd with only a
# warning in the journal, and the service would run without it).
unit="$x/lib/systemd/system/gatehoused.service"
required=(
  "User=gatehoused" "Group=gatehoused"
  "ExecStartPre=/usr/sbin/gatehoused --config /etc/gatehoused/gatehoused.toml admin migrate"
  "ExecStart=/usr/sbin/gatehoused --config /etc/gatehoused/gatehoused.toml serve"
  "EnvironmentFile=-/etc/default/gatehoused" "Restart=on-failure"
  "StateDirectory=gatehoused" "StateDirectoryMode=0700" "UMask=0077"
  "NoNewPrivileges=yes" "CapabilityBoundingSet=" "AmbientCapabilities="
  "ProtectSystem=strict" "ProtectHome=yes" "PrivateTmp=yes" "PrivateDevices=yes"
  "PrivateUsers=yes" "ProtectHostname=yes" "ProtectClock=yes"
  "ProtectKernelTunables=yes" "ProtectKernelModules=yes" "ProtectKernelLogs=yes"
  "ProtectControlGroups=yes" "ProtectProc=invisible" "ProcSubset=pid"
  "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX" "RestrictNamespaces=yes"
  "RestrictRealtime=yes" "RestrictSUIDSGID=yes" "LockPersonality=yes"
  "MemoryDenyWriteExecute=yes" "SystemCallArchitectures=native"
  "SystemCallFilter=@system-service" "SystemCallFilter=~@privileged @resources"
  "WantedBy=multi-user.target"
)
missing=()
for line in "${required[@]}"; do
  grep -qxF "$line" "$unit" || missing+=("$line")
done
[ ${#missing[@]} -eq 0 ] || bad "the unit lacks: $(printf '[%s] ' "${missing[@]}")"
# No setting that would undo the sandbox.
! grep -Eq '^(DynamicUser|ReadWritePaths|PermissionsStartOnly)=' "$unit" \
  || bad "the unit has a setting that widens the sandbox: $(grep -E '^(DynamicUser|ReadWritePaths|PermissionsStartOnly)=' "$unit")"

control() { dpkg-deb -f "$out" "$1"; }
[ "$(control Package)" = gatehoused ] || bad "Package is '$(control Package)'"
[ "$(control Version)" = "$version" ] || bad "Version is '$(control Version)', not $version"
[ "$(control Section)" = net ] || bad "Section is '$(control Section)', not net"
depends=$(control Depends)
for dep in libc6 adduser; do
  [[ $depends == *"$dep"* ]] || bad "Depends lacks $dep: $depends"
done
if ldd "$bin" | grep -q 'libssl\.so\.3'; then
  [[ $depends == *libssl3* ]] || bad "the binary links libssl.so.3 but Depends lacks libssl3: $depends"
fi

# Both shipped configurations load and validate with the packaged binary (a temp SQLite instead
# of their data directory and database, so nothing outside $work is touched). The cluster
# example's `[rate_limits] shared = true` is PostgreSQL-only (refused on SQLite by design), so
# its copy here has it off; everything else is checked as shipped.
cluster_copy="$work/gatehoused.example-cluster.toml"
sed 's/^shared = true/shared = false/' "$x/usr/share/doc/gatehoused/gatehoused.example-cluster.toml" \
  >"$cluster_copy"
grep -q '^shared = false' "$cluster_copy" || bad "the cluster example no longer sets rate_limits.shared"
for conf in "$x/etc/gatehoused/gatehoused.toml" "$cluster_copy"; do
  d="$work/try-$(basename "$conf")"
  GATEHOUSE_LOG=warn "$x/usr/sbin/gatehoused" --config "$conf" --data-dir "$d" \
    --database-url "sqlite://$d/gatehouse.db" admin migrate >"$work/try.log" 2>&1 \
    || { cat "$work/try.log" >&2; bad "$(basename "$conf") does not load with this gatehoused"; }
done

echo "$me: $out ($(du -h "$out" | cut -f1)) is good: $(grep -c . <<<"$listing") entries," \
  "${#required[@]} unit settings checked, conffile /etc/gatehoused/gatehoused.toml;" \
  "Depends: $depends"
