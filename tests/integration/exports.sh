#!/usr/bin/env bash
# Shop exports straight in (issue 28, part 1; docs/semantics.md 12): loaders
# load a marketplace's export with one call, and the import goes through the
# pipeline. The fixtures are tests/data/exports (make_fixtures.py writes
# them): a GBK CSV with Chinese headers, Shopify's order export (one row per
# line item), a UTF-8 CSV with a BOM and quoted newlines, an XLSX with date
# cells; a GB18030 file is written here. Each check runs as the role it is
# about: loaders la and lb, operator ops, filer (a loader with
# pg_read_server_files), nobody (granted nothing).
. "$(dirname "$0")/lib.sh"
test_dir DIR exports
PORT=$(free_port)
# Preloaded for etl.progress; the worker watches another database, so only
# this test's calls run the pipeline.
cluster_start "$DIR" "$PORT" "shared_preload_libraries = 'etl_ext'" "etl.database = 'nosuchdb'"
at_exit 'cluster_stop $DIR'
DATA="$ROOT/tests/data/exports"
# The server's process reads the file variant's files: copies it can read.
cp "$DATA"/*.csv "$DATA"/*.xlsx "$DIR/" && chmod 644 "$DIR"/*.csv "$DIR"/*.xlsx

q "$PORT" >/dev/null <<'SQL'
CREATE EXTENSION etl_ext;
CREATE ROLE la LOGIN; CREATE ROLE lb LOGIN; CREATE ROLE ops LOGIN; CREATE ROLE filer LOGIN; CREATE ROLE nobody LOGIN;
GRANT etl_loader TO la, lb, filer;
GRANT pg_read_server_files TO filer;
GRANT etl_operator TO ops;
INSERT INTO etl.shops (shop_name, platform) VALUES ('Tmall Flagship', 'tmall'), ('JD Outlet', 'jd'), ('Shopify US', 'shopify');
INSERT INTO etl.order_type_mappings VALUES ('样品', 'SAMPLE'), ('批发', 'BULK');
SQL
as() { # USER SQL: one value, or "refused:<SQLSTATE> <message>"
    local out
    if out=$(PGOPTIONS="-c search_path=pg_catalog" q "$PORT" -U "$1" -d postgres -c "\\set VERBOSITY verbose" -c "$2" 2>&1); then
        echo "$out"
    else
        echo "refused:$(grep -oE 'ERROR: +[0-9A-Z]{5}: .*' <<<"$out" | head -1 | sed -E 's/ERROR: +//')"
    fi
}
hex() { od -An -tx1 -v "$1" | tr -d ' \n'; }
# load USER FILE PROFILE [more arguments]: etl_import_export of FILE's bytes.
load() {
    as "$1" "SELECT import_id || '|' || lines || '|' || reused FROM etl_import_export('\\x$(hex "$2")'::bytea, '$3'${4:+, $4})"
}
imports() { q "$PORT" -c "SELECT count(*) FROM etl.imports"; }

# Profiles are data: an operator adds them with INSERT (the README's).
OUT=$(as ops "INSERT INTO etl.export_profiles (profile_name, encoding, columns) VALUES ('tmall', 'gbk',
    '{\"order_id\": \"订单编号\", \"shop\": \"店铺名称\", \"customer_name\": \"买家会员名\", \"order_status\": \"订单状态\",
      \"order_type\": \"订单类型\", \"amount\": \"买家实际支付金额\", \"ordered_at\": \"订单创建时间\"}')")
expect_eq "an operator adds a profile with Chinese headers by INSERT" "" "$OUT"
as ops "INSERT INTO etl.export_profiles (profile_name, format, columns) VALUES ('jd_xlsx', 'xlsx',
    '{\"order_id\": \"订单号\", \"shop\": \"店铺\", \"customer_name\": \"客户\", \"order_status\": \"状态\",
      \"order_type\": \"类型\", \"amount\": \"金额\", \"ordered_at\": \"下单时间\"}')" >/dev/null
as ops "INSERT INTO etl.export_profiles (profile_name, encoding, fixed_shop, columns) VALUES ('tmall18', 'gb18030', 'Tmall Flagship',
    '{\"order_id\": \"订单编号\", \"customer_name\": \"买家会员名\", \"amount\": \"金额\", \"ordered_at\": \"时间\"}')" >/dev/null
expect_eq "the built-in profiles and the operator's" "generic:true,jd_xlsx:false,shopify:true,tmall:false,tmall18:false" \
    "$(as la "SELECT string_agg(profile_name || ':' || built_in, ',' ORDER BY profile_name) FROM etl.export_profiles")"

# --- Each format and encoding. ----------------------------------------------
IMPORTS0=$(imports)
OUT=$(load la "$DIR/tmall_orders_gbk.csv" tmall "source => 'tmall 2024-01'")
TMALL=${OUT%%|*}
expect_eq "GBK CSV with Chinese headers: a loader's call returns a new import of 6 lines" "6|false" "${OUT#*|}"
expect_eq "the import is the loader's, completed, with the file's sha256 and its profile" \
    "la|completed|tmall 2024-01|$(sha256sum "$DATA/tmall_orders_gbk.csv" | cut -d' ' -f1)|tmall" \
    "$(q "$PORT" -c "SELECT owner_role || '|' || status || '|' || source || '|' || encode(content_sha256, 'hex') || '|' || export_profile FROM etl.imports WHERE import_id = '$TMALL'")"
expect_eq "its lines are the cells as exported (white space, ￥ and commas kept for the stage to clean)" \
    "1|TM20240115001|Tmall Flagship|王小明|交易成功|样品|￥1,288.00|2024-01-15 10:23:45;3|TM20240115003|Tmall Flagship|　韩梅梅　|paid||￥20,000|2024-01-16" \
    "$(q "$PORT" -c "SELECT string_agg(concat_ws('|', line_no, order_id, shop, customer_name, order_status, order_type, amount, ordered_at), ';' ORDER BY line_no) FROM etl.raw_orders WHERE import_id = '$TMALL' AND line_no IN (1, 3)")"
expect_eq "the completion queued its pipeline" "orders:queued" \
    "$(q "$PORT" -c "SELECT string_agg(stage || ':' || state, ',') FROM etl.jobs WHERE import_id = '$TMALL'")"

OUT=$(load la "$DIR/shopify_orders_export.csv" shopify "shop => 'Shopify US'")
SHOPIFY=${OUT%%|*}
expect_eq "Shopify's export (7 rows, 4 orders): one line per order, its first row" "4|false" "${OUT#*|}"
expect_eq "Shopify: the first row's total, status and time (offset given its colon), Billing Name else Email, the call's shop" \
    "1|#1001|Shopify US|Ann Lee|paid|63.32|2024-01-15 10:23:45-05:00;3|#1002|Shopify US|bob@example.com|pending|19.99|2024-01-16 08:00:00+00:00;4|#1003|Shopify US|Carol O'Neil|refunded|1,100.00|2024-01-16 11:59:59+01:00;7|#1004|Shopify US|Dan Wu|paid|10.00|16/01/2024 13:00" \
    "$(q "$PORT" -c "SELECT string_agg(concat_ws('|', line_no, order_id, shop, customer_name, order_status, amount, ordered_at), ';' ORDER BY line_no) FROM etl.raw_orders WHERE import_id = '$SHOPIFY'")"

OUT=$(load la "$DIR/generic_bom_quoted.csv" generic)
GENERIC=${OUT%%|*}
expect_eq "UTF-8 with a BOM, quoted fields with a newline and commas, columns in another order: 3 lines" "3|false" "${OUT#*|}"
expect_eq "the BOM is not in the first header, the quoted newline is kept" "G-1|Li Lei
Beijing office|2024-02-01 09:00:00" \
    "$(q "$PORT" -c "SELECT concat_ws('|', order_id, customer_name, ordered_at) FROM etl.raw_orders WHERE import_id = '$GENERIC' AND line_no = 1")"

OUT=$(load la "$DIR/jd_orders.xlsx" jd_xlsx)
XLSX=${OUT%%|*}
expect_eq "XLSX (first sheet only, an empty row skipped): 4 lines" "4|false" "${OUT#*|}"
expect_eq "XLSX: date cells in the contract's form, numbers as text, a text time kept" \
    "1|880001|1288.5|2024-01-15 10:23:45;2|880002|99|2024-01-16 00:00:00;3|880003|88.80|2024-01-17 12:00:00;5|880004|5|昨天" \
    "$(q "$PORT" -c "SELECT string_agg(concat_ws('|', line_no, order_id, amount, ordered_at), ';' ORDER BY line_no) FROM etl.raw_orders WHERE import_id = '$XLSX'")"

python3 -c "import sys; open(sys.argv[1], 'wb').write('订单编号,买家会员名,金额,时间\r\nGB-1,𠀀小姐,¥15,2024-03-01 08:00:00\r\n'.encode('gb18030'))" "$DIR/gb18030.csv"
OUT=$(load la "$DIR/gb18030.csv" tmall18)
GB18030=${OUT%%|*}
expect_eq "GB18030 (four-byte characters GBK lacks), the profile's fixed shop" "GB-1|Tmall Flagship|𠀀小姐|¥15" \
    "$(q "$PORT" -c "SELECT concat_ws('|', order_id, shop, customer_name, amount) FROM etl.raw_orders WHERE import_id = '$GB18030'")"

# --- The pipeline runs them; the results are right. -------------------------
q "$PORT" -c "CALL etl_run_queue()" >/dev/null
expect_eq "every import's three stages are done" "0" "$(q "$PORT" -c "SELECT count(*) FROM etl.jobs WHERE state <> 'done'")"
expect_eq "Tmall: orders cleaned as for any import (trimmed nickname, ￥ and commas, mapping, Shanghai time)" \
    "TM20240115001|王小明|交易成功|SAMPLE|1288.00|2024-01-15 02:23:45+00;TM20240115002|李雷|PAID|BULK|88.50|2024-01-15 03:00:00+00;TM20240115003|韩梅梅|PAID|BULK|20000.00|2024-01-15 16:00:00+00;TM20240115004|王小明|CANCELLED|SAMPLE|12.35|2024-01-16 01:00:00+00" \
    "$(q "$PORT" -c "SET TIME ZONE 'UTC'" -c "SELECT string_agg(concat_ws('|', order_id, customer_nickname, latest_status, system_order_type, amount, ordered_at), ';' ORDER BY order_id) FROM etl.orders WHERE import_id = '$TMALL'")"
expect_eq "Tmall: the bad lines are rejected with their raw text" "5|missing_customer|30;6|bad_amount|三十元" \
    "$(q "$PORT" -c "SELECT string_agg(line_no || '|' || reason || '|' || (raw ->> 'amount'), ';' ORDER BY line_no) FROM etl.rejects WHERE import_id = '$TMALL'")"
expect_eq "Shopify: orders with the first row's values; the time it did not write in its form is rejected as exported" \
    "#1001|Ann Lee|PAID|63.32|2024-01-15 15:23:45+00;#1002|bob@example.com|PENDING|19.99|2024-01-16 08:00:00+00;#1003|Carol O'Neil|REFUNDED|1100.00|2024-01-16 10:59:59+00;7|bad_timestamp|16/01/2024 13:00" \
    "$(q "$PORT" -c "SET TIME ZONE 'UTC'" -c "SELECT string_agg(concat_ws('|', order_id, customer_nickname, latest_status, amount, ordered_at), ';' ORDER BY order_id) || ';' || (SELECT string_agg(line_no || '|' || reason || '|' || (raw ->> 'ordered_at'), ';') FROM etl.rejects WHERE import_id = '$SHOPIFY') FROM etl.orders WHERE import_id = '$SHOPIFY'")"
expect_eq "Shopify: the three orders' customers got leads; the refunded one counts nothing" "Ann Lee:1:63.32;Carol O'Neil:0:0.00;bob@example.com:1:19.99" \
    "$(q "$PORT" -c "SELECT string_agg(c.customer_nickname || ':' || l.order_count || ':' || l.total_amount, ';' ORDER BY convert_to(c.customer_nickname, 'UTF8')) FROM etl.customers c JOIN etl.business_leads l USING (customer_global_id) WHERE c.shop_id = (SELECT shop_id FROM etl.shops WHERE shop_name = 'Shopify US')")"
expect_eq "XLSX: the date cell's time is local time (Shanghai); the text that is no time is rejected" \
    "880001|1288.50|2024-01-15 02:23:45+00;880002|99.00|2024-01-15 16:00:00+00;880003|88.80|2024-01-17 04:00:00+00;5|bad_timestamp" \
    "$(q "$PORT" -c "SET TIME ZONE 'UTC'" -c "SELECT string_agg(concat_ws('|', order_id, amount, ordered_at), ';' ORDER BY order_id) || ';' || (SELECT string_agg(line_no || '|' || reason, ';') FROM etl.rejects WHERE import_id = '$XLSX') FROM etl.orders WHERE import_id = '$XLSX'")"
expect_eq "generic and GB18030: every line loaded" "3|1" \
    "$(q "$PORT" -c "SELECT (SELECT count(*) FROM etl.orders WHERE import_id = '$GENERIC') || '|' || (SELECT count(*) FROM etl.orders WHERE import_id = '$GB18030' AND customer_nickname = '𠀀小姐')")"

# --- The same file twice is one import. --------------------------------------
expect_eq "the same file again: the same import, reused" "$TMALL|6|true" "$(load la "$DIR/tmall_orders_gbk.csv" tmall)"
expect_eq "the same bytes with another shop are another export" "false" \
    "$(load la "$DIR/shopify_orders_export.csv" shopify "shop => 'Tmall Flagship'" | cut -d'|' -f3)"
OUT=$(load la "$DIR/tmall_orders_gbk.csv" tmall "reload => true")
expect_true "reload => true loads it again into a new import" \
    "$([ "${OUT%%|*}" != "$TMALL" ] && [ "${OUT#*|}" == "6|false" ] && echo t)"
expect_eq "another loader's same file is its own new import (it cannot see la's)" "false|lb" \
    "$(OUT=$(load lb "$DIR/tmall_orders_gbk.csv" tmall); echo "${OUT##*|}|$(q "$PORT" -c "SELECT owner_role FROM etl.imports WHERE import_id = '${OUT%%|*}'")")"
FORGED=$(q "$PORT" -U lb -d postgres -c "INSERT INTO etl.imports (import_id, source, content_sha256, export_profile) VALUES (gen_random_uuid(), 'forged', decode('$(sha256sum "$DATA/generic_bom_quoted.csv" | cut -d' ' -f1)', 'hex'), 'generic') RETURNING import_id" | head -1)
expect_eq "an import another role forged with a file's hash is never handed back (an operator loads the file)" "false" \
    "$(load ops "$DIR/generic_bom_quoted.csv" generic | cut -d'|' -f3)"
[ -n "$FORGED" ] || not_ok "lb forged an import with the hash"

# Batches of etl.batch_size lines, each reported as it is written (the
# progress etl.progress shows; notices when asked for): Shopify's orders
# straddle the batches of 2 and are still one line each.
OUT=$(PGOPTIONS="-c search_path=pg_catalog" q "$PORT" -U la -d postgres -c "SET etl.batch_size = 2" -c "SET etl.progress_notices = on" \
    -c "SELECT lines FROM etl_import_export('\\x$(hex "$DIR/shopify_orders_export.csv")'::bytea, 'shopify', shop => 'Shopify US', reload => true)" 2>&1)
expect_eq "batches of 2: each reported as the export stage's progress, the same 4 lines" \
    "batch 1, 2 lines|batch 2, 4 lines|4" \
    "$(grep -oE 'export stage of import [0-9a-f-]+: batch [0-9]+, [0-9]+ lines' <<<"$OUT" | sed -E 's/.*: //' | paste -sd'|')|$(tail -1 <<<"$OUT")"
BATCHED=$(q "$PORT" -c "SELECT import_id FROM etl.imports WHERE export_profile = 'shopify' ORDER BY created_at DESC LIMIT 1")
expect_eq "batches of 2 wrote what one batch wrote" \
    "$(q "$PORT" -c "SELECT string_agg(concat_ws('|', line_no, order_id, customer_name, amount, ordered_at), ';' ORDER BY line_no) FROM etl.raw_orders WHERE import_id = '$SHOPIFY'")" \
    "$(q "$PORT" -c "SELECT string_agg(concat_ws('|', line_no, order_id, customer_name, amount, ordered_at), ';' ORDER BY line_no) FROM etl.raw_orders WHERE import_id = '$BATCHED'")"

# --- What is refused, and writes nothing. ------------------------------------
IMPORTS1=$(imports)
OUT=$(load la "$DIR/tmall_orders_no_shop_gbk.csv" tmall)
expect_eq "a header the profile needs and the file lacks: a clear error naming it" \
    'refused:22P04: etl_ext: the export lacks the header "店铺名称" (for shop) that profile "tmall" needs; nothing was loaded' "$OUT"
expect_true "the generic profile on the Chinese export names every missing header" \
    "$(load la "$DIR/tmall_orders_gbk.csv" tmall18 | grep -q '"金额" (for amount), "时间" (for ordered_at)' && echo t)"
expect_eq "a GBK file read as UTF-8 is refused, not turned into replacement characters" "22021" \
    "$(load la "$DIR/tmall_orders_gbk.csv" generic | cut -c9-13)"
expect_eq "an XLSX profile given a CSV is refused" "22P04" "$(load la "$DIR/generic_bom_quoted.csv" jd_xlsx | cut -c9-13)"
expect_eq "an unknown profile is refused" "42704" "$(load la "$DIR/generic_bom_quoted.csv" nosuch | cut -c9-13)"
expect_eq "shopify without a shop is refused with what to pass" "22023" \
    "$(load la "$DIR/shopify_orders_export.csv" shopify "reload => true" | cut -c9-13)"
expect_eq "an empty file is refused" "22P04" "$(as la "SELECT lines FROM etl_import_export(''::bytea, 'generic')" | cut -c9-13)"
expect_eq "a NULL content is refused" "22004" "$(as la "SELECT lines FROM etl_import_export(NULL, 'generic')" | cut -c9-13)"
expect_eq "a role granted nothing may not call it" "42501" "$(load nobody "$DIR/generic_bom_quoted.csv" generic | cut -c9-13)"
expect_eq "none of the refused calls wrote an import" "$IMPORTS1" "$(imports)"

# --- The file variant. --------------------------------------------------------
OUT=$(as la "SELECT lines FROM etl_import_export_file('$DIR/generic_bom_quoted.csv', 'generic', reload => true)")
expect_eq "the file variant, for a loader without pg_read_server_files: refused (42501) before the file is touched" \
    "refused:42501: etl_ext: permission denied to read server files: etl_import_export_file needs the privileges of pg_read_server_files" "$OUT"
expect_eq "... even for a file that does not exist (nothing is revealed)" "42501" \
    "$(as la "SELECT lines FROM etl_import_export_file('/no/such/file', 'generic')" | cut -c9-13)"
OUT=$(as filer "SELECT import_id || '|' || lines || '|' || reused FROM etl_import_export_file('$DIR/jd_orders.xlsx', 'jd_xlsx')")
expect_eq "a loader with pg_read_server_files loads an XLSX file: its import, the path as source" "4|false|filer|$DIR/jd_orders.xlsx" \
    "${OUT#*|}|$(q "$PORT" -c "SELECT owner_role || '|' || source FROM etl.imports WHERE import_id = '${OUT%%|*}'")"
OUT=$(as filer "SELECT import_id || '|' || lines || '|' || reused FROM etl_import_export_file('$DIR/tmall_orders_gbk.csv', 'tmall')")
expect_eq "a streamed GBK CSV file: 6 lines; again: reused" "6|false|6|true" \
    "${OUT#*|}|$(as filer "SELECT lines || '|' || reused FROM etl_import_export_file('$DIR/tmall_orders_gbk.csv', 'tmall')")"
expect_eq "a file that does not exist: a clear error" "58P01" \
    "$(as filer "SELECT lines FROM etl_import_export_file('$DIR/nope.csv', 'generic')" | cut -c9-13)"

# --- A long load shows in etl.progress, to its loader only. -------------------
q "$PORT" -c "COPY (SELECT 'BIG-' || n AS order_id, 'JD Outlet' AS shop, 'buyer ' || (n % 997) AS customer_name, 'paid' AS order_status,
                           NULL AS order_type, (n % 5000) || '.50' AS amount, '2024-05-01 10:00:00' AS ordered_at
                      FROM generate_series(1, 60000) n) TO '$DIR/big.csv' WITH (FORMAT csv, HEADER)" >/dev/null
PGOPTIONS="-c search_path=pg_catalog -c etl.batch_size=2000" q "$PORT" -U filer -d postgres \
    -c "SELECT lines FROM etl_import_export_file('$DIR/big.csv', 'generic')" >"$DIR/big.out" 2>&1 &
BIG_LOAD=$!
: >"$DIR/progress.txt"; : >"$DIR/progress_other.txt"
while kill -0 "$BIG_LOAD" 2>/dev/null; do
    as filer "SELECT stage || '|' || lines_done || '|' || batches_done FROM etl.progress" >>"$DIR/progress.txt"
    as la "SELECT count(*) FROM etl.progress" >>"$DIR/progress_other.txt"
    sleep 0.1
done
wait "$BIG_LOAD"
expect_eq "the long load wrote its 60,000 lines" "60000" "$(tail -1 "$DIR/big.out")"
SEEN=$(grep -c '^export|' "$DIR/progress.txt")
expect_true "its loader saw it in etl.progress as stage export, lines done growing batch by batch ($SEEN samples)" \
    "$([ "$(grep '^export|' "$DIR/progress.txt" | cut -d'|' -f2 | sort -un | wc -l)" -ge 2 ] \
        && grep '^export|' "$DIR/progress.txt" | cut -d'|' -f2 | sort -c -n 2>/dev/null && echo t)"
expect_eq "another loader never saw it" "0" "$(sort -u "$DIR/progress_other.txt" | paste -sd,)"
expect_eq "once done, etl.progress is empty" "0" "$(q "$PORT" -c "SELECT count(*) FROM etl.progress")"

# --- Profiles: who may change what. -------------------------------------------
expect_eq "a loader may not add a profile" "42501" \
    "$(as la "INSERT INTO etl.export_profiles (profile_name, columns) VALUES ('mine', '{\"order_id\": \"a\", \"customer_name\": \"b\", \"amount\": \"c\", \"ordered_at\": \"d\"}')" | cut -c9-13)"
expect_eq "an operator cannot change or delete a built-in profile" "0|0" \
    "$(as ops "WITH u AS (UPDATE etl.export_profiles SET fixed_shop = 'x' WHERE profile_name = 'shopify' RETURNING 1) SELECT count(*) FROM u")|$(as ops "WITH d AS (DELETE FROM etl.export_profiles WHERE profile_name = 'generic' RETURNING 1) SELECT count(*) FROM d")"
expect_eq "... but changes and deletes its own" "1|1" \
    "$(as ops "WITH u AS (UPDATE etl.export_profiles SET fixed_shop = 'JD Outlet' WHERE profile_name = 'jd_xlsx' RETURNING 1) SELECT count(*) FROM u")|$(as ops "WITH d AS (DELETE FROM etl.export_profiles WHERE profile_name = 'tmall18' RETURNING 1) SELECT count(*) FROM d")"
expect_eq "... nor make one of its own built in" "42501" \
    "$(as ops "INSERT INTO etl.export_profiles (profile_name, columns, built_in) VALUES ('fake', '{\"order_id\": \"a\", \"customer_name\": \"b\", \"amount\": \"c\", \"ordered_at\": \"d\"}', true)" | cut -c9-13)"
expect_true "a profile mapping a column raw_orders lacks is refused, naming the rule" \
    "$(as ops "INSERT INTO etl.export_profiles (profile_name, columns) VALUES ('bad', '{\"order_id\": \"a\", \"customer_name\": \"b\", \"amount\": \"c\", \"ordered_at\": \"d\", \"price\": \"e\"}')" | grep -q '^refused:23514: .*export_columns_are_raw_orders_columns' && echo t)"
REFUSED=$(for v in "'{\"customer_name\": \"b\", \"amount\": \"c\", \"ordered_at\": \"d\"}', ','" \
                   "'{\"order_id\": [], \"customer_name\": \"b\", \"amount\": \"c\", \"ordered_at\": \"d\"}', ','" \
                   "'{\"order_id\": \"\", \"customer_name\": \"b\", \"amount\": \"c\", \"ordered_at\": \"d\"}', ','" \
                   "'{\"order_id\": [\"a\", 1], \"customer_name\": \"b\", \"amount\": \"c\", \"ordered_at\": \"d\"}', ','" \
                   "'{\"order_id\": \"a\", \"customer_name\": \"b\", \"amount\": \"c\", \"ordered_at\": \"d\"}', ';;'"; do
    as ops "INSERT INTO etl.export_profiles (profile_name, columns, delimiter) VALUES ('bad', $v)" | cut -c1-13
done | paste -sd,)
expect_eq "a profile without an order id, with an empty list, an empty or non-text header name, or a two-character delimiter: refused" \
    "refused:23514,refused:23514,refused:23514,refused:23514,refused:23514" "$REFUSED"
finish
