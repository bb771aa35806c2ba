#!/usr/bin/env bash
# Data for the backup, restore, upgrade and failover tests (sourced after
# lib.sh; not a test itself): a history of imports the way users leave a
# database, the next import, and fingerprints to compare two databases.
#
#   load_history PORT DB     shops, mappings, four imports (updates of earlier
#                            orders, dirty lines, cancellations); three run
#                            through the pipeline, the fourth left queued;
#                            an application event refused
#   next_import PORT DB      a new import (id ...0009), completed and queued;
#                            then CALL etl_run_queue() runs every due job
#   side_import PORT DB      a small completed import of a shop of its own
#                            ("Side Shop"): whatever order the queue runs it
#                            in beside a demo import, the results are the same
#   outcome_fingerprint PORT DB
#                            the results and what identifies them: lead
#                            numbers, customer keys, shop ids, run, job and
#                            event ids with their states and counts (not
#                            generated uuids or times)
#   table_fingerprint PORT DB
#                            every row of every table of schema etl, times and
#                            uuids included (data_fingerprint.sql)
#   sequence_positions PORT DB
#                            each identity sequence's last_value and is_called
#
# What 0.5.0 adds, as a database that used it carries it (after load_history):
#   use_050 PORT DB          import 1's raw lines purged (completed a month
#                            before the others), import b ($HELD) held by the
#                            quality gate, an export's import left queued, an
#                            operator's export profile
#   expect_050 LABEL PORT DB checks that DB is in that state (run on the
#                            database use_050 ran in)
#   check_050 SRC_PORT SRC_DB PORT DB [LABEL]
#                            checks that a copy DB says what the source says
#                            (checks named LABEL, DB if none):
#                            etl_explain of the purged line, etl_redrive of it
#                            refused (55000), import b still held and its
#                            stages refused (55000), the same export returns
#                            its import
#   explain_050 PORT DB      etl_explain of the purged import's first order
#   hold_050 PORT DB         import b's hold_status in etl.pipeline_status
#   sqlstate PORT DB SQL     the SQLSTATE of the error SQL raises (empty when
#                            it raises none, or when the server crashed)

# history_lines_sql: the shops, mappings and four pending imports of the
# history, with their raw lines (later imports update earlier orders; dirty
# lines, cancellations), as SQL; shared with upgrade.sh, which runs them on
# 0.1.0.
history_lines_sql() {
    cat <<'SQL'
INSERT INTO etl.shops (shop_name, platform) VALUES ('Tmall Flagship', 'tmall'), ('JD Outlet', 'jd');
INSERT INTO etl.shops (shop_name, platform, active) VALUES ('Closed Store', 'taobao', false);
INSERT INTO etl.order_type_mappings VALUES ('样品', 'SAMPLE'), ('批发', 'BULK');
INSERT INTO etl.imports (import_id, source)
SELECT ('00000000-0000-7000-8000-' || lpad(i::text, 12, '0'))::uuid, 'history ' || i FROM generate_series(1, 4) i;
INSERT INTO etl.raw_orders (import_id, line_no, order_id, shop, customer_name, order_status, order_type, amount, ordered_at)
SELECT ('00000000-0000-7000-8000-' || lpad(i::text, 12, '0'))::uuid, n,
       'SO-' || (n % 300 + i * 50),
       (ARRAY['Tmall Flagship', ' JD Outlet', 'Closed Store', 'No Such Shop'])[1 + (n * i) % 4],
       (ARRAY['王小明', 'Li Lei', E'\u3000小红\u3000', 'O''Brien'])[1 + (n + i) % 4],
       (ARRAY['paid', 'cancelled', 'REFUNDED', 'shipped'])[1 + (n + i) % 4],
       (ARRAY['样品', '批发', NULL])[1 + n % 3],
       CASE WHEN n % 40 = 0 THEN '¥1,2x4' ELSE '¥' || ((n * 37 * i) % 9000) || '.' || lpad(((n * 13) % 1000)::text, 3, '0') END,
       CASE WHEN n % 55 = 0 THEN '2026-02-30 10:00:00'
            ELSE '2026-0' || (1 + (n + i) % 9) || '-1' || (n % 9) || ' 1' || (n % 10) || ':00:00' END
  FROM generate_series(1, 4) i, generate_series(1, 400) n;
SQL
}

load_history() {
    {
        history_lines_sql
        cat <<'SQL'
UPDATE etl.imports SET status = 'completed', completed_at = '2026-03-01 12:00:00+00';
CALL etl_run_queue(9);
SELECT etl_emit_event('ORDERS_ETL_COMPLETED', '{"import_id": "not a uuid"}');
SQL
    } | q "$1" -d "$2" >/dev/null
}

next_import() {
    q "$1" -d "$2" >/dev/null <<'SQL'
INSERT INTO etl.imports (import_id, source) VALUES ('00000000-0000-7000-8000-000000000009', 'next');
INSERT INTO etl.raw_orders (import_id, line_no, order_id, shop, customer_name, order_status, order_type, amount, ordered_at)
SELECT '00000000-0000-7000-8000-000000000009', n, 'SO-' || (n * 3),
       (ARRAY['Tmall Flagship', 'JD Outlet'])[1 + n % 2],
       (ARRAY['王小明', 'Li Lei', 'New Customer ' || (n % 7)])[1 + n % 3], 'paid', '样品', (n * 11) || '.5',
       '2026-11-0' || (1 + n % 9)
  FROM generate_series(1, 200) n;
UPDATE etl.imports SET status = 'completed' WHERE import_id = '00000000-0000-7000-8000-000000000009';
SQL
    q "$1" -d "$2" -c "CALL etl_run_queue()" >/dev/null
}

side_import() {
    q "$1" -d "$2" >/dev/null <<'SQL'
INSERT INTO etl.shops (shop_name, platform) VALUES ('Side Shop', 'side') ON CONFLICT (shop_name) DO NOTHING;
INSERT INTO etl.imports (import_id, source) VALUES ('00000000-0000-7000-8000-00000000000a', 'side');
INSERT INTO etl.raw_orders (import_id, line_no, order_id, shop, customer_name, order_status, order_type, amount, ordered_at)
SELECT '00000000-0000-7000-8000-00000000000a', n, 'SIDE-' || (n % 150), 'Side Shop', 'side customer ' || (n % 17),
       (ARRAY['paid', 'cancelled'])[1 + n % 2], 'sample', (n * 7) || '.25', '2026-05-0' || (1 + n % 9)
  FROM generate_series(1, 300) n;
UPDATE etl.imports SET status = 'completed', completed_at = now() WHERE import_id = '00000000-0000-7000-8000-00000000000a';
SQL
}

# reference_fingerprint PORT ROWS: the results (tests/result_fingerprint.sql)
# of the crash and failover tests' work run undisturbed, in a database
# "reference" the worker does not watch: a demo import of ROWS lines and the
# side import, through CALL etl_run_queue().
reference_fingerprint() {
    q "$1" -c "CREATE DATABASE reference" >/dev/null
    q "$1" -d reference -c "CREATE EXTENSION etl_ext" >/dev/null
    q "$1" -d reference -c "SELECT etl_demo_import($2, 0.7)" >/dev/null
    side_import "$1" reference
    q "$1" -d reference -c "CALL etl_run_queue()" >/dev/null
    q "$1" -d reference -f "$ROOT/tests/result_fingerprint.sql"
}

outcome_fingerprint() {
    q "$1" -d "$2" -f "$ROOT/tests/result_fingerprint.sql"
    q "$1" -d "$2" <<'SQL'
SELECT 'shops ' || string_agg(concat_ws('|', shop_id, shop_name, platform, active), ' ' ORDER BY shop_id) FROM etl.shops;
SELECT 'leads ' || md5(string_agg(concat_ws('|', l.lead_no, c.customer_key, l.current_stage, l.order_count, l.total_amount,
                                            l.sample_count, l.bulk_count), E'\n' ORDER BY l.lead_no))
  FROM etl.business_leads l JOIN etl.customers c USING (customer_global_id);
SELECT 'orders ' || md5(string_agg(concat_ws('|', o.shop_id, o.order_id, c.customer_key, l.lead_no, o.loaded_by_run,
                                             o.source_line_no, o.import_id), E'\n' ORDER BY o.shop_id, o.order_id))
  FROM etl.orders o LEFT JOIN etl.customers c USING (customer_global_id) LEFT JOIN etl.business_leads l USING (lead_id);
SELECT 'runs ' || string_agg(concat_ws('|', run_id, right(import_id::text, 2), stage, status, rows_in, rows_ok,
                                       rows_superseded, rows_rejected, rows_failed), ' ' ORDER BY run_id) FROM etl.runs;
SELECT 'jobs ' || string_agg(concat_ws('|', job_id, right(import_id::text, 2), stage, state, attempts, last_run_id),
                             ' ' ORDER BY job_id) FROM etl.jobs;
SELECT 'events ' || string_agg(concat_ws('|', event_id, event_type, accepted, payload ->> 'import_id', payload ->> 'status'),
                               ' ' ORDER BY event_id) FROM etl.events;
SELECT 'rejects ' || count(*) || ' ' || md5(string_agg(concat_ws('|', import_id, line_no, stage, reason), ' '
                                                ORDER BY import_id, line_no)) FROM etl.rejects;
SQL
}

table_fingerprint() {
    q "$1" -d "$2" -f "$ROOT/tests/integration/data_fingerprint.sql"
}

sequence_positions() {
    q "$1" -d "$2" -c "SELECT string_agg(format('%s=%s/%s', s.seq, s.last_value, s.is_called), ' ' ORDER BY s.seq)
        FROM (SELECT c.oid::regclass::text AS seq, (pg_catalog.pg_sequence_last_value(c.oid)) AS last_value,
                     pg_catalog.pg_sequence_last_value(c.oid) IS NOT NULL AS is_called
                FROM pg_catalog.pg_class c WHERE c.relkind = 'S' AND c.relnamespace = 'etl'::regnamespace) s"
}

# What 0.5.0 adds. PURGED: history import 1, whose raw lines use_050 purges;
# HELD: an import the quality gate holds; EXPORT_CSV: a shop's export (SQL
# for its bytes).
PURGED=00000000-0000-7000-8000-000000000001
HELD=00000000-0000-7000-8000-00000000000b
EXPORT_CSV="convert_to(E'order_id,shop,customer_name,order_status,order_type,amount,ordered_at\\nEX-1,Tmall Flagship,王小明,paid,样品,12.50,2026-04-01 10:00:00\\nEX-2,JD Outlet,Li Lei,paid,批发,7.25,2026-04-02 11:00:00\\n', 'UTF8')"

use_050() {
    q "$1" -d "$2" >/dev/null <<SQL
INSERT INTO etl.export_profiles (profile_name, encoding, columns) VALUES ('tmall', 'gbk',
    '{"order_id": "订单编号", "customer_name": "买家会员名", "amount": "金额", "ordered_at": "时间"}');
UPDATE etl.imports SET completed_at = '2026-01-15 12:00:00+00' WHERE import_id = '$PURGED';
SET etl.retain_raw_lines = 0;
SELECT count(*) FROM etl_purge(now() - timestamptz '2026-02-01 00:00:00+00');
INSERT INTO etl.imports (import_id, source) VALUES ('$HELD', 'wrongly mapped');
INSERT INTO etl.raw_orders (import_id, line_no, order_id, shop, customer_name, order_status, order_type, amount, ordered_at)
SELECT '$HELD', n, 'HELD-' || n, 'Tmall Flagship', 'Held Customer ' || (n % 5), 'paid', '样品',
       CASE WHEN n % 4 = 0 THEN '12.50' ELSE 'paid' END, '2026-04-0' || (1 + n % 9)
  FROM generate_series(1, 40) n;
UPDATE etl.imports SET status = 'completed' WHERE import_id = '$HELD';
SET etl.max_reject_ratio = 0.2;
SELECT count(*) FROM etl_run_all('$HELD');
SELECT import_id FROM etl_import_export($EXPORT_CSV, 'generic', 'shop export');
SQL
}

explain_050() {
    local order
    order=$(q "$1" -d "$2" -c "SELECT quote_literal(s.shop_name) || ', ' || quote_literal(o.order_id)
        FROM etl.orders o JOIN etl.shops s USING (shop_id) WHERE o.import_id = '$PURGED' ORDER BY o.order_id LIMIT 1")
    [ -n "$order" ] || return 0
    q "$1" -d "$2" -c "SELECT line_no, raw IS NULL, fate, detail LIKE '%purged%' FROM etl_explain($order)
                        WHERE import_id = '$PURGED' ORDER BY line_no"
}

hold_050() {
    q "$1" -d "$2" -c "SELECT hold_status FROM etl.pipeline_status WHERE import_id = '$HELD'"
}

sqlstate() {
    q "$1" -d "$2" -v VERBOSITY=sqlstate -c "$3" 2>&1 | sed -n 's/^ERROR:  \([0-9A-Z]\{5\}\).*/\1/p'
}

expect_050() {
    local label=$1 port=$2 db=$3
    expect_eq "$label: import 1's raw lines are purged, its import and counts kept" "0 true" \
        "$(q "$port" -d "$db" -c "SELECT (SELECT count(*) FROM etl.raw_orders WHERE import_id = '$PURGED')
            || ' ' || (SELECT raw_lines = 400 FROM etl.purged_imports WHERE import_id = '$PURGED')")"
    expect_true "$label: etl_explain says import 1's line of its first order was purged (raw NULL)" \
        "$(explain_050 "$port" "$db" | grep -q '|t|loaded|t$' && echo t)"
    expect_eq "$label: the quality gate holds import b, nothing of it loaded" "held 0" \
        "$(q "$port" -d "$db" -c "SELECT hold_status || ' ' || (SELECT count(*) FROM etl.orders WHERE import_id = '$HELD')
            FROM etl.pipeline_status WHERE import_id = '$HELD'")"
    expect_true "$label: the export's import is completed and queued, with its content's sha256" \
        "$(q "$port" -d "$db" -c "SELECT status = 'completed' AND content_sha256 IS NOT NULL
            AND EXISTS (SELECT 1 FROM etl.jobs j WHERE j.import_id = i.import_id AND j.state = 'queued')
            FROM etl.imports i WHERE source = 'shop export'")"
}

check_050() {
    local src_port=$1 src_db=$2 port=$3 db=$4 label=${5:-$4} explain exported
    explain=$(explain_050 "$src_port" "$src_db")
    exported=$(q "$src_port" -d "$src_db" -c "SELECT import_id FROM etl.imports WHERE source = 'shop export'")
    if [ -n "$explain" ]; then
        expect_eq "$label: etl_explain says the same of the purged line as the source" "$explain" "$(explain_050 "$port" "$db")"
    else
        not_ok "$label: etl_explain says the same of the purged line as the source" "the source's explain is empty"
    fi
    expect_eq "$label: etl_redrive of the purged import is refused (55000: its raw lines are gone)" "55000" \
        "$(sqlstate "$port" "$db" "SELECT etl_redrive('$PURGED')")"
    expect_eq "$label: import b is still held" "held" "$(hold_050 "$port" "$db")"
    expect_eq "$label: a stage of the held import is refused (55000)" "55000" \
        "$(sqlstate "$port" "$db" "SELECT etl_orders('$HELD')")"
    expect_eq "$label: the same export loaded again returns its import (reused), loading nothing" "$exported|2|true" \
        "$(q "$port" -d "$db" -c "SELECT import_id || '|' || lines || '|' || reused FROM etl_import_export($EXPORT_CSV, 'generic', 'shop export')")"
}
