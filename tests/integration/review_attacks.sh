#!/usr/bin/env bash
# Attacks from an outside review of etl_ext 0.4.0 that got through before
# they were closed (src/worker.rs connects as the bootstrap superuser by oid;
# src/drop_guard.rs sees every statement that drops etl_ext). Each check
# passes while the hole stays closed ("ok") and fails if it opens again.
#   1. The database owner (no superuser) runs
#        ALTER DATABASE appdb SET session_authorization = '<any role>'
#      PostgreSQL stores it (NOTICE only). The queue worker connects with no
#      user name (BackgroundWorkerInitializeConnection(db, NULL)), so
#      InitPostgres does not pin session_authorization (a client backend's
#      is set with PGC_S_OVERRIDE), and the database's value makes the
#      worker's session user that role. pg_settings does not show
#      session_authorization (GUC_NO_SHOW_ALL), so
#      worker_settings::ignore_database_settings never puts it back; its
#      SET role = none then lands on the owner's role, reading
#      pg_file_settings raises "permission denied", the worker exits, and the
#      launcher restarts it in a loop (backoff up to 60 s): no job ever runs.
#      (ALTER DATABASE ... SET role alone is handled, and checked here too.)
#   2. DROP EXTENSION plpgsql CASCADE (a superuser's slip) drops etl_ext and
#      every row of schema etl: the drop guard only looks for the name
#      etl_ext in the statement. Lower severity (superuser only), but the
#      guard promises to stop exactly this loss of data.
#   3. etl_import_export (0.5.0) parses a loader's XLSX (calamine) in the
#      backend. A 3 KB workbook with one cell at column 2^31 made the loader
#      size a row of 2^31 cells: a 48 GB allocation failed, Rust aborted,
#      and the postmaster reset every session (a loader crashed the server).
#      A row numbered before the header (rows out of order) or a reference
#      such as A99999999999 panicked (XX000, "attempt to subtract/multiply
#      with overflow"). A 500 KB workbook inflated 500 MB of shared strings
#      into memory (1 GB of bytea: a terabyte), and a sheet of empty cells
#      was read with no CHECK_FOR_INTERRUPTS (no line is written, so no
#      INSERT): statement_timeout, a cancel and pg_terminate_backend waited
#      for the whole sheet. A 3 KB workbook whose shared strings announced
#      uniqueCount="1000000000000" made calamine reserve 24 TB: abort, reset.
#   4. etl.progress shows a loader only its own imports' stages and its own
#      sessions' export loads, but etl.progress_rows(), the function behind
#      it, is granted to etl_loader (the view needs it) and returned every
#      stage: another loader's export load (pid, import id, lines) too.
#   5. Retention (etl_purge, issue 29), as an operator:
#      a. etl.retain_raw_lines = '30d' (set by a superuser), and the operator
#         calls etl_purge('-100 years 36500 days'). The purge took the
#         GREATEST of older_than and the setting as intervals, which count a
#         month as 30 days: that interval is "longer" than 30 days, yet
#         now() - it is 25 days in the future, so an import completed a
#         moment ago lost its raw lines, rejects and runs: any setting is
#         bypassed. Now the cutoff is the earlier of the two times.
#      b. An operator's purge holds an import's row (its transaction still
#         open) while another operator runs etl_orders of that import. The
#         run waited for the row, then went on: its check of
#         etl.purged_imports was made in the statement that waited, with a
#         snapshot from before the purge committed, and the lines it then
#         read were gone: an orders run "succeeded" over 0 lines (and queued
#         customers and leads) instead of being refused (55000, semantics
#         13.3). Now the row is locked first and the check is the next
#         statement.
#      c. An import the quality gate holds (its orders job done, customers
#         and leads waiting for etl_release) with etl.retain_jobs = 0: the
#         purge removed its one job and recorded the import's jobs as
#         'done', and the import vanished from etl.pipeline_status, where
#         its loader and the operators see it held. Now the jobs of a held
#         import stay, as its raw lines did.
#   6. Where the gate, the purge and the export loader meet (0.5.0's own
#      review): a re-run, gate on, of an import loaded before it (jobs and
#      runs purged) was held as if never loaded; the same export loaded
#      again after a purge came back with lines = 0; etl_quality of a purged
#      import answered nothing, as for an empty one; etl_quality of a released
#      import reported its held run's rejects again once its runs were
#      purged; a loaded import whose leads job died lost its jobs to a purge,
#      recorded 'dead' (read as never loaded). Details in section 6.
#   7. A loaded import whose re-run died (its completion emitted again by
#      an operator, its raw lines purged) was recorded by etl_purge as
#      never loaded ('dead', also over a recorded 'done'); with the gate
#      on, its re-run, queued so once its runs were purged, was held as a
#      first load (and a proof an operator can forge, a done customers job,
#      must not let a first load pass unjudged). Section 7.
# PG=15 (default) or PG=18 selects the major.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_hostile.sh"
test_dir DIR review_attacks
PORT=$(free_port)
cluster_start "$DIR" $PORT "shared_preload_libraries = 'etl_ext'" "etl.database = 'appdb'" \
    "etl.poll_interval = '300ms'" "etl.retry_base_delay = '200ms'"
at_exit 'cluster_stop $DIR'
# Our own sessions pin their search_path and act as their login role (the
# owner's ALTER DATABASE ... SET role would otherwise apply to them too).
export PGOPTIONS='-c search_path=pg_catalog,pg_temp -c role=none'

wait_worker() {
    DB=appdb wait_for $PORT "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'etl_ext worker' AND datname = 'appdb'" 1 "${1:-30}"
}
restart_worker() {
    q $PORT -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE backend_type = 'etl_ext worker'" >/dev/null
}

q $PORT -c "CREATE ROLE db_owner LOGIN" -c "CREATE ROLE loader LOGIN" -c "CREATE ROLE stranger LOGIN" \
    -c "CREATE DATABASE appdb OWNER db_owner" >/dev/null
as_user postgres appdb -c "CREATE EXTENSION etl_ext" -c "GRANT etl_loader TO loader" \
    -c "INSERT INTO etl.shops (shop_name) VALUES ('S1')" >/dev/null

# complete_import ID: the loader writes one good line and completes it.
complete_import() {
    as_user loader appdb -c "INSERT INTO etl.imports (import_id, source) VALUES ('$1', 'review')" \
        -c "INSERT INTO etl.raw_orders VALUES ('$1', 1, 'O-$1', 'S1', 'alice', 'paid', NULL, '10.00', '2026-01-01 10:00:00')" \
        -c "UPDATE etl.imports SET status = 'completed' WHERE import_id = '$1'" >/dev/null
}
jobs_done() { # ID: done jobs of the import
    as_user postgres appdb -c "SELECT count(*) FROM etl.jobs WHERE import_id = '$1' AND state = 'done'"
}

# --- 0. baseline: the worker runs an import ---------------------------------
if wait_worker; then ok "baseline: the queue worker runs"; else not_ok "baseline: the queue worker runs"; fi
A=aaaaaaaa-0000-4000-8000-000000000001
complete_import $A
if DB=appdb wait_for $PORT "SELECT count(*) FROM etl.jobs WHERE import_id = '$A' AND state = 'done'" 3 30; then
    ok "baseline: the worker ran the three stages of an import"
else
    not_ok "baseline: the worker ran the three stages of an import" "$(jobs_done $A) done"
fi

# --- 1a. ALTER DATABASE ... SET role (handled: the worker resets role) ------
as_user db_owner appdb -c "ALTER DATABASE appdb SET role = 'stranger'" >/dev/null 2>&1
restart_worker
sleep 1
wait_worker 30 >/dev/null
B=aaaaaaaa-0000-4000-8000-000000000002
complete_import $B
if DB=appdb wait_for $PORT "SELECT count(*) FROM etl.jobs WHERE import_id = '$B' AND state = 'done'" 3 30; then
    ok "owner's ALTER DATABASE SET role: the worker still runs the queue"
else
    not_ok "owner's ALTER DATABASE SET role: the worker still runs the queue" "$(jobs_done $B) done"
fi
as_user db_owner appdb -c "ALTER DATABASE appdb RESET role" >/dev/null 2>&1

# --- 1b. ALTER DATABASE ... SET session_authorization ------------------------
stored=$(as_user db_owner appdb -c "ALTER DATABASE appdb SET session_authorization = 'stranger'" 2>&1 >/dev/null;
         as_user postgres appdb -c "SELECT count(*) FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase
                                     WHERE d.datname = 'appdb' AND 'session_authorization=stranger' = ANY (s.setconfig)")
stored=${stored##*$'\n'}
expect_eq "the attack happened: the owner stored session_authorization for the database" 1 "$stored"
restart_worker
# (The launcher waits up to 60 s between starts: 75 s covers a full backoff.)
C=aaaaaaaa-0000-4000-8000-000000000003
complete_import $C
if DB=appdb wait_for $PORT "SELECT count(*) FROM etl.jobs WHERE import_id = '$C' AND state = 'done'" 3 75; then
    ok "owner's ALTER DATABASE SET session_authorization: the worker still runs the queue"
else
    not_ok "owner's ALTER DATABASE SET session_authorization: the worker still runs the queue" \
        "$(jobs_done $C) of 3 jobs done; server log: $(grep -E 'pg_file_settings|etl_ext launcher: the queue worker' "$DIR/server.log" | tail -2 | tr '\n' ' ' | cut -c1-300)"
fi
as_user db_owner appdb -c "ALTER DATABASE appdb RESET session_authorization" >/dev/null 2>&1

# --- 2. DROP EXTENSION plpgsql CASCADE and the drop guard -------------------
q $PORT -c "CREATE DATABASE guarddb" >/dev/null
q $PORT -d guarddb -c "CREATE EXTENSION etl_ext" \
    -c "INSERT INTO etl.orders (shop_id, order_id, customer_nickname, latest_status, system_order_type, amount,
                                ordered_at, import_id, source_line_no, loaded_by_run)
        VALUES (1, 'O1', 'n', 'PAID', 'X', 1, now(), gen_random_uuid(), 1, 1)" >/dev/null
direct=$(q $PORT -d guarddb -c "DROP EXTENSION etl_ext" 2>&1 | grep -c 'refusing to drop')
expect_eq "the guard refuses DROP EXTENSION etl_ext while etl.orders has rows" 1 "$direct"
q $PORT -d guarddb -c "DROP EXTENSION plpgsql CASCADE" >/dev/null 2>&1
left=$(q $PORT -d guarddb -c "SELECT count(*) FROM pg_extension WHERE extname = 'etl_ext'")
expect_eq "the guard also refuses DROP EXTENSION plpgsql CASCADE (it would drop etl_ext and its rows)" 1 "$left"

# --- 3. hostile XLSX exports (etl_import_export) -----------------------------
HOSTILE_XLSX="$ROOT/tests/data/exports/hostile_xlsx.py"
as_user postgres appdb -c "INSERT INTO etl.export_profiles (profile_name, format, columns) VALUES ('review_xlsx', 'xlsx',
    '{\"order_id\": \"order_id\", \"shop\": \"shop\", \"customer_name\": \"customer_name\", \"amount\": \"amount\", \"ordered_at\": \"ordered_at\"}')" >/dev/null
# xlsx_load KIND [N] [statement_timeout]: the loader loads a hostile workbook;
# prints the result or "SQLSTATE: message".
xlsx_load() {
    local sql="$DIR/xlsx_$1.sql"
    { echo "\\set VERBOSITY verbose"; echo "SET statement_timeout = '${3:-60s}';"
      echo "SELECT lines FROM etl_import_export('\\x$(python3 "$HOSTILE_XLSX" "$1" ${2:-})'::bytea, 'review_xlsx');"; } >"$sql"
    as_user loader appdb -f "$sql" 2>&1 | sed -E 's/^psql:[^ ]* //; s/ERROR: +//' | head -1
}
resets=$(crash_resets "$DIR")
out=$(xlsx_load bigcol 2147483648)
expect_eq "a cell at column 2^31 is refused (22P04), not a 48 GB row" "22P04" "${out:0:5}"
expect_eq "... and the server did not reset" "$resets" "$(crash_resets "$DIR")"
q $PORT -c "SELECT 1" >/dev/null 2>&1 || wait_crash_reset "$DIR" $PORT "$resets"
out=$(xlsx_load bigcol 16385)
expect_eq "a cell beyond XFD is refused (22P04)" "22P04" "${out:0:5}"
out=$(xlsx_load backrow)
expect_eq "a row before the header's is refused (22P04), no XX000" "22P04" "${out:0:5}"
out=$(xlsx_load overflow)
expect_eq "a cell reference that overflows (A99999999999) is refused (22P04), no XX000" "22P04" "${out:0:5}"
out=$(xlsx_load bomb 1100)
expect_eq "a workbook that inflates to over 1 GB (1.1 MB of zip) is refused (22P04) before it is inflated" "22P04" "${out:0:5}"
# calamine reserves room for as many shared strings as <sst uniqueCount>
# announces before reading one: 10^12 asked for 24 TB and aborted the
# backend (the server reset). A count the part's size cannot hold (beyond a
# million) is refused first; an honest or loosely counted one still loads.
resets=$(crash_resets "$DIR")
out=$(xlsx_load sstcount 1000000000000)
expect_eq "a workbook announcing 10^12 shared strings is refused (22P04)" "22P04" "${out:0:5}"
expect_eq "... and the server did not reset" "$resets" "$(crash_resets "$DIR")"
q $PORT -c "SELECT 1" >/dev/null 2>&1 || wait_crash_reset "$DIR" $PORT "$resets"
expect_eq "a workbook announcing a million shared strings (holding one) still loads" "1" "$(xlsx_load sstcount 1000000)"
# The size check reads the zip's central directory, whatever the writer:
# a workbook zipped as a stream (sizes in data descriptors, as Java's
# ZipOutputStream and Apache POI write) still loads, and a bomb zipped so is
# still refused; a part that inflates past its declared size fails.
expect_eq "a good workbook zipped as a stream (data descriptors) loads" "1" "$(xlsx_load streamed)"
out=$(xlsx_load streamedbomb 1100)
expect_eq "a bomb zipped as a stream is refused (22P04)" "22P04" "${out:0:5}"
out=$(xlsx_load liar 50)
expect_eq "50 MB of shared strings declared as 1000 bytes are refused (22P04)" "22P04" "${out:0:5}"
start=$SECONDS
out=$(xlsx_load emptygrid 10000 1s)
expect_eq "statement_timeout stops a sheet of 160 million empty cells (57014)" "57014" "${out:0:5}"
expect_true "... within seconds (took $((SECONDS - start)) s)" "$([ $((SECONDS - start)) -lt 20 ] && echo t)"
expect_eq "the hostile workbooks wrote no import (the loose count and the streamed good one did)" "2" \
    "$(as_user postgres appdb -c "SELECT count(*) FROM etl.imports WHERE export_profile = 'review_xlsx'")"

# A CSV record's fields each cost memory however short: a line of commas
# (50 MB of them took 1.7 GB; a bytea of 1 GB would take the server's
# memory). A record is bounded to a sheet's columns, and its bytes to text's.
as_user postgres appdb -c "INSERT INTO etl.export_profiles (profile_name, columns) VALUES ('review_csv',
    '{\"order_id\": \"order_id\", \"shop\": \"shop\", \"customer_name\": \"customer_name\", \"amount\": \"amount\", \"ordered_at\": \"ordered_at\"}')" >/dev/null
csv_load() { # SQL text of the CSV: the SQLSTATE or the lines loaded
    as_user loader appdb -c "\\set VERBOSITY verbose" \
        -c "SELECT lines FROM etl_import_export(convert_to('order_id,shop,customer_name,amount,ordered_at' || E'\\n' || $1, 'UTF8'), 'review_csv')" 2>&1 |
        grep -oE '^[0-9]+$|ERROR: +[0-9A-Z]{5}' | sed -E 's/ERROR: +//' | head -1
}
expect_eq "a CSV row of 16,384 fields still loads" "1" "$(csv_load "'O1,S1,c,1,2026-01-01' || repeat(',', 16379)")"
expect_eq "a CSV row of 16,385 fields or more is refused (22P04), never sized" "22P04" \
    "$(csv_load "'O2,S1,c,1,2026-01-01' || repeat(',', 10000000)")"
expect_eq "quoted fields, a doubled quote and a blank line parse as before" "2" \
    "$(csv_load "'\"O3,\"\"x\"\"\",S1,\"a' || E'\\n' || 'b\",1,2026-01-01' || E'\\n\\n' || 'O4,S1,c,1,2026-01-01' || E'\\n'")"

# --- 4. etl.progress_rows() called directly ----------------------------------
q $PORT -c "CREATE ROLE loader2 LOGIN" -c "GRANT etl_loader TO loader2" >/dev/null
as_user loader appdb -c "SELECT lines FROM etl_import_export(convert_to('order_id,shop,customer_name,amount,ordered_at' || E'\\n'
    || (SELECT string_agg('P' || g || ',S1,c,1,2026-01-01', E'\\n') FROM generate_series(1, 600000) g), 'UTF8'), 'review_csv')" \
    >"$DIR/long_load.out" 2>&1 &
LONG_LOAD=$!
deadline=$((SECONDS + 60))
until [ "$(as_user loader appdb -c "SELECT count(*) FROM etl.progress WHERE stage = 'export'" 2>/dev/null)" == 1 ] ||
    [ $SECONDS -ge $deadline ]; do sleep 0.2; done
expect_eq "the loader sees its own export load in etl.progress_rows()" "1" \
    "$(as_user loader appdb -c "SELECT count(*) FROM etl.progress_rows() WHERE stage = 'export'")"
expect_eq "another loader does not see it through etl.progress" "0" \
    "$(as_user loader2 appdb -c "SELECT count(*) FROM etl.progress")"
expect_eq "... nor by calling etl.progress_rows() itself" "0" \
    "$(as_user loader2 appdb -c "SELECT count(*) FROM etl.progress_rows()")"
expect_eq "a superuser (an etl_reader) sees it" "1" \
    "$(as_user postgres appdb -c "SELECT count(*) FROM etl.progress_rows() WHERE stage = 'export'")"
wait $LONG_LOAD
expect_eq "the load went through" "600000" "$(cat "$DIR/long_load.out")"
# --- 5. etl_purge: the settings' bound, and a run waiting for a purge -------
# The earlier sections' imports (section 4's 600,000-line load among them)
# are still in the worker's queue: the checks below time the worker's runs of
# their own imports, so they start once it is idle.
DB=appdb wait_for $PORT "SELECT count(*) FROM etl.jobs WHERE state NOT IN ('done', 'dead')" 0 900 \
    || not_ok "the worker ran the earlier sections' imports before section 5"
q $PORT -c "CREATE ROLE purger_slow LOGIN" -c "CREATE ROLE purger_now LOGIN" \
    -c "GRANT etl_operator TO purger_slow, purger_now" \
    -c "ALTER ROLE purger_slow IN DATABASE appdb SET etl.retain_raw_lines = '30d'" \
    -c "ALTER ROLE purger_slow IN DATABASE appdb SET etl.retain_runs = '30d'" \
    -c "ALTER ROLE purger_now IN DATABASE appdb SET etl.retain_raw_lines = 0" >/dev/null
D=aaaaaaaa-0000-4000-8000-000000000004
complete_import $D
DB=appdb wait_for $PORT "SELECT count(*) FROM etl.jobs WHERE import_id = '$D' AND state = 'done'" 3 120 \
    || not_ok "the worker ran import $D's three stages"
# 5a. A mixed-sign interval that compares as longer than the setting.
later=$(as_user purger_slow appdb -c "SELECT count(*) FROM pg_catalog.etl_purge('-100 years 36500 days')
                                        WHERE before > pg_catalog.now() - interval '30 days'" 2>&1)
expect_eq "etl_purge('-100 years 36500 days') with etl.retain_raw_lines = 30d: no cutoff later than the setting" 0 "$later"
expect_eq "... and the import completed a moment ago keeps its raw line and its runs" "1|3" \
    "$(as_user postgres appdb -c "SELECT (SELECT count(*) FROM etl.raw_orders WHERE import_id = '$D'),
                                         (SELECT count(*) FROM etl.runs WHERE import_id = '$D')")"
# 5b. A purge holding the import, an orders run of it waiting.
E=aaaaaaaa-0000-4000-8000-000000000005
complete_import $E
DB=appdb wait_for $PORT "SELECT count(*) FROM etl.jobs WHERE import_id = '$E' AND state = 'done'" 3 120 \
    || not_ok "the worker ran import $E's three stages"
as_user purger_now appdb -c "BEGIN" -c "SELECT count(*) FROM pg_catalog.etl_purge('0')" \
    -c "SELECT pg_catalog.pg_sleep(3)" -c "COMMIT" >"$DIR/purge_5b.out" 2>&1 &
PURGE_3B=$!
DB=appdb wait_for $PORT "SELECT count(*) FROM pg_stat_activity WHERE usename = 'purger_now' AND query LIKE '%pg_sleep%'" 1 30 >/dev/null
run=$(as_user purger_slow appdb -c "SELECT status || ' over ' || rows_in || ' lines' FROM pg_catalog.etl_orders('$E')" 2>&1)
wait $PURGE_3B
expect_eq "an orders run that waited for a purge of its import is refused (55000), not run over no lines" 1 \
    "$(echo "$run" | grep -c 'were purged at')"
expect_eq "... and left no orders run over no lines" 0 \
    "$(as_user postgres appdb -c "SELECT count(*) FROM etl.runs WHERE import_id = '$E' AND stage = 'orders' AND rows_in = 0")"

# 5c. The jobs of an import the quality gate holds.
q $PORT -c "ALTER SYSTEM SET etl.max_reject_ratio = '0.1'" -c "SELECT pg_reload_conf()" >/dev/null
q $PORT -c "ALTER ROLE purger_now IN DATABASE appdb SET etl.retain_jobs = 0" >/dev/null
F=aaaaaaaa-0000-4000-8000-000000000006
as_user loader appdb -c "INSERT INTO etl.imports (import_id, source) VALUES ('$F', 'review')" \
    -c "INSERT INTO etl.raw_orders VALUES ('$F', 1, 'O-$F', 'S1', 'alice', 'paid', NULL, 'not a number', '2026-01-01 10:00:00')" \
    -c "UPDATE etl.imports SET status = 'completed' WHERE import_id = '$F'" >/dev/null
if DB=appdb wait_for $PORT "SELECT count(*) FROM etl.import_holds WHERE import_id = '$F' AND released_at IS NULL" 1 30; then
    ok "the quality gate holds an import whose only line is rejected"
else
    not_ok "the quality gate holds an import whose only line is rejected"
fi
DB=appdb wait_for $PORT "SELECT count(*) FROM etl.jobs WHERE import_id = '$F' AND state = 'done'" 1 120 \
    || not_ok "the worker ran import $F's orders stage"
as_user purger_now appdb -c "SELECT count(*) FROM pg_catalog.etl_purge('0')" >/dev/null
expect_eq "etl_purge keeps the jobs of a held import: it stays in etl.pipeline_status, held, with no outcome recorded" \
    "held|1|0" \
    "$(as_user postgres appdb -c "SELECT (SELECT string_agg(DISTINCT hold_status, ',') FROM etl.pipeline_status WHERE import_id = '$F'),
                                         (SELECT count(*) FROM etl.jobs WHERE import_id = '$F'),
                                         (SELECT count(*) FROM etl.purged_imports WHERE import_id = '$F' AND jobs_outcome IS NOT NULL)")"
q $PORT -c "ALTER SYSTEM RESET etl.max_reject_ratio" -c "SELECT pg_reload_conf()" >/dev/null

# --- 6. Where the gate, the purge and the export loader meet ----------------
#   a. An import loaded while the gate was off (one line of two rejected),
#      its jobs and runs purged (etl.retain_jobs, etl.retain_runs), then
#      run again by an operator with etl.max_reject_ratio = 0.1. The gate
#      judged the re-run as a first load: it rolled the re-run back and held
#      the import, though its lines were in etl.orders all along. With its
#      jobs purged the hold was in no row of etl.pipeline_status (its loader
#      never saw it), etl_explain said of the line that wrote the current
#      row "not yet run ... nothing of it was loaded", and etl_redrive was
#      refused until someone released a file that was loaded long ago. Now
#      the gate judges an import's load, not a re-run of an import whose
#      orders stage was kept before: it passes, as a released one does.
#   b. A loader's export, its raw lines purged, loaded again (the same
#      file): the call handed back the purged import with reused = true and
#      lines = 0 (it counted raw lines that etl_purge had removed), where
#      semantics 12.6 promises its line count. Now the count is the one
#      etl.purged_imports kept.
q $PORT -c "CREATE ROLE purger_history LOGIN" -c "GRANT etl_operator TO purger_history" \
    -c "ALTER ROLE purger_history IN DATABASE appdb SET etl.retain_jobs = 0" \
    -c "ALTER ROLE purger_history IN DATABASE appdb SET etl.retain_runs = 0" >/dev/null
G=aaaaaaaa-0000-4000-8000-000000000007
as_user loader appdb -c "INSERT INTO etl.imports (import_id, source) VALUES ('$G', 'review')" \
    -c "INSERT INTO etl.raw_orders VALUES ('$G', 1, 'O-G-1', 'S1', 'alice', 'paid', NULL, '10.00', '2026-01-01 10:00:00'),
                                          ('$G', 2, 'O-G-2', 'S1', 'alice', 'paid', NULL, 'not a number', '2026-01-01 10:00:00')" \
    -c "UPDATE etl.imports SET status = 'completed' WHERE import_id = '$G'" >/dev/null
DB=appdb wait_for $PORT "SELECT count(*) FROM etl.jobs WHERE import_id = '$G' AND state = 'done'" 3 120 \
    || not_ok "the worker ran import $G's three stages"
as_user purger_history appdb -c "SELECT count(*) FROM pg_catalog.etl_purge('0')" >/dev/null
expect_eq "6a. the attack's setting: import $G's jobs and runs purged, its raw lines kept" "0|0|2" \
    "$(as_user postgres appdb -c "SELECT (SELECT count(*) FROM etl.jobs WHERE import_id = '$G'),
                                         (SELECT count(*) FROM etl.runs WHERE import_id = '$G'),
                                         (SELECT count(*) FROM etl.raw_orders WHERE import_id = '$G')")"
q $PORT -c "ALTER SYSTEM SET etl.max_reject_ratio = '0.1'" -c "SELECT pg_reload_conf()" >/dev/null
expect_eq "6a. a dry run of the loaded import, gate on: it would not be held (all three stages rehearsed)" \
    "orders,customers,leads" \
    "$(as_user purger_slow appdb -c "SELECT string_agg(stage, ',') FROM pg_catalog.etl_run_all('$G', true)" 2>&1)"
expect_eq "6a. the operator's re-run of the loaded import, gate on: all three stages run" \
    "orders,customers,leads" \
    "$(as_user purger_slow appdb -c "SELECT string_agg(stage, ',') FROM pg_catalog.etl_run_all('$G')" 2>&1)"
expect_eq "6a. ... and no hold claims nothing of it was loaded" 0 \
    "$(as_user postgres appdb -c "SELECT count(*) FROM etl.import_holds WHERE import_id = '$G'")"
expect_eq "6a. ... and etl_explain says its line wrote the current row" "loaded" \
    "$(as_user purger_slow appdb -c "SELECT fate FROM pg_catalog.etl_explain('S1', 'O-G-1')" 2>&1)"
q $PORT -c "ALTER SYSTEM RESET etl.max_reject_ratio" -c "SELECT pg_reload_conf()" >/dev/null
# 6b. The same export again once its raw lines were purged.
printf 'order_id,shop,customer_name,order_status,order_type,amount,ordered_at\nX-1,S1,xena,paid,,12.50,2026-01-02 10:00:00\nX-2,S1,xena,paid,,13.50,2026-01-03 10:00:00\n' >"$DIR/review_6b.csv"
EXPORT_HEX=$(od -An -tx1 -v "$DIR/review_6b.csv" | tr -d ' \n')
X=$(as_user loader appdb -c "SELECT import_id FROM pg_catalog.etl_import_export('\\x$EXPORT_HEX'::bytea, 'generic')" 2>&1)
DB=appdb wait_for $PORT "SELECT count(*) FROM etl.jobs WHERE import_id = '$X' AND state = 'done'" 3 120 \
    || not_ok "the worker ran the export's import $X"
expect_eq "6b. the attack's setting: etl_purge removed the export's two raw lines" "2" \
    "$(as_user purger_now appdb -c "SELECT count(*) FROM pg_catalog.etl_purge('0')" >/dev/null;
       as_user postgres appdb -c "SELECT raw_lines FROM etl.purged_imports WHERE import_id = '$X' AND raw_purged_at IS NOT NULL")"
expect_eq "6b. the same export loaded again returns the purged import with its line count" "$X|2|true" \
    "$(as_user loader appdb -c "SELECT import_id || '|' || lines || '|' || reused FROM pg_catalog.etl_import_export('\\x$EXPORT_HEX'::bytea, 'generic')" 2>&1)"
expect_eq "6b. another loader loading the same file gets an import of its own" "f" \
    "$(as_user loader2 appdb -c "SELECT (import_id = '$X') FROM pg_catalog.etl_import_export('\\x$EXPORT_HEX'::bytea, 'generic')" 2>&1)"
# 6c. etl_quality of that purged import: its raw lines and rejects gone, it
#     answered no row at all, as for an import without lines; now it says
#     they were purged (55000), to its loader and to a reader alike, and a
#     loader still learns nothing of another loader's import.
q $PORT -c "CREATE ROLE watcher LOGIN" -c "GRANT etl_reader TO watcher" >/dev/null
expect_eq "6c. etl_quality of the loader's purged import: refused as purged (55000), not an empty answer" "55000|1" \
    "$(as_user loader appdb -c "\\set VERBOSITY verbose" -c "SELECT count(*) FROM pg_catalog.etl_quality('$X')" 2>&1 |
       { out=$(cat); echo "$(grep -oE '55000' <<<"$out" | head -1)|$(grep -c 'were purged at' <<<"$out")"; })"
expect_eq "6c. ... and to a reader" "55000" \
    "$(as_user watcher appdb -c "\\set VERBOSITY verbose" -c "SELECT count(*) FROM pg_catalog.etl_quality('$X')" 2>&1 | grep -oE '55000' | head -1)"
expect_eq "6c. ... while another loader is told it is not its import (42501), not that it was purged" "42501|0" \
    "$(as_user loader2 appdb -c "\\set VERBOSITY verbose" -c "SELECT count(*) FROM pg_catalog.etl_quality('$X')" 2>&1 |
       { out=$(cat); echo "$(grep -oE '42501' <<<"$out" | head -1)|$(grep -c 'purged' <<<"$out")"; })"

# 6d. etl_quality of a released import once its runs were purged: an
#     export of a shop not yet in etl.shops, held (every line rejected),
#     the shop added and the import released, then loaded cleanly. etl_quality
#     then read its rejects from etl.rejects (none), until etl_purge removed
#     the runs (etl.retain_runs): the proof that an orders run after the
#     release was kept was its etl.runs row alone, so etl_quality reported
#     the held run's counts again (every line rejected, no known shop).
#     Now the done orders job (or, once purged, the jobs' outcome) is proof too.
q $PORT -c "ALTER SYSTEM SET etl.max_reject_ratio = '0.1'" -c "SELECT pg_reload_conf()" \
    -c "CREATE ROLE purger_runs LOGIN" -c "GRANT etl_operator TO purger_runs" \
    -c "ALTER ROLE purger_runs IN DATABASE appdb SET etl.retain_runs = 0" >/dev/null
printf 'order_id,shop,customer_name,order_status,order_type,amount,ordered_at\nR-1,S6d,rita,paid,,12.50,2026-01-02 10:00:00\nR-2,S6d,rita,paid,,13.50,2026-01-03 10:00:00\n' >"$DIR/review_6d.csv"
R=$(as_user loader appdb -c "SELECT import_id FROM pg_catalog.etl_import_export('\\x$(od -An -tx1 -v "$DIR/review_6d.csv" | tr -d ' \n')'::bytea, 'generic')" 2>&1)
DB=appdb wait_for $PORT "SELECT count(*) FROM etl.import_holds WHERE import_id = '$R' AND released_at IS NULL" 1 120 \
    || not_ok "6d. the gate holds the export of an unknown shop"
as_user purger_slow appdb -c "INSERT INTO etl.shops (shop_name) VALUES ('S6d')" -c "SELECT pg_catalog.etl_release('$R')" >/dev/null
DB=appdb wait_for $PORT "SELECT count(*) FROM etl.jobs WHERE import_id = '$R' AND state = 'done'" 3 120 \
    || not_ok "6d. the worker ran the released import's three stages"
quality_6d() { as_user loader appdb -c "SELECT string_agg(coalesce(shop_name, '?') || ':' || coalesce(reason, 'all') || ':' || lines || ':' || rejected, ',')
                                          FROM pg_catalog.etl_quality('$R')" 2>&1; }
expect_eq "6d. the released import, loaded cleanly: etl_quality counts no reject" "S6d:all:2:0" "$(quality_6d)"
as_user purger_runs appdb -c "SELECT count(*) FROM pg_catalog.etl_purge('0')" >/dev/null
expect_eq "6d. ... still none once etl_purge removed its runs" "0|S6d:all:2:0" \
    "$(as_user postgres appdb -c "SELECT count(*) FROM etl.runs WHERE import_id = '$R'")|$(quality_6d)"
as_user purger_history appdb -c "SELECT count(*) FROM pg_catalog.etl_purge('0')" >/dev/null
expect_eq "6d. ... and once it removed its jobs too" "0|S6d:all:2:0" \
    "$(as_user postgres appdb -c "SELECT count(*) FROM etl.jobs WHERE import_id = '$R'")|$(quality_6d)"
q $PORT -c "ALTER SYSTEM RESET etl.max_reject_ratio" -c "SELECT pg_reload_conf()" >/dev/null

# 6e. The jobs of an import whose orders stage was done and whose leads
#     stage died (here set dead by hand, as after its last failed attempt),
#     purged with its runs (etl.retain_jobs, etl.retain_runs): purge_jobs
#     recorded the outcome 'dead' for all of them, which orders_ran.sql and
#     etl_explain read as "the orders stage never loaded": the line that
#     wrote the current row was "not yet run", and etl_retry found nothing
#     to retry (its leads were never built). Now such jobs stay.
L=aaaaaaaa-0000-4000-8000-000000000008
as_user loader appdb -c "INSERT INTO etl.imports (import_id, source) VALUES ('$L', 'review')" \
    -c "INSERT INTO etl.raw_orders VALUES ('$L', 1, 'O-L-1', 'S1', 'lena', 'paid', NULL, '10.00', '2026-01-01 10:00:00')" \
    -c "UPDATE etl.imports SET status = 'completed' WHERE import_id = '$L'" >/dev/null
DB=appdb wait_for $PORT "SELECT count(*) FROM etl.jobs WHERE import_id = '$L' AND state = 'done'" 3 120 \
    || not_ok "the worker ran import $L's three stages"
q $PORT -d appdb -c "UPDATE etl.jobs SET state = 'dead', last_error = 'review: every attempt failed' WHERE import_id = '$L' AND stage = 'leads'" >/dev/null
as_user purger_history appdb -c "SELECT count(*) FROM pg_catalog.etl_purge('0')" >/dev/null
expect_eq "6e. etl_purge keeps the jobs of a loaded import whose leads stage died" "3|0" \
    "$(as_user postgres appdb -c "SELECT (SELECT count(*) FROM etl.jobs WHERE import_id = '$L'),
                                         (SELECT count(*) FROM etl.purged_imports WHERE import_id = '$L')")"
expect_eq "6e. ... etl_explain still says its line wrote the current row" "loaded" \
    "$(as_user purger_slow appdb -c "SELECT fate FROM pg_catalog.etl_explain('S1', 'O-L-1')" 2>&1)"
expect_eq "6e. ... and etl_retry finds its dead leads job" "leads" \
    "$(as_user purger_slow appdb -c "SELECT array_to_string(pg_catalog.etl_retry('$L'), ',')" 2>&1)"


# 7. The outcome etl_purge records of a loaded import whose re-run died
#    (review of the previous review's fixes). An import loaded cleanly, its
#    jobs and runs purged (outcome 'done'), its raw lines purged; an
#    operator emits its DATA_IMPORT_COMPLETED again (etl_emit_event): the
#    orders job is queued again and dies (its raw lines are gone). The next
#    etl_purge recorded 'dead' over 'done' (ON CONFLICT took the new
#    outcome), and orders_ran.sql, etl_explain and the gate's loaded_before
#    then read the import as never loaded: its line that wrote the current
#    row was "not yet run" (7a). Likewise with its jobs not yet purged: the
#    orders job dead, customers and leads done, purged with its runs in one
#    call: 'dead' (7b). Now a recorded 'done' stays, and a kept orders run
#    (the runs are purged after the jobs) records 'done'.
q $PORT -c "CREATE ROLE purger_all LOGIN" -c "CREATE ROLE purger_raw LOGIN" \
    -c "GRANT etl_operator TO purger_all, purger_raw" \
    -c "ALTER ROLE purger_all IN DATABASE appdb SET etl.retain_raw_lines = 0" \
    -c "ALTER ROLE purger_all IN DATABASE appdb SET etl.retain_jobs = 0" \
    -c "ALTER ROLE purger_all IN DATABASE appdb SET etl.retain_runs = 0" \
    -c "ALTER ROLE purger_raw IN DATABASE appdb SET etl.retain_raw_lines = 0" >/dev/null
emit_completed() { # ID: an operator emits the import's completion again
    as_user purger_slow appdb -c "SELECT pg_catalog.etl_emit_event('DATA_IMPORT_COMPLETED',
        jsonb_build_object('event_type', 'DATA_IMPORT_COMPLETED', 'event_version', '1.0', 'import_id', '$1', 'status', 'completed'))" >/dev/null 2>&1
}
loaded_line() { # ID ORDER: complete the import with one good line, wait for its three stages
    as_user loader appdb -c "INSERT INTO etl.imports (import_id, source) VALUES ('$1', 'review')" \
        -c "INSERT INTO etl.raw_orders VALUES ('$1', 1, '$2', 'S1', 'olga', 'paid', NULL, '10.00', '2026-01-01 10:00:00')" \
        -c "UPDATE etl.imports SET status = 'completed' WHERE import_id = '$1'" >/dev/null
    DB=appdb wait_for $PORT "SELECT count(*) FROM etl.jobs WHERE import_id = '$1' AND state = 'done'" 3 120 \
        || not_ok "the worker ran import $1's three stages"
}
P7=aaaaaaaa-0000-4000-8000-000000000071
loaded_line $P7 O-7A-1
as_user purger_all appdb -c "SELECT count(*) FROM pg_catalog.etl_purge('0')" >/dev/null
expect_eq "7a. a loaded import purged: outcome 'done'" "done" \
    "$(as_user postgres appdb -c "SELECT jobs_outcome FROM etl.purged_imports WHERE import_id = '$P7'")"
emit_completed $P7
DB=appdb wait_for $PORT "SELECT count(*) FROM etl.jobs WHERE import_id = '$P7' AND stage = 'orders' AND state = 'dead'" 1 120 \
    || not_ok "7a. the re-queued orders job of the purged import dies"
as_user purger_all appdb -c "SELECT count(*) FROM pg_catalog.etl_purge('0')" >/dev/null
expect_eq "7a. its dead re-run purged: the outcome stays 'done' and its line wrote the current row" "0|done|loaded" \
    "$(as_user postgres appdb -c "SELECT (SELECT count(*) FROM etl.jobs WHERE import_id = '$P7') || '|' ||
                                         (SELECT jobs_outcome FROM etl.purged_imports WHERE import_id = '$P7')")|$(
       as_user purger_slow appdb -c "SELECT fate FROM pg_catalog.etl_explain('S1', 'O-7A-1')" 2>&1)"
Q7=aaaaaaaa-0000-4000-8000-000000000072
loaded_line $Q7 O-7B-1
as_user purger_raw appdb -c "SELECT count(*) FROM pg_catalog.etl_purge('0')" >/dev/null
emit_completed $Q7
DB=appdb wait_for $PORT "SELECT count(*) FROM etl.jobs WHERE import_id = '$Q7' AND stage = 'orders' AND state = 'dead'" 1 120 \
    || not_ok "7b. the re-queued orders job of the import whose raw lines were purged dies"
as_user purger_all appdb -c "SELECT count(*) FROM pg_catalog.etl_purge('0')" >/dev/null
expect_eq "7b. its jobs (orders dead, customers and leads done) purged with its runs: 'done', and its line wrote the current row" "0|done|loaded" \
    "$(as_user postgres appdb -c "SELECT (SELECT count(*) FROM etl.jobs WHERE import_id = '$Q7') || '|' ||
                                         (SELECT jobs_outcome FROM etl.purged_imports WHERE import_id = '$Q7')")|$(
       as_user purger_slow appdb -c "SELECT fate FROM pg_catalog.etl_explain('S1', 'O-7B-1')" 2>&1)"


# 7c. The gate and a loaded import queued again: loaded while the gate was
#     off (one line of two rejected), its runs purged (etl.retain_runs; its
#     jobs kept), the gate turned on, and an operator emits its
#     DATA_IMPORT_COMPLETED again. That queued its done orders job again,
#     and with the job no longer done nor a run kept the gate's
#     loaded_before found no proof: the worker's re-run was judged as a
#     first load, rolled back and held, and etl_explain said of the line in
#     etl.orders "not yet run". The proof now is an order the import wrote
#     and still owns (etl.orders is written by the runner only; 7d: done
#     customers or leads jobs are no proof, an operator can forge them).
C7=aaaaaaaa-0000-4000-8000-000000000073
as_user loader appdb -c "INSERT INTO etl.imports (import_id, source) VALUES ('$C7', 'review')" \
    -c "INSERT INTO etl.raw_orders VALUES ('$C7', 1, 'O-7C-1', 'S1', 'olga', 'paid', NULL, '10.00', '2026-01-01 10:00:00')" \
    -c "INSERT INTO etl.raw_orders VALUES ('$C7', 2, 'O-7C-2', 'NO-SUCH-SHOP', 'olga', 'paid', NULL, '10.00', '2026-01-01 10:00:00')" \
    -c "UPDATE etl.imports SET status = 'completed' WHERE import_id = '$C7'" >/dev/null
DB=appdb wait_for $PORT "SELECT count(*) FROM etl.jobs WHERE import_id = '$C7' AND state = 'done'" 3 120 \
    || not_ok "the worker ran import $C7's three stages"
as_user purger_runs appdb -c "SELECT count(*) FROM pg_catalog.etl_purge('0')" >/dev/null
q $PORT -c "ALTER SYSTEM SET etl.max_reject_ratio = '0.1'" -c "SELECT pg_reload_conf()" >/dev/null
sleep 1
emit_completed $C7
DB=appdb wait_for $PORT "SELECT count(*) FROM etl.runs WHERE import_id = '$C7' AND stage = 'orders'" 1 120 \
    || not_ok "7c. the worker re-ran the queued orders job"
DB=appdb wait_for $PORT "SELECT count(*) FROM etl.jobs WHERE import_id = '$C7' AND state = 'done'" 3 120 >/dev/null
expect_eq "7c. the re-run of a loaded import queued again, gate on: not held, kept, its line wrote the current row" "0|1|loaded" \
    "$(as_user postgres appdb -c "SELECT (SELECT count(*) FROM etl.import_holds WHERE import_id = '$C7') || '|' ||
                                         (SELECT count(*) FROM etl.runs WHERE import_id = '$C7' AND stage = 'orders'
                                             AND (details ->> 'kept') IS DISTINCT FROM 'false')")|$(
       as_user purger_slow appdb -c "SELECT fate FROM pg_catalog.etl_explain('S1', 'O-7C-1')" 2>&1)"
# ... while a first load, gate on, is still judged and held.
D7=aaaaaaaa-0000-4000-8000-000000000074
as_user loader appdb -c "INSERT INTO etl.imports (import_id, source) VALUES ('$D7', 'review')" \
    -c "INSERT INTO etl.raw_orders VALUES ('$D7', 1, 'O-7D-1', 'NO-SUCH-SHOP', 'olga', 'paid', NULL, '10.00', '2026-01-01 10:00:00')" \
    -c "UPDATE etl.imports SET status = 'completed' WHERE import_id = '$D7'" >/dev/null
if DB=appdb wait_for $PORT "SELECT count(*) FROM etl.import_holds WHERE import_id = '$D7' AND released_at IS NULL" 1 120; then
    ok "7c. a first load above the threshold is still held"
else
    not_ok "7c. a first load above the threshold is still held"
fi
# 7d. ... and a proof an operator can forge does not let a first load pass
#     unjudged: holding the pipeline's lock while the loader completes a bad
#     import (the worker waits for it with the orders job claimed), an
#     operator emits ORDERS_ETL_COMPLETED for it (its customers job queued)
#     and runs etl_customers (that job settled done). A done customers job
#     taken as proof of a load let the orders stage pass with no hold and
#     no release on record.
E7=aaaaaaaa-0000-4000-8000-000000000075
as_user purger_slow appdb -c "BEGIN" -c "SELECT etl.lock_pipeline()" -c "SELECT pg_sleep(4)" \
    -c "SELECT pg_catalog.etl_emit_event('ORDERS_ETL_COMPLETED', jsonb_build_object('event_type', 'ORDERS_ETL_COMPLETED',
            'event_version', '1.0', 'import_id', '$E7', 'status', 'success'))" \
    -c "SELECT count(*) FROM pg_catalog.etl_customers('$E7')" -c "COMMIT" >"$DIR/review_7d.out" 2>&1 &
FORGER=$!
sleep 1
as_user loader appdb -c "INSERT INTO etl.imports (import_id, source) VALUES ('$E7', 'review')" \
    -c "INSERT INTO etl.raw_orders VALUES ('$E7', 1, 'O-7E-1', 'NO-SUCH-SHOP', 'olga', 'paid', NULL, '10.00', '2026-01-01 10:00:00')" \
    -c "UPDATE etl.imports SET status = 'completed' WHERE import_id = '$E7'" >/dev/null
wait $FORGER
DB=appdb wait_for $PORT "SELECT count(*) FROM etl.runs WHERE import_id = '$E7' AND stage = 'orders'" 1 120 \
    || not_ok "7d. the worker ran the orders job"
expect_eq "7d. the first load, customers settled done by an operator beforehand: held all the same" "1|1" \
    "$(as_user postgres appdb -c "SELECT (SELECT count(*) FROM etl.jobs WHERE import_id = '$E7' AND stage = 'customers' AND state = 'done') || '|' ||
                                         (SELECT count(*) FROM etl.import_holds WHERE import_id = '$E7' AND released_at IS NULL)")"
q $PORT -c "ALTER SYSTEM RESET etl.max_reject_ratio" -c "SELECT pg_reload_conf()" >/dev/null

# 8. An event of an import that is not completed queues nothing (0.5.0): an
#    operator's DATA_IMPORT_COMPLETED of a pending import queued an orders job
#    that died, and the loader's completion then queued nothing. Every valid
#    event is still accepted (contract 5: an application reporting that its
#    import failed, or an event a little early); the loader's completion
#    queues the pipeline. A loader and a role granted nothing cannot call
#    etl_emit_event at all.
E8P=aaaaaaaa-0000-4000-8000-000000000081
E8F=aaaaaaaa-0000-4000-8000-000000000082
as_user loader appdb -c "INSERT INTO etl.imports (import_id, source) VALUES ('$E8P', 'review'), ('$E8F', 'review')" \
    -c "UPDATE etl.imports SET status = 'failed' WHERE import_id = '$E8F'" >/dev/null
emit8() { # role, event type, import, status -> accepted
    local id
    id=$(as_user "$1" appdb -c "SELECT pg_catalog.etl_emit_event('$2',
        jsonb_build_object('event_type', '$2', 'event_version', '1.0', 'import_id', '$3', 'status', '$4'))" 2>/dev/null)
    as_user postgres appdb -c "SELECT accepted FROM etl.events WHERE event_id = '${id:-0}'::bigint"
}
expect_eq "8a. a failed import's DATA_IMPORT_COMPLETED with status failed is accepted" "t" \
    "$(emit8 purger_slow DATA_IMPORT_COMPLETED "$E8F" failed)"
expect_eq "8b. a pending import's ORDERS_ETL_COMPLETED with status failed is accepted" "t" \
    "$(emit8 purger_slow ORDERS_ETL_COMPLETED "$E8P" failed)"
expect_eq "8c. a pending import's LEADS_ETL_COMPLETED (queues nothing) is accepted" "t" \
    "$(emit8 purger_slow LEADS_ETL_COMPLETED "$E8P" success)"
expect_eq "8d. a pending import's DATA_IMPORT_COMPLETED (would queue orders) is accepted" "t" \
    "$(emit8 purger_slow DATA_IMPORT_COMPLETED "$E8P" completed)"
expect_eq "8e. a pending import's ORDERS_ETL_COMPLETED success (would queue customers) is accepted" "t" \
    "$(emit8 purger_slow ORDERS_ETL_COMPLETED "$E8P" success)"
expect_eq "8f. ... and none of them queued a job" "0" \
    "$(as_user postgres appdb -c "SELECT count(*) FROM etl.jobs WHERE import_id IN ('$E8P', '$E8F')")"
for who in loader stranger; do
    out=$(as_user "$who" appdb -c "SELECT pg_catalog.etl_emit_event('DATA_IMPORT_COMPLETED',
        jsonb_build_object('event_type', 'DATA_IMPORT_COMPLETED', 'event_version', '1.0', 'import_id', '$E8F', 'status', 'completed'))" 2>&1)
    case "$out" in
        *"permission denied"*) ok "8g. $who cannot call etl_emit_event" ;;
        *) not_ok "8g. $who cannot call etl_emit_event: $out" ;;
    esac
done
# The loader completes the pending import: its pipeline is queued as usual.
as_user loader appdb -c "UPDATE etl.imports SET status = 'completed' WHERE import_id = '$E8P'" >/dev/null
expect_eq "8h. the loader's completion then queues its orders stage" "1" \
    "$(as_user postgres appdb -c "SELECT count(*) FROM etl.jobs WHERE import_id = '$E8P' AND stage = 'orders'")"
# 8i. The race: an operator's DATA_IMPORT_COMPLETED while the loader's
#     completion is not yet committed sees a pending import and queues
#     nothing; the completion then queues the pipeline once, and it runs.
E8R=aaaaaaaa-0000-4000-8000-000000000083
as_user loader appdb -c "INSERT INTO etl.imports (import_id, source) VALUES ('$E8R', 'review')" >/dev/null
as_user loader appdb -c "BEGIN" -c "UPDATE etl.imports SET status = 'completed' WHERE import_id = '$E8R'" \
    -c "SELECT pg_sleep(3)" -c "COMMIT" >/dev/null 2>&1 &
COMPLETER=$!
sleep 1
expect_eq "8i. an event racing the loader's uncommitted completion is accepted (and queues nothing)" "t" \
    "$(emit8 purger_slow DATA_IMPORT_COMPLETED "$E8R" completed)"
wait $COMPLETER
DB=appdb wait_for $PORT "SELECT count(*) FROM etl.jobs WHERE import_id = '$E8R' AND stage = 'leads' AND state = 'done'" 1 120 \
    || not_ok "8i. the worker ran the raced import's pipeline"
expect_eq "8i. ... and the completion queued its pipeline once, and it ran to the end" "1|0" \
    "$(as_user postgres appdb -c "SELECT (SELECT count(*) FROM etl.jobs WHERE import_id = '$E8R' AND stage = 'orders') || '|' ||
                                         (SELECT count(*) FROM etl.jobs WHERE import_id = '$E8R' AND state = 'dead')")"

finish
