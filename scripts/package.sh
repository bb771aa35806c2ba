#!/usr/bin/env bash
# Builds a Debian package of etl_ext for PostgreSQL 15 (Debian's
# postgresql-15), which installs without Rust, cargo or a build:
#   bash scripts/package.sh                 # release build (12-20 minutes the first time on 2 cores)
#   PROFILE=debug bash scripts/package.sh   # the debug build (for tests; debug info stripped)
# Prints the path of the .deb (target/package/postgresql-15-etl-ext_<version>-1_<arch>.deb).
# Install it with: apt-get install ./target/package/postgresql-15-etl-ext_*.deb
set -euo pipefail
cd "$(dirname "$0")/.."
export USER=${USER:-root}
PROFILE=${PROFILE:-release}
PG_CONFIG=/usr/bin/pg_config
VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
ARCH=$(dpkg --print-architecture)
NAME=postgresql-15-etl-ext
OUT=target/package
ROOTDIR=$OUT/$NAME
DEB=$OUT/${NAME}_${VERSION}-1_${ARCH}.deb

bash scripts/setup.sh >&2
rm -rf "$ROOTDIR" && mkdir -p "$ROOTDIR"
echo "== cargo pgrx package ($PROFILE) into $ROOTDIR" >&2
profile_flag=()
[ "$PROFILE" = "debug" ] && profile_flag=(--debug)
cargo pgrx package "${profile_flag[@]}" --pg-config "$PG_CONFIG" --no-default-features --features pg15 \
    --out-dir "$ROOTDIR" >&2
# The library, its control file, the generated install script and the
# committed update scripts, at the paths Debian's postgresql-15 uses.
SO=$ROOTDIR$("$PG_CONFIG" --pkglibdir)/etl_ext.so
EXT=$ROOTDIR$("$PG_CONFIG" --sharedir)/extension
for f in "$SO" "$EXT/etl_ext.control" "$EXT/etl_ext--$VERSION.sql"; do
    [ -s "$f" ] || { echo "package.sh: $f is missing from cargo pgrx package's output" >&2; exit 1; }
done
strip --strip-debug "$SO"

mkdir -p "$ROOTDIR/DEBIAN" "$ROOTDIR/usr/share/doc/$NAME"
cp README.md docs/upgrades.md docs/security.md "$ROOTDIR/usr/share/doc/$NAME/"
# The library needs only libc, libm and libgcc_s besides the server.
glibc=$(objdump -T "$SO" | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -V | tail -1)
cat >"$ROOTDIR/DEBIAN/control" <<CONTROL
Package: $NAME
Version: $VERSION-1
Architecture: $ARCH
Maintainer: etl_ext maintainers <etl-ext@localhost>
Depends: postgresql-15, libc6 (>= $glibc), libgcc-s1
Section: database
Priority: optional
Installed-Size: $(du -sk --exclude=DEBIAN "$ROOTDIR" | cut -f1)
Description: CRM ETL pipeline (orders, customers, sales leads) inside PostgreSQL 15
 etl_ext runs a company's CRM ETL inside the database: imports of shop orders
 land in a staging table and three stages turn them into orders, customers and
 sales leads, chained by events, a durable queue and a background worker.
 After installing: CREATE EXTENSION etl_ext; (and for the worker,
 shared_preload_libraries = 'etl_ext' and etl.database).
CONTROL
dpkg-deb --root-owner-group -Zxz --build "$ROOTDIR" "$DEB" >&2
echo "$DEB"
