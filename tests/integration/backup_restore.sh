#!/usr/bin/env bash
# pg_dump and restore of a database that ran imports, in both formats: -Fc
# restored by pg_restore, and plain SQL restored by psql, each into a new
# database, as a superuser. Checks: every table and identity sequence of
# schema etl is registered with pg_extension_config_dump (so pg_dump carries
# its rows); the restored tables equal the source's row for row (times and
# ids included) and the sequences stand where they stood; the restore
# queued and ran nothing; and the next import (with the job the source left
# queued) gives there exactly what it gives in the source: the same lead
# numbers, customer keys, shop, run, job and event ids, the same results.
# What 0.5.0 adds survives too: an import whose raw lines were purged
# (etl_explain says so, etl_redrive refuses it), an import the quality gate
# holds (still held, its stages refused; released, it loads as in the
# source) and an export's import (the same file again returns it).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_history.sh"
test_dir WORK backup
DIR=$WORK/cluster
PORT=$(free_port)
cluster_start "$DIR" "$PORT" || { not_ok "a PostgreSQL $PG server starts on port $PORT"; finish; exit 1; }
at_exit 'cluster_stop $DIR'
chown postgres "$WORK"

q "$PORT" -c "CREATE DATABASE source" >/dev/null
q "$PORT" -d source -c "CREATE EXTENSION etl_ext" >/dev/null
load_history "$PORT" source

# 1. Registration. Every table holds what users or the pipeline wrote, but
#    etl.pipeline_lock: one row the install seeds and nobody can add to
#    (CREATE EXTENSION makes it again; the table fingerprint compares it too).
SEEDED_ONLY="'pipeline_lock'"
expect_eq "every table of schema etl is registered for pg_dump" "" \
    "$(q "$PORT" -d source -c "SELECT string_agg(c.oid::regclass::text, ', ' ORDER BY c.relname)
        FROM pg_class c WHERE c.relnamespace = 'etl'::regnamespace AND c.relkind IN ('r', 'p')
         AND c.relname NOT IN ($SEEDED_ONLY)
         AND c.oid <> ALL (SELECT unnest(extconfig) FROM pg_extension WHERE extname = 'etl_ext')")"
expect_eq "every identity sequence of schema etl is registered for pg_dump" "" \
    "$(q "$PORT" -d source -c "SELECT string_agg(s.objid::regclass::text, ', ' ORDER BY s.objid::regclass::text)
        FROM pg_depend s JOIN pg_class t ON t.oid = s.refobjid
       WHERE s.classid = 'pg_class'::regclass AND s.refclassid = 'pg_class'::regclass AND s.deptype = 'i'
         AND t.relnamespace = 'etl'::regnamespace AND (SELECT relkind FROM pg_class WHERE oid = s.objid) = 'S'
         AND s.objid <> ALL (SELECT unnest(extconfig) FROM pg_extension WHERE extname = 'etl_ext')")"
expect_eq "no table is registered with a filter but etl.export_profiles (the install seeds no other row)" \
    "etl.export_profiles:WHERE NOT built_in" \
    "$(q "$PORT" -d source -c "SELECT string_agg(t::regclass || ':' || c, ', ') FROM pg_extension, unnest(extconfig, extcondition) AS x(t, c) WHERE extname = 'etl_ext' AND c <> ''")"
expect_true "the source holds orders, customers, leads, rejects, runs, events and queued jobs" \
    "$(q "$PORT" -d source -c "SELECT (SELECT count(*) FROM etl.orders) > 100 AND (SELECT count(*) FROM etl.customers) > 3
        AND (SELECT count(*) FROM etl.business_leads) > 0 AND (SELECT count(*) FROM etl.rejects) > 10
        AND (SELECT count(*) FROM etl.runs) = 9 AND (SELECT count(*) FROM etl.events) > 9
        AND (SELECT count(*) FROM etl.jobs WHERE state = 'queued') > 0")"

# What 0.5.0 adds, as a database that used it carries it (lib_history.sh):
# an import whose raw lines etl_purge removed (import 1, completed a month
# before the others), an import the quality gate holds (most of its lines
# rejected, nothing of it kept), an import loaded from a shop's export, left
# queued, and an operator's export profile (the users' data: dumped and
# restored beside the built-in ones, which the restore's CREATE EXTENSION
# makes).
use_050 "$PORT" source
expect_050 "the source" "$PORT" source
expect_true "the source: the operator's export profile is stored beside the built-in ones" \
    "$(q "$PORT" -d source -c "SELECT count(*) FILTER (WHERE NOT built_in) = 1 AND count(*) FILTER (WHERE built_in) > 0 FROM etl.export_profiles")"

table_fingerprint "$PORT" source >"$WORK/tables-source.txt"
SEQUENCES=$(sequence_positions "$PORT" source)
echo "# sequences: $SEQUENCES"

# 2. Dumps, with this major's pg_dump.
if sudo -u postgres "$PGBIN/pg_dump" -h "$PGSOCK" -p "$PORT" -U postgres -Fc -f "$WORK/source.dump" source 2>"$WORK/dump.err"; then
    ok "pg_dump -Fc"
else
    not_ok "pg_dump -Fc" "$(cat "$WORK/dump.err")"
fi
if sudo -u postgres "$PGBIN/pg_dump" -h "$PGSOCK" -p "$PORT" -U postgres -f "$WORK/source.sql" source 2>"$WORK/dump.err"; then
    ok "pg_dump (plain)"
else
    not_ok "pg_dump (plain)" "$(cat "$WORK/dump.err")"
fi
expect_true "the plain dump carries the rows of etl.orders and the lead numbers' sequence" \
    "$(grep -q '^COPY etl.orders ' "$WORK/source.sql" && grep -q "setval('etl.business_leads_lead_no_seq'" "$WORK/source.sql" && echo t)"

# 3. Restores into new databases.
q "$PORT" -c "CREATE DATABASE restored_custom" >/dev/null
if OUT=$("$PGBIN/pg_restore" -h "$PGSOCK" -p "$PORT" -U postgres --exit-on-error -d restored_custom "$WORK/source.dump" 2>&1); then
    ok "pg_restore of the -Fc dump into a new database"
else
    not_ok "pg_restore of the -Fc dump into a new database" "$OUT"
fi
q "$PORT" -c "CREATE DATABASE restored_plain" >/dev/null
if OUT=$(q "$PORT" -d restored_plain -q -f "$WORK/source.sql" 2>&1 >/dev/null); then
    ok "psql restores the plain dump into a new database"
else
    not_ok "psql restores the plain dump into a new database" "$OUT"
fi

for db in restored_custom restored_plain; do
    table_fingerprint "$PORT" "$db" >"$WORK/tables-$db.txt"
    if diff "$WORK/tables-source.txt" "$WORK/tables-$db.txt" >"$WORK/tables-$db.diff"; then
        ok "$db: every table equals the source's, row for row ($(wc -l <"$WORK/tables-source.txt") tables)"
    else
        not_ok "$db: every table equals the source's, row for row (< source, > restored)" "$(head -20 "$WORK/tables-$db.diff")"
    fi
    expect_eq "$db: the identity sequences stand where the source's do" "$SEQUENCES" "$(sequence_positions "$PORT" "$db")"
    expect_eq "$db: the extension's version is the source's" \
        "$(q "$PORT" -d source -c "SELECT extversion FROM pg_extension WHERE extname = 'etl_ext'")" \
        "$(q "$PORT" -d "$db" -c "SELECT extversion FROM pg_extension WHERE extname = 'etl_ext'")"
done

# 3b. What 0.5.0 adds behaves in each restored database as in the source.
for db in restored_custom restored_plain; do
    check_050 "$PORT" source "$PORT" "$db"
done

# 4. The next import, in the source and in each restored database, after an
# operator released the held import (its orders stage runs again, then the
# rest, through the queue with the next import).
for db in source restored_custom restored_plain; do
    q "$PORT" -d "$db" -c "SELECT etl_release('$HELD')" >/dev/null
    next_import "$PORT" "$db"
    outcome_fingerprint "$PORT" "$db" >"$WORK/outcome-$db.txt"
done
expect_true "the released import b was loaded in the source (orders of it)" \
    "$(q "$PORT" -d source -c "SELECT count(*) > 0 FROM etl.orders WHERE import_id = '$HELD'")"
expect_eq "the source ran the queued job and the next import to the end" "0" \
    "$(q "$PORT" -d source -c "SELECT count(*) FROM etl.jobs WHERE state <> 'done'")"
expect_true "the next import created leads in the source (lead numbers to compare)" \
    "$(q "$PORT" -d source -c "SELECT count(*) > 0 FROM etl.business_leads l JOIN etl.orders o USING (lead_id)
                                WHERE o.import_id = '00000000-0000-7000-8000-000000000009'")"
for db in restored_custom restored_plain; do
    if diff "$WORK/outcome-source.txt" "$WORK/outcome-$db.txt" >"$WORK/outcome-$db.diff"; then
        ok "$db: the next import gives the source's results (lead numbers, customer keys, run, job and event ids)"
    else
        not_ok "$db: the next import gives the source's results (< source, > restored)" "$(head -20 "$WORK/outcome-$db.diff")"
    fi
done
finish
