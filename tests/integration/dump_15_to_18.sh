#!/usr/bin/env bash
# PostgreSQL 15 to 18 by a dump: pg_upgrade from Debian's 15.20 to the 18.6
# wheel fails for any database holding a table (15.20 stores a pg_attver
# column option 18.6 does not know), so a 15 database moves to 18 by
# pg_dump (18's, as PostgreSQL advises: the newer one) and pg_restore.
# Runs on the PG=18 pass only (exit 77 on the others); needs this tree's
# etl_ext installed into 15 and 18. Checks: the restored tables equal the
# 15 database's row for row, sequences and extension version too; what 0.5.0
# adds (lib_history.sh: a purged import, a held one, an export's import)
# says on 18 what it says on 15; the release of the held import, the job
# left queued and the next import give on 18 exactly what they give on 15.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_history.sh"
if [ "$PG" != "18" ]; then
    echo "# skip: the 15 -> 18 dump and restore runs once, on the PG=18 pass"
    exit 77
fi
OLD_PG_CONFIG=$(pg_config_for 15) || exit 1
OLD_BIN=$("$OLD_PG_CONFIG" --bindir)
VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' "$ROOT/Cargo.toml" | head -1)
for cfg in "$OLD_PG_CONFIG" "$PG_CONFIG"; do
    if [ ! -e "$("$cfg" --sharedir)/extension/etl_ext--$VERSION.sql" ] || [ ! -e "$("$cfg" --pkglibdir)/etl_ext.so" ]; then
        echo "# skip: etl_ext $VERSION is not installed into $("$cfg" --version) (cargo pgrx install --pg-config $cfg ...)"
        exit 77
    fi
done
test_dir WORK dump_15_18
chown postgres "$WORK"
OLD=$WORK/old15
NEW=$WORK/new18
OLD_PORT=$(free_port)
NEW_PORT=$(free_port "$OLD_PORT")

# The 15 server, with Debian's binaries.
mkdir -p "$OLD" && chown postgres "$OLD"
sudo -u postgres "$OLD_BIN/initdb" -D "$OLD/data" -U postgres -A trust --no-sync >"$OLD/initdb.log" 2>&1
{ echo "port = $OLD_PORT"; echo "unix_socket_directories = '$PGSOCK'"; echo "listen_addresses = ''"; echo "fsync = off"; } \
    >>"$OLD/data/postgresql.conf"
sudo -u postgres "$OLD_BIN/pg_ctl" -D "$OLD/data" -l "$OLD/server.log" -w start >/dev/null \
    || { not_ok "a PostgreSQL 15 server starts" "$(tail -5 "$OLD/server.log")"; finish; exit 1; }
at_exit 'sudo -u postgres "$OLD_BIN/pg_ctl" -D "$OLD/data" -m fast -w stop >/dev/null 2>&1'
expect_eq "the old server runs PostgreSQL 15" "15" "$(q "$OLD_PORT" -c "SELECT current_setting('server_version_num')::int / 10000")"
q "$OLD_PORT" -c "CREATE DATABASE etl_db" >/dev/null
q "$OLD_PORT" -d etl_db -c "CREATE EXTENSION etl_ext" >/dev/null
load_history "$OLD_PORT" etl_db
use_050 "$OLD_PORT" etl_db
expect_050 "15" "$OLD_PORT" etl_db
table_fingerprint "$OLD_PORT" etl_db >"$WORK/tables-15.txt"
SEQUENCES=$(sequence_positions "$OLD_PORT" etl_db)
EXTVERSION=$(q "$OLD_PORT" -d etl_db -c "SELECT extversion FROM pg_extension WHERE extname = 'etl_ext'")

# 18's pg_dump of the 15 database, restored into a new 18 cluster.
if sudo -u postgres "$PGBIN/pg_dump" -h "$PGSOCK" -p "$OLD_PORT" -U postgres -Fc -f "$WORK/etl_db.dump" etl_db 2>"$WORK/dump.err"; then
    ok "18's pg_dump -Fc of the 15 database"
else
    not_ok "18's pg_dump -Fc of the 15 database" "$(cat "$WORK/dump.err")"
fi
cluster_start "$NEW" "$NEW_PORT" || { not_ok "a PostgreSQL 18 server starts"; finish; exit 1; }
at_exit 'cluster_stop $NEW'
q "$NEW_PORT" -c "CREATE DATABASE etl_db" >/dev/null
if OUT=$("$PGBIN/pg_restore" -h "$PGSOCK" -p "$NEW_PORT" -U postgres --exit-on-error -d etl_db "$WORK/etl_db.dump" 2>&1); then
    ok "pg_restore into PostgreSQL 18"
else
    not_ok "pg_restore into PostgreSQL 18" "$OUT"
fi
table_fingerprint "$NEW_PORT" etl_db >"$WORK/tables-18.txt"
if diff "$WORK/tables-15.txt" "$WORK/tables-18.txt" >"$WORK/tables.diff"; then
    ok "every table on 18 equals the 15 database's, row for row ($(wc -l <"$WORK/tables-15.txt") tables)"
else
    not_ok "every table on 18 equals the 15 database's, row for row (< 15, > 18)" "$(head -20 "$WORK/tables.diff")"
fi
expect_eq "the identity sequences stand where they stood on 15" "$SEQUENCES" "$(sequence_positions "$NEW_PORT" etl_db)"
expect_eq "the same extension version" "$EXTVERSION" \
    "$(q "$NEW_PORT" -d etl_db -c "SELECT extversion FROM pg_extension WHERE extname = 'etl_ext'")"

# What 0.5.0 adds, on 18 as on 15.
check_050 "$OLD_PORT" etl_db "$NEW_PORT" etl_db "18"

# An operator releases the held import on both, then the next import: the
# release queues its orders stage, which runs with the queued jobs.
for port in "$OLD_PORT" "$NEW_PORT"; do
    q "$port" -d etl_db -c "SELECT etl_release('$HELD')" >/dev/null
    next_import "$port" etl_db
done
expect_true "15: the released import b was loaded (orders of it), every job done" \
    "$(q "$OLD_PORT" -d etl_db -c "SELECT (SELECT count(*) > 0 FROM etl.orders WHERE import_id = '$HELD')
        AND NOT EXISTS (SELECT 1 FROM etl.jobs WHERE state <> 'done')")"
outcome_fingerprint "$OLD_PORT" etl_db >"$WORK/outcome-15.txt"
outcome_fingerprint "$NEW_PORT" etl_db >"$WORK/outcome-18.txt"
if diff "$WORK/outcome-15.txt" "$WORK/outcome-18.txt" >"$WORK/outcome.diff"; then
    ok "the release, the queued jobs and the next import give on 18 what they give on 15 (lead numbers, customer keys, ids)"
else
    not_ok "the release, the queued jobs and the next import give on 18 what they give on 15 (< 15, > 18)" "$(head -20 "$WORK/outcome.diff")"
fi
finish
