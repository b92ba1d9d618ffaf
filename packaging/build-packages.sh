#!/usr/bin/env bash
# Builds the .deb and the .rpm of defender-syslog into target/packages/ (see README, "Packages").
#
# The binary is a static, stripped, release build for x86_64-unknown-linux-musl (rustls/ring for
# HTTPS and collector TLS; OpenSSL, vendored and static, only inside librdkafka for the streaming
# source, which cannot use rustls), so one .deb serves Debian 11+/Ubuntu 20.04+ and one .rpm RHEL/Rocky/Alma 8+ and SUSE.
# The .deb is assembled with dpkg-deb from packaging/deb/, the .rpm with rpmbuild from
# packaging/rpm/defender-syslog.spec; both carry the same staged tree.
#
# Installs what it lacks on Debian/Ubuntu (as root or via sudo): musl-tools, rpm, the rustup target.
#
# Environment:
#   PKG_VERSION   package version (default: `defender-syslog --version` of the built binary)
#   PKG_RELEASE   package release/revision (default: 1)
#   PACKAGES_DIR  output directory (default: <repo>/target/packages)
#   CARGO_TARGET_DIR is honoured.
set -euo pipefail
umask 022
cd "$(dirname "$0")/.."
REPO=$PWD
TARGET=x86_64-unknown-linux-musl
TARGET_DIR=${CARGO_TARGET_DIR:-$REPO/target}
OUT=${PACKAGES_DIR:-$REPO/target/packages}
WORK=$TARGET_DIR/packaging-work
PKG=defender-syslog

say() { printf '== build-packages: %s\n' "$*"; }
die() { printf 'build-packages: %s\n' "$*" >&2; exit 1; }

# --- tools -------------------------------------------------------------------------------------
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
need=()
command -v musl-gcc >/dev/null || need+=(musl-tools) # ring and librdkafka compile C for the target
command -v rpmbuild >/dev/null || need+=(rpm)
command -v dpkg-deb >/dev/null || die "dpkg-deb not found: run this on Debian or Ubuntu"
command -v readelf >/dev/null || need+=(binutils)
if [ "${#need[@]}" -gt 0 ]; then
  say "installing ${need[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
if [ ! -d "$(rustc --print target-libdir --target "$TARGET" 2>/dev/null)" ]; then
  command -v rustup >/dev/null || die "the Rust target $TARGET is missing and rustup is not there to add it"
  say "adding rust target $TARGET"
  rustup target add "$TARGET"
fi

# --- binary ------------------------------------------------------------------------------------
say "cargo build --release --target $TARGET"
# librdkafka's own build (rdkafka-sys) reads only CC, so CC is the musl compiler; host build
# scripts keep gcc.
CC=musl-gcc HOST_CC=gcc CC_x86_64_unknown_linux_gnu=gcc \
  cargo build --release --locked -p "$PKG" --target "$TARGET"
BIN=$TARGET_DIR/$TARGET/release/$PKG

# Static (no program interpreter, no shared libraries), stripped, and OpenSSL only where allowed.
readelf -lW "$BIN" | grep -q 'Requesting program interpreter' && die "$BIN is dynamically linked"
readelf -dW "$BIN" | grep -q '(NEEDED)' && die "$BIN needs shared libraries"
readelf -SW "$BIN" | grep -q '\.symtab' && die "$BIN is not stripped"
TREE=$(cargo tree --locked -p "$PKG" --target "$TARGET" -e normal --prefix none) || die "cargo tree failed"
if grep -E '^(native-tls|aws-lc-sys) ' <<<"$TREE"; then
  die "HTTPS and collector TLS must use rustls with ring only (no native-tls or aws-lc)"
fi
# The one allowance: openssl-sys for librdkafka (rdkafka-sys) and nothing else.
if grep -qE '^openssl-sys ' <<<"$TREE"; then
  USERS=$(cargo tree --locked -p "$PKG" --target "$TARGET" -e normal -i openssl-sys --depth 1 --prefix none |
    tail -n +2 | awk '{print $1}' | sort -u | tr '\n' ' ')
  [ "$USERS" = "rdkafka-sys " ] || die "openssl-sys is allowed only for rdkafka-sys (librdkafka); it is used by: $USERS"
fi
"$BIN" --version >/dev/null || die "$BIN does not run"

VERSION=${PKG_VERSION:-$("$BIN" --version | awk '{print $2}')}
RELEASE=${PKG_RELEASE:-1}
[ -n "$VERSION" ] || die "cannot tell the version"
# A semver pre-release (1.2.0-rc.1) must sort before the release: `~` in both dpkg and rpm.
VERSION=${VERSION/-/\~}
say "version $VERSION-$RELEASE"

# Reproducible: every timestamp (files, archives, rpm build time) is the last commit's
# (outside git: Cargo.lock's mtime).
WHEN=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || stat -c %Y Cargo.lock)}
export SOURCE_DATE_EPOCH=$WHEN

# --- staged tree shared by both packages --------------------------------------------------------
rm -rf "$WORK"
STAGE=$WORK/stage
GEN=$WORK/gen
mkdir -p "$STAGE" "$GEN/man" "$GEN/completions" "$OUT"
"$BIN" generate man --out-dir "$GEN/man" >/dev/null
"$BIN" generate completions --out-dir "$GEN/completions" >/dev/null

DOC=$STAGE/usr/share/doc/$PKG
install -D -m 0755 "$BIN" "$STAGE/usr/bin/$PKG"
install -D -m 0640 packaging/config.toml "$STAGE/etc/$PKG/config.toml"
chmod 0750 "$STAGE/etc/$PKG"
install -D -m 0644 systemd/$PKG.service "$STAGE/usr/lib/systemd/system/$PKG.service"
# Monitoring: the Grafana dashboard and example Prometheus alert rules ([metrics] in config.toml).
install -D -m 0644 packaging/grafana-dashboard.json "$STAGE/usr/share/$PKG/grafana-dashboard.json"
install -D -m 0644 packaging/prometheus-rules.yml "$STAGE/usr/share/$PKG/prometheus-rules.yml"
install -D -m 0644 README.md "$DOC/README.md"
HAS_FORMATS=0
if [ -f docs/formats.md ]; then
  install -m 0644 docs/formats.md "$DOC/formats.md"
  HAS_FORMATS=1
fi
install -d -m 0755 "$STAGE/usr/share/man/man1"
for page in "$GEN"/man/*.1; do
  gzip -9n <"$page" >"$STAGE/usr/share/man/man1/$(basename "$page").gz"
done
chmod 0644 "$STAGE"/usr/share/man/man1/*.gz
install -D -m 0644 "$GEN/completions/$PKG.bash" "$STAGE/usr/share/bash-completion/completions/$PKG"
install -D -m 0644 "$GEN/completions/$PKG.fish" "$STAGE/usr/share/fish/vendor_completions.d/$PKG.fish"
# The changelog is the README's "## Changelog" section.
CHANGELOG=$WORK/changelog
awk '/^## Changelog/{on=1; next} on && /^## /{exit} on' README.md | sed '/./,$!d' >"$CHANGELOG"
[ -s "$CHANGELOG" ] || die "README.md has no '## Changelog' section"

# --- .deb ----------------------------------------------------------------------------------------
DEBROOT=$WORK/deb
cp -a "$STAGE" "$DEBROOT"
# Debian's zsh looks in vendor-completions; RHEL/SUSE in site-functions (below).
install -D -m 0644 "$GEN/completions/_$PKG" "$DEBROOT/usr/share/zsh/vendor-completions/_$PKG"
install -m 0644 LICENSE "$DEBROOT/usr/share/doc/$PKG/copyright"
gzip -9n <"$CHANGELOG" >"$DEBROOT/usr/share/doc/$PKG/changelog.gz"
# Debian wants a changelog of the packaging itself too.
gzip -9n >"$DEBROOT/usr/share/doc/$PKG/changelog.Debian.gz" <<EOF
$PKG ($VERSION-$RELEASE) stable; urgency=medium

  * $PKG $VERSION, static musl build (packaging/build-packages.sh).

 -- defender-syslog developers <defender-syslog@example.invalid>  $(LC_ALL=C date -u -R -d "@$WHEN")
EOF
chmod 0644 "$DEBROOT"/usr/share/doc/$PKG/changelog*.gz
install -d -m 0755 "$DEBROOT/DEBIAN"
for script in postinst prerm postrm; do
  install -m 0755 "packaging/deb/$script" "$DEBROOT/DEBIAN/$script"
done
# Everything under /etc is a conffile: dpkg keeps the admin's edits on upgrade.
(cd "$DEBROOT" && find etc -type f -printf '/%p\n' | sort) >"$DEBROOT/DEBIAN/conffiles"
(cd "$DEBROOT" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z | xargs -0 md5sum) \
  >"$DEBROOT/DEBIAN/md5sums"
cat >"$DEBROOT/DEBIAN/control" <<EOF
Package: $PKG
Version: $VERSION-$RELEASE
Architecture: amd64
Maintainer: defender-syslog developers <defender-syslog@example.invalid>
Installed-Size: $(du -sk --exclude=DEBIAN "$DEBROOT" | cut -f1)
Depends: adduser, ca-certificates
Section: net
Priority: optional
Homepage: https://example.invalid/defender-syslog
Description: Microsoft Defender for Endpoint alerts to a SIEM as syslog over TLS
 defender-syslog pulls alerts from Microsoft Defender for Endpoint (OAuth 2.0
 client credentials, then the alerts REST API) and forwards each alert, and
 each later update of it, as RFC 5424, LEEF (QRadar) or CEF (ArcSight) syslog
 over TLS (RFC 5425). Runs as a hardened systemd service; static binary, no
 OpenSSL.
EOF
chmod 0644 "$DEBROOT"/DEBIAN/{control,conffiles,md5sums}
find "$DEBROOT" -exec touch -h -d "@$WHEN" {} +
DEB=$OUT/${PKG}_${VERSION}-${RELEASE}_amd64.deb
dpkg-deb --root-owner-group -Zxz --build "$DEBROOT" "$DEB" >/dev/null

# --- .rpm ----------------------------------------------------------------------------------------
RPMSTAGE=$WORK/rpmstage
cp -a "$STAGE" "$RPMSTAGE"
install -D -m 0644 "$GEN/completions/_$PKG" "$RPMSTAGE/usr/share/zsh/site-functions/_$PKG"
install -m 0644 LICENSE "$RPMSTAGE/usr/share/doc/$PKG/LICENSE"
install -m 0644 "$CHANGELOG" "$RPMSTAGE/usr/share/doc/$PKG/changelog"
install -d -m 0750 "$RPMSTAGE/var/lib/$PKG"
find "$RPMSTAGE" -exec touch -h -d "@$WHEN" {} +
rpmbuild -bb --quiet \
  --define "_buildhost reproducible" \
  --define "use_source_date_epoch_as_buildtime 1" \
  --define "clamp_mtime_to_source_date_epoch 1" \
  --define "_topdir $WORK/rpmbuild" \
  --define "_dbpath $WORK/rpmdb" \
  --define "_rpmdir $WORK/rpms" \
  --define "_build_name_fmt %%{NAME}-%%{VERSION}-%%{RELEASE}.%%{ARCH}.rpm" \
  --define "pkg_version $VERSION" \
  --define "pkg_release $RELEASE" \
  --define "has_formats $HAS_FORMATS" \
  --define "changelog_date $(LC_ALL=C date -u -d "@$WHEN" '+%a %b %d %Y')" \
  --define "stage $RPMSTAGE" \
  packaging/rpm/$PKG.spec
RPM=$OUT/$PKG-$VERSION-$RELEASE.x86_64.rpm
mv "$WORK/rpms/$PKG-$VERSION-$RELEASE.x86_64.rpm" "$RPM"

say "built:"
ls -l "$DEB" "$RPM"
