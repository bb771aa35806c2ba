#!/usr/bin/env bash
# etl_redrive(import_id) (issue 10, item 4): after the causes of rejects and
# load failures are fixed (a shop added, a shop re-activated, a user's
# trigger fixed, a raw line corrected), re-running only the rejected and
# failed lines gives the same result tables as re-running the whole import,
# in two databases that ran the same history: one redrives, one re-runs.
# Every rule holds: within the import the newest valid line wins (a
# redriven line older than the one that wrote the order stays superseded),
# a later import still wins, an order that changes customer leaves its old
# customer's times and lead's sums. The redrive is run by an operator (no
# superuser), reports by former reason, and works on the rejected lines only.
. "$(dirname "$0")/lib.sh"
test_dir DIR redrive
PORT=$(free_port)
cluster_start "$DIR" "$PORT"
at_exit 'cluster_stop $DIR'

X=01900000-0000-7000-8000-0000000000aa      # the import that is redriven
H=01900000-0000-7000-8000-0000000000a0      # an earlier import
L=01900000-0000-7000-8000-0000000000bb      # a later import

# history DB: everything up to the fix, and a later import after it.
history() {
    q "$PORT" -d "$1" >/dev/null <<SQL
CREATE EXTENSION etl_ext;
CREATE ROLE ops_$1 LOGIN;
GRANT etl_operator TO ops_$1;
INSERT INTO etl.shops (shop_name) VALUES ('S1');
INSERT INTO etl.shops (shop_name, active) VALUES ('S3', false);
-- A user's trigger that refuses one amount (the "policy" fixed later).
CREATE FUNCTION public.refuse_666() RETURNS trigger LANGUAGE plpgsql AS \$\$
BEGIN
    IF NEW.amount = 666 THEN RAISE EXCEPTION 'amount 666 refused by policy'; END IF;
    RETURN NEW;
END \$\$;
CREATE TRIGGER refuse_666 BEFORE INSERT OR UPDATE ON etl.orders FOR EACH ROW EXECUTE FUNCTION public.refuse_666();

INSERT INTO etl.imports (import_id, source) VALUES ('$H', 'earlier'), ('$X', 'redriven');
INSERT INTO etl.raw_orders (import_id, line_no, order_id, shop, customer_name, order_status, order_type, amount, ordered_at) VALUES
    ('$H', 1, 'K10', 'S1', 'jack', 'paid', NULL, '5', '2026-01-01 09:00:00'),
    ('$H', 2, 'K11', 'S1', 'jack', 'paid', NULL, '6', '2026-01-01 10:00:00'),
    -- K1: two lines of an unknown shop (added later): line 2 wins, line 1 superseded.
    ('$X', 1, 'K1', 'S2', 'alice', 'paid', NULL, '10', '2026-02-01 10:00:00'),
    ('$X', 2, 'K1', 'S2', 'alice', 'paid', NULL, '11', '2026-02-01 11:00:00'),
    ('$X', 3, 'K2', 'S1', 'bob', 'paid', NULL, '5', '2026-02-02 10:00:00'),
    -- K3: the newest line fails (the trigger), the older one is superseded.
    ('$X', 4, 'K3', 'S1', 'carol', 'paid', NULL, '7', '2026-02-03 10:00:00'),
    ('$X', 5, 'K3', 'S1', 'carol', 'paid', 'SAMPLE', '666', '2026-02-03 11:00:00'),
    -- K4: two lines of an inactive shop (re-activated later).
    ('$X', 6, 'K4', 'S3', 'dave', 'paid', NULL, '8', '2026-02-04 10:00:00'),
    ('$X', 7, 'K4', 'S3', 'dave', 'refunded', NULL, '9', '2026-02-04 11:00:00'),
    -- K7: an older line with a bad amount (corrected in raw_orders later)
    -- and a newer valid line that wins.
    ('$X', 12, 'K7', 'S1', 'gina', 'paid', NULL, '1,2x', '2026-02-07 10:00:00'),
    ('$X', 13, 'K7', 'S1', 'gina', 'paid', NULL, '20', '2026-02-07 11:00:00'),
    -- K8: an unknown shop; a later import writes the order after the fix.
    ('$X', 14, 'K8', 'S2', 'hank', 'paid', NULL, '30', '2026-02-08 10:00:00'),
    -- Still refused after the fix: a shop nobody adds, an amount nobody fixes.
    ('$X', 15, 'K9', 'S4', 'ivan', 'paid', NULL, '1', '2026-02-09 10:00:00'),
    ('$X', 16, 'K12', 'S1', 'ivan', 'paid', NULL, 'abc', '2026-02-09 10:00:00'),
    -- K10: jack's order in the earlier import moves to kate; the line fails.
    ('$X', 18, 'K10', 'S1', 'kate', 'paid', NULL, '666', '2026-02-10 10:00:00');
UPDATE etl.imports SET status = 'completed', completed_at = now() - interval '1 hour' WHERE import_id = '$H';
SELECT count(*) FROM etl_run_all('$H');
UPDATE etl.imports SET status = 'completed', completed_at = now() - interval '30 minutes' WHERE import_id = '$X';
SELECT count(*) FROM etl_run_all('$X');

-- The fixes.
INSERT INTO etl.shops (shop_name) VALUES ('S2');
UPDATE etl.shops SET active = true WHERE shop_name = 'S3';
DROP TRIGGER refuse_666 ON etl.orders;
UPDATE etl.raw_orders SET amount = '19' WHERE import_id = '$X' AND line_no = 12;

-- A later import, run after the fix: it wins K8.
INSERT INTO etl.imports (import_id, source) VALUES ('$L', 'later');
INSERT INTO etl.raw_orders (import_id, line_no, order_id, shop, customer_name, order_status, order_type, amount, ordered_at) VALUES
    ('$L', 1, 'K8', 'S2', 'hank', 'shipped', NULL, '31', '2026-03-01 10:00:00');
UPDATE etl.imports SET status = 'completed', completed_at = now() WHERE import_id = '$L';
SELECT count(*) FROM etl_run_all('$L');
SQL
}
q "$PORT" -c "CREATE DATABASE redriven" -c "CREATE DATABASE rerun" >/dev/null
history redriven
history rerun
expect_eq "before the fix, the import has 10 rejected or failed lines" "10" \
    "$(q "$PORT" -d redriven -c "SELECT count(*) FROM etl.rejects WHERE import_id = '$X'")"

# Errors first: nothing changes.
STATE_BEFORE=$(q "$PORT" -d redriven -f "$ROOT/tests/result_fingerprint.sql")
OUT=$(q "$PORT" -d redriven -c "SELECT * FROM etl_redrive('$L'::uuid)" 2>&1)
# (L ran, with no reject: a redrive of it retries nothing.)
expect_eq "a redrive of an import without rejects retries nothing" "" "$OUT"
OUT=$(q "$PORT" -d redriven -c "INSERT INTO etl.imports (import_id, source, status, completed_at) VALUES ('01900000-0000-7000-8000-0000000000cc', 'never run', 'completed', now())" \
          -c "SELECT * FROM etl_redrive('01900000-0000-7000-8000-0000000000cc')" 2>&1)
case "$OUT" in *"no successful run of the orders stage"*) ok "a redrive of an import never run says so" ;;
               *) not_ok "a redrive of an import never run says so" "$OUT" ;; esac
OUT=$(q "$PORT" -d redriven -v VERBOSITY=verbose -c "SELECT * FROM etl_redrive(NULL)" 2>&1)
case "$OUT" in *22004*) ok "etl_redrive(NULL) is refused with 22004" ;; *) not_ok "etl_redrive(NULL) is refused with 22004" "$OUT" ;; esac
q "$PORT" -d redriven -c "CREATE ROLE app_loader LOGIN" -c "GRANT etl_loader TO app_loader" >/dev/null
OUT=$(q "$PORT" -d redriven -U app_loader -c "SELECT * FROM etl_redrive('$X')" 2>&1)
case "$OUT" in *"permission denied"*) ok "a loader may not redrive" ;; *) not_ok "a loader may not redrive" "$OUT" ;; esac
expect_eq "the refused calls changed no result" "$STATE_BEFORE" \
    "$(q "$PORT" -d redriven -f "$ROOT/tests/result_fingerprint.sql")"

# The redrive, by an operator; and the whole import again in the other DB.
REPORT=$(q "$PORT" -d redriven -U ops_redriven -F ' ' \
             -c "SELECT former_reason, retried, loaded, superseded, still_rejected, failed FROM etl_redrive('$X') ORDER BY 1")
echo "# redrive report (former reason, retried, loaded, superseded, still rejected, failed):"
echo "$REPORT" | sed 's/^/#   /'
expect_eq "the report by former reason" \
    "$(printf '%s\n' 'bad_amount 2 0 1 1 0' 'load_error 2 2 0 0 0' 'unknown_shop 6 2 3 1 0')" "$REPORT"
q "$PORT" -d rerun -c "SELECT count(*) FROM etl_run_all('$X')" >/dev/null

REDRIVEN=$(q "$PORT" -d redriven -f "$ROOT/tests/result_fingerprint.sql")
RERUN=$(q "$PORT" -d rerun -f "$ROOT/tests/result_fingerprint.sql")
echo "# redriven: $REDRIVEN"
echo "# re-run:   $RERUN"
expect_eq "the result tables (orders, customers, leads, rejects) equal those of re-running the whole import" \
    "$RERUN" "$REDRIVEN"
expect_eq "the result tables changed (the redrive did something)" "f" "$([ "$REDRIVEN" == "$STATE_BEFORE" ] && echo t || echo f)"

# Each rule, in the redriven database.
order() { q "$PORT" -d redriven -c "SELECT o.source_line_no || ':' || i.source || ':' || o.amount || ':' || o.customer_nickname
                                     FROM etl.orders o JOIN etl.imports i USING (import_id) WHERE o.order_id = '$1'"; }
expect_eq "K1: the newest line of the import wins" "2:redriven:11.00:alice" "$(order K1)"
expect_eq "K3: the failed line is loaded now" "5:redriven:666.00:carol" "$(order K3)"
expect_eq "K7: the corrected older line stays superseded by the newer one" "13:redriven:20.00:gina" "$(order K7)"
expect_eq "K8: a later import still wins" "1:later:31.00:hank" "$(order K8)"
expect_eq "K10: the order moved from jack to kate" "18:redriven:666.00:kate" "$(order K10)"
expect_eq "jack's customer lost K10: his first and last order are K11's" "t" \
    "$(q "$PORT" -d redriven -c "SELECT c.first_order_at = o.ordered_at AND c.last_order_at = o.ordered_at
                                   FROM etl.customers c, etl.orders o WHERE c.customer_nickname = 'jack' AND o.order_id = 'K11'")"
expect_eq "jack's lead lost K10: one order of 6.00" "1|6.00" \
    "$(q "$PORT" -d redriven -c "SELECT l.order_count || '|' || l.total_amount FROM etl.business_leads l JOIN etl.customers c USING (customer_global_id) WHERE c.customer_nickname = 'jack'")"
expect_eq "the lines still refused are the only rejects left" "15:unknown_shop 16:bad_amount" \
    "$(q "$PORT" -d redriven -c "SELECT string_agg(line_no || ':' || reason, ' ' ORDER BY line_no) FROM etl.rejects WHERE import_id = '$X'")"
expect_eq "etl_explain agrees: K1's line 1 is superseded by line 2" "superseded" \
    "$(q "$PORT" -d redriven -c "SELECT fate FROM etl_explain('S2', 'K1') WHERE line_no = 1")"

# Its cost follows the rejected lines: each stage worked on what they wrote.
RUNS=$(q "$PORT" -d redriven -c "SELECT string_agg(stage || ':' || rows_in || ':' || (details ->> 'scope'), ' ' ORDER BY run_id)
                                   FROM etl.runs WHERE import_id = '$X' AND details ->> 'scope' = 'redrive'")
echo "# the redrive's runs (stage:rows_in): $RUNS"
expect_eq "the redrive read the 10 refused lines, and its customers and leads stages only the 4 customers they loaded for" \
    "orders:10:redrive customers:4:redrive leads:4:redrive" "$RUNS"
expect_eq "its work list is empty afterwards" "0" "$(q "$PORT" -d redriven -c "SELECT count(*) FROM etl.redrive_scope")"

# Again: only the two lines still refused are retried; nothing changes.
REPORT=$(q "$PORT" -d redriven -U ops_redriven -F ' ' \
             -c "SELECT former_reason, retried, loaded, superseded, still_rejected, failed FROM etl_redrive('$X') ORDER BY 1")
expect_eq "a second redrive retries the two lines still refused" \
    "$(printf '%s\n' 'bad_amount 1 0 0 1 0' 'unknown_shop 1 0 0 1 0')" "$REPORT"
expect_eq "and changes no result" "$REDRIVEN" "$(q "$PORT" -d redriven -f "$ROOT/tests/result_fingerprint.sql")"
finish
