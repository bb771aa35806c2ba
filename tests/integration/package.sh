#!/usr/bin/env bash
# The Debian package, as a DBA uses it: scripts/package.sh builds it (the
# debug build, stripped, to spare CI a release build; the release package
# differs only in the compiler's optimisation), the extension's files are
# taken away, `dpkg -i` installs the package, the pgTAP suite (tests/sql)
# passes on a clean cluster against what the package installed, and
# `dpkg --purge` removes every file again. The files this run found
# installed are put back at the end.
. "$(dirname "$0")/lib.sh"
if [ "$PG" != "15" ]; then
    echo "# skip: the package depends on Debian's postgresql-15; PostgreSQL $PG here is not a Debian package"
    exit 77
fi
test_dir WORK package
DIR=$WORK/cluster
PORT=$(free_port)
LIBDIR=$("$PG_CONFIG" --pkglibdir)
EXTDIR=$("$PG_CONFIG" --sharedir)/extension
NAME=postgresql-15-etl-ext
mkdir -p "$WORK/saved/lib" "$WORK/saved/extension"
cp -p "$LIBDIR/etl_ext.so" "$WORK/saved/lib/"
cp -p "$EXTDIR"/etl_ext* "$WORK/saved/extension/"
restore() {
    cluster_stop "$DIR"
    dpkg --purge "$NAME" >/dev/null 2>&1
    cp -p "$WORK/saved/lib/etl_ext.so" "$LIBDIR/etl_ext.so.new" && mv -f "$LIBDIR/etl_ext.so.new" "$LIBDIR/etl_ext.so" \
        && cp -p "$WORK"/saved/extension/* "$EXTDIR/"
}
at_exit restore

if ! DEB=$(cd "$ROOT" && PROFILE=debug bash scripts/package.sh 2>"$WORK/package.log"); then
    tail -30 "$WORK/package.log"
    not_ok "scripts/package.sh builds the package"
    finish
    exit 1
fi
DEB="$ROOT/$DEB"
ok "scripts/package.sh builds $(basename "$DEB") ($(du -h "$DEB" | cut -f1))"
expect_eq "the package depends on the server and the C runtime only (no Rust)" \
    "postgresql-15, libc6, libgcc-s1" \
    "$(dpkg-deb -f "$DEB" Depends | sed 's/ ([^)]*)//g')"

# A machine without the extension: nothing of it installed.
rm -f "$LIBDIR/etl_ext.so" "$EXTDIR"/etl_ext*
if OUT=$(dpkg -i "$DEB" 2>&1); then ok "dpkg -i installs the package"; else not_ok "dpkg -i installs the package" "$OUT"; fi
expect_eq "dpkg knows the package as installed" "install ok installed" "$(dpkg-query -W -f='${Status}' "$NAME" 2>&1)"
for f in "$LIBDIR/etl_ext.so" "$EXTDIR/etl_ext.control" "$EXTDIR/etl_ext--$(dpkg-deb -f "$DEB" Version | sed 's/-[^-]*$//').sql" \
         $(for u in "$ROOT"/sql/etl_ext--*--*.sql; do echo "$EXTDIR/$(basename "$u")"; done); do
    expect_eq "the package owns $f" "$NAME" "$(dpkg -S "$f" 2>/dev/null | cut -d: -f1)"
done

cluster_start "$DIR" "$PORT" "shared_preload_libraries = 'etl_ext'" \
    || { not_ok "a server with the packaged library preloaded starts"; finish; exit 1; }
ok "a server with the packaged library preloaded starts"
q "$PORT" -c "CREATE DATABASE etl_sqltest" >/dev/null
if pg_prove --psql-bin "$PGBIN/psql" -h /tmp -p "$PORT" -U postgres -d etl_sqltest --ext .sql "$ROOT/tests/sql/" \
        >"$WORK/pg_prove.log" 2>&1; then
    ok "the pgTAP suite passes against the packaged extension ($(grep -o 'Tests=[0-9]*' "$WORK/pg_prove.log"))"
else
    not_ok "the pgTAP suite passes against the packaged extension" "$(tail -30 "$WORK/pg_prove.log")"
fi
q "$PORT" -c "CREATE DATABASE app" >/dev/null
q "$PORT" -d app -c "CREATE EXTENSION etl_ext" >/dev/null
expect_eq "CREATE EXTENSION installs the package's version, and the demo import (5% dirty lines) runs through it" \
    "$(dpkg-deb -f "$DEB" Version | sed 's/-[^-]*$//') partial_success,success,success" \
    "$(q "$PORT" -d app -c "SELECT extversion FROM pg_extension WHERE extname = 'etl_ext'") $(q "$PORT" -d app \
        -c "SELECT string_agg(status, ',' ORDER BY stage_order) FROM (SELECT status, row_number() OVER () AS stage_order
            FROM etl_run_all(etl_demo_import(500))) r")"
cluster_stop "$DIR"

if OUT=$(dpkg --purge "$NAME" 2>&1); then ok "dpkg --purge removes the package"; else not_ok "dpkg --purge removes the package" "$OUT"; fi
expect_eq "no file of the extension is left" "" "$(ls "$LIBDIR/etl_ext.so" "$EXTDIR"/etl_ext* 2>/dev/null)"
finish
