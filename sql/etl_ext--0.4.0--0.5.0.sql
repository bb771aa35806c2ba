-- etl_ext 0.4.0 -> 0.5.0 (ALTER EXTENSION etl_ext UPDATE TO '0.5.0').
--
-- CREATE EXTENSION and ALTER EXTENSION UPDATE run this with search_path =
-- pg_catalog, pg_temp (etl_ext.control's schema): every name is qualified or
-- resolves in pg_catalog. Data is kept: no row of any table changes meaning.
--
-- What changes, and why (docs/upgrades.md, "0.4.0 -> 0.5.0"):


-- ---------------------------------------------------------------------------
-- Issue 28, part 2: the quality gate (docs/upgrades.md, "0.4.0 -> 0.5.0";
-- docs/semantics.md, section 11). After the orders stage, an import whose
-- reject share is above etl.max_reject_ratio (a setting; off by default) is
-- held in etl.import_holds until an operator's etl_release(import_id);
-- etl_quality(import_id) reports its rejects per shop and reason against the
-- shop's earlier imports. Creates the table (registered for pg_dump), adds
-- hold_status, hold_reason and hold_released_by at the end of
-- etl.pipeline_status, and creates the two functions with their privileges,
-- as a fresh install does (schema.sql, chain.sql, backup.sql, finish.sql).
-- ---------------------------------------------------------------------------
-- The quality gate's holds (queue/gate.rs; docs/semantics.md, section 11):
-- an import whose orders stage rejected a larger share of its lines than
-- etl.max_reject_ratio is held here, and its customers and leads stages
-- wait for etl_release(import_id). One row per import, kept after the
-- release (who and when): a released import is never held again.
CREATE TABLE etl.import_holds (
    import_id    uuid PRIMARY KEY REFERENCES etl.imports (import_id) ON DELETE CASCADE,
    held_at      timestamptz NOT NULL DEFAULT now(),
    lines        bigint NOT NULL,
    rejected     bigint NOT NULL,
    reject_ratio numeric NOT NULL,
    threshold    numeric NOT NULL,
    reason       text NOT NULL,
    released_at  timestamptz,
    released_by  name,
    CONSTRAINT import_hold_release_is_whole CHECK ((released_at IS NULL) = (released_by IS NULL))
);
GRANT SELECT, INSERT, UPDATE ON etl.import_holds TO etl_runner;
GRANT SELECT ON etl.import_holds TO etl_reader, etl_operator;
SELECT pg_catalog.pg_extension_config_dump('etl.import_holds', '');

CREATE OR REPLACE VIEW etl.pipeline_status WITH (security_barrier) AS
SELECT i.import_id,
       i.source,
       i.status AS import_status,
       i.completed_at,
       j.stage,
       j.state,
       j.attempts,
       j.next_run_at,
       j.last_error,
       r.status AS last_run_status,
       r.rows_in,
       r.rows_ok,
       r.rows_superseded,
       r.rows_rejected,
       r.rows_failed,
       r.duration_ms,
       r.finished_at AS last_run_finished_at,
       -- The quality gate (etl.import_holds): 'held' (customers and leads
       -- wait for etl_release), 'released', or NULL (never held).
       CASE WHEN h.import_id IS NULL THEN NULL
            WHEN h.released_at IS NULL THEN 'held'
            ELSE 'released' END AS hold_status,
       h.reason AS hold_reason,
       h.released_by AS hold_released_by
  FROM etl.imports i
  JOIN etl.jobs j ON j.import_id = i.import_id
  LEFT JOIN LATERAL (
        SELECT r.*
          FROM etl.runs r
         WHERE r.import_id = i.import_id AND r.stage = j.stage
         ORDER BY r.run_id DESC
         LIMIT 1) r ON true
  LEFT JOIN etl.import_holds h ON h.import_id = i.import_id
-- A loader sees its own imports; readers and operators see every import.
-- (security_barrier: the filter runs before any function of the caller's in
-- a WHERE, which could otherwise see, and leak, other loaders' rows.)
-- 'USAGE': the rights of etl_reader, as its grants and row-level security
-- count them; 'MEMBER' also counted a membership granted WITH INHERIT
-- FALSE, SET FALSE, which gives none of them.
 WHERE i.owner_role = CURRENT_USER OR pg_has_role(CURRENT_USER, 'etl_reader', 'USAGE')
 ORDER BY i.created_at, i.import_id, array_position(ARRAY['orders', 'customers', 'leads'], j.stage);
COMMENT ON VIEW etl.pipeline_status IS
    'Each import''s pipeline at a glance: stage job states, attempts, last error, the counts and duration of the last run of each stage, and whether the quality gate holds it (hold_status, hold_reason).';

CREATE FUNCTION "etl_release"(
	"import_id" uuid /* Option < Uuid > */
) RETURNS bigint /* i64 */
VOLATILE PARALLEL UNSAFE
SET search_path TO pg_catalog, pg_temp
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'etl_release_wrapper';

CREATE FUNCTION "etl_quality"(
	"import_id" uuid /* Option < Uuid > */
) RETURNS TABLE (
	"shop_id" bigint,  /* Option < i64 > */
	"shop_name" TEXT,  /* Option < String > */
	"reason" TEXT,  /* Option < String > */
	"lines" bigint,  /* i64 */
	"rejected" bigint,  /* i64 */
	"reject_ratio" double precision,  /* f64 */
	"import_reject_ratio" double precision,  /* f64 */
	"previous_imports" bigint,  /* i64 */
	"previous_lines" bigint,  /* i64 */
	"previous_reject_ratio" double precision  /* Option < f64 > */
)
VOLATILE PARALLEL UNSAFE
SET search_path TO pg_catalog, pg_temp
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'etl_quality_wrapper';

REVOKE ALL ON FUNCTION pg_catalog.etl_release(uuid), pg_catalog.etl_quality(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pg_catalog.etl_quality(uuid) TO etl_loader, etl_reader;
GRANT EXECUTE ON FUNCTION pg_catalog.etl_release(uuid) TO etl_operator;
-- End of issue 28, part 2 (the quality gate).


-- ---------------------------------------------------------------------------
-- Review of issue 28: who counts as a reader in etl.pipeline_status (above),
-- etl.progress and etl_quality is a role with etl_reader's rights
-- (pg_has_role ... 'USAGE'), as etl_reader's grants and row-level security
-- count it, not any member ('MEMBER' also counted a membership granted
-- WITH INHERIT FALSE, SET FALSE, which gives none of its rights, and showed
-- such a loader every import). The view as a fresh install creates it
-- (finish.sql); its grants and comment stay.
-- ---------------------------------------------------------------------------
CREATE OR REPLACE VIEW etl.progress WITH (security_barrier) AS
SELECT p.pid, p.import_id, p.stage, p.started_at, p.updated_at, p.batches_done, p.batches_total,
       p.lines_done, p.lines_total, p.lines_per_second, p.eta
  FROM etl.progress_rows() p
 WHERE pg_has_role(CURRENT_USER, 'etl_reader', 'USAGE')
    OR EXISTS (SELECT 1 FROM etl.imports i WHERE i.import_id = p.import_id AND i.owner_role = CURRENT_USER);


-- ---------------------------------------------------------------------------
-- The quality gate holds back a held import's writes (docs/upgrades.md,
-- "0.4.0 -> 0.5.0"; docs/semantics.md, section 11). The orders stage of an
-- import the gate holds is rolled back, so its rejects are not in
-- etl.rejects: the hold keeps the held run's counts per shop and reason
-- (rejects_by_shop, for etl_quality) and the held run's id (run_id). Adds
-- the two columns at the end of etl.import_holds, as a fresh install has
-- them (schema.sql); the table is new in 0.5.0, so it is empty here.
-- ---------------------------------------------------------------------------
ALTER TABLE etl.import_holds
    ADD COLUMN rejects_by_shop jsonb NOT NULL,
    ADD COLUMN run_id bigint NOT NULL;

-- ---------------------------------------------------------------------------
-- Issue 28, part 1: shop exports straight in (etl_import_export).
-- An import remembers the export it was loaded from (its sha256, profile
-- and the call's shop: NULL for every import made before, which are no
-- exports); export profiles are a table of their own with two built-in
-- rows; two entry points for loaders, run as their caller.
-- ---------------------------------------------------------------------------
ALTER TABLE etl.imports
    ADD COLUMN content_sha256 bytea,
    ADD COLUMN export_profile text,
    ADD COLUMN export_shop    text;
CREATE INDEX imports_content_sha256_idx ON etl.imports (content_sha256) WHERE content_sha256 IS NOT NULL;

-- Export profiles: how one marketplace's export file maps to raw lines
-- (etl_import_export; docs in src/exports/README.md). Profiles are data:
-- operators add theirs with INSERT. The two built in (built_in = true, written
-- by the install and its updates) cannot be changed by anyone but a
-- superuser, and pg_dump leaves them out (CREATE EXTENSION makes them).
CREATE TABLE etl.export_profiles (
    profile_name      text PRIMARY KEY
        CONSTRAINT export_profile_name_is_not_blank CHECK (btrim(profile_name) <> ''),
    format            text NOT NULL DEFAULT 'csv'
        CONSTRAINT export_format_is_csv_or_xlsx CHECK (format IN ('csv', 'xlsx')),
    encoding          text NOT NULL DEFAULT 'utf-8'
        CONSTRAINT export_encoding_is_utf8_gbk_or_gb18030 CHECK (encoding IN ('utf-8', 'gbk', 'gb18030')),
    delimiter         text NOT NULL DEFAULT ','
        CONSTRAINT export_delimiter_is_one_ascii_character
        CHECK (octet_length(delimiter) = 1 AND delimiter NOT IN ('"', E'\n', E'\r')),
    -- {"raw column": "header" or ["header", "other header", ...]}: the first
    -- of the listed headers whose cell is not empty gives the raw column.
    columns           jsonb NOT NULL
        CONSTRAINT export_columns_is_an_object CHECK (jsonb_typeof(columns) = 'object')
        CONSTRAINT export_columns_are_raw_orders_columns
        CHECK ((columns - '{order_id,shop,customer_name,order_status,order_type,amount,ordered_at}'::text[]) = '{}'::jsonb)
        CONSTRAINT export_columns_map_order_id_customer_amount_ordered_at
        CHECK (columns ?& '{order_id,customer_name,amount,ordered_at}'::text[])
        CONSTRAINT export_columns_are_header_names_or_lists_of_them
        CHECK (NOT jsonb_path_exists(columns, 'strict $.* ? (@.type() != "string" && @.type() != "array")')
               AND NOT jsonb_path_exists(columns, 'strict $.* ? (@.type() == "array" && @.size() == 0)')
               AND NOT jsonb_path_exists(columns, 'lax $.*[*] ? (@.type() != "string" || @ == "")')),
    -- The shop of every line, when the export has no shop column (a call's
    -- shop argument overrides both).
    fixed_shop        text,
    -- How the source writes a value the contract would reject; the loader
    -- writes the contract's form (a cell not in this form is kept as exported).
    ordered_at_format text NOT NULL DEFAULT 'as_exported'
        CONSTRAINT export_ordered_at_format_is_known
        CHECK (ordered_at_format IN ('as_exported', 'offset_without_colon', 'excel_serial')),
    amount_format     text NOT NULL DEFAULT 'as_exported'
        CONSTRAINT export_amount_format_is_known CHECK (amount_format IN ('as_exported', 'currency_code')),
    -- first_row: the rows of one order follow each other (a row per line
    -- item) and the first is the order's line.
    rows_per_order    text NOT NULL DEFAULT 'each_row_a_line'
        CONSTRAINT export_rows_per_order_is_known CHECK (rows_per_order IN ('each_row_a_line', 'first_row')),
    built_in          boolean NOT NULL DEFAULT false
);

-- The built-in profiles. generic: headers equal to the raw column names.
-- shopify: Shopify's order export (one row per line item, the order's
-- totals on its first row; no shop column: pass shop => ...).
INSERT INTO etl.export_profiles (profile_name, columns, built_in) VALUES
    ('generic', '{"order_id": "order_id", "shop": "shop", "customer_name": "customer_name",
                  "order_status": "order_status", "order_type": "order_type", "amount": "amount",
                  "ordered_at": "ordered_at"}', true);
INSERT INTO etl.export_profiles (profile_name, columns, ordered_at_format, amount_format, rows_per_order, built_in)
VALUES
    ('shopify', '{"order_id": "Name", "customer_name": ["Billing Name", "Email"],
                  "order_status": "Financial Status", "amount": "Total", "ordered_at": "Created at"}',
     'offset_without_colon', 'currency_code', 'first_row', true);

SELECT pg_catalog.pg_extension_config_dump('etl.export_profiles', 'WHERE NOT built_in');

CREATE FUNCTION pg_catalog.etl_import_export(
    content bytea, profile text, source text DEFAULT NULL, shop text DEFAULT NULL, reload boolean DEFAULT false
) RETURNS TABLE (import_id uuid, lines bigint, reused boolean)
VOLATILE PARALLEL UNSAFE
SET search_path TO pg_catalog, pg_temp
LANGUAGE c
AS 'MODULE_PATHNAME', 'etl_import_export_wrapper';

CREATE FUNCTION pg_catalog.etl_import_export_file(
    path text, profile text, source text DEFAULT NULL, shop text DEFAULT NULL, reload boolean DEFAULT false
) RETURNS TABLE (import_id uuid, lines bigint, reused boolean)
VOLATILE PARALLEL UNSAFE
SET search_path TO pg_catalog, pg_temp
LANGUAGE c
AS 'MODULE_PATHNAME', 'etl_import_export_file_wrapper';

REVOKE ALL ON FUNCTION pg_catalog.etl_import_export(bytea, text, text, text, boolean),
                       pg_catalog.etl_import_export_file(text, text, text, text, boolean) FROM PUBLIC;
REVOKE ALL ON etl.export_profiles FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pg_catalog.etl_import_export(bytea, text, text, text, boolean),
                          pg_catalog.etl_import_export_file(text, text, text, text, boolean)
   TO etl_loader;
GRANT SELECT ON etl.export_profiles TO etl_loader, etl_reader, etl_operator;
GRANT INSERT, UPDATE, DELETE ON etl.export_profiles TO etl_operator;

ALTER TABLE etl.export_profiles ENABLE ROW LEVEL SECURITY;
CREATE POLICY export_profiles_read ON etl.export_profiles FOR SELECT TO etl_loader, etl_reader
    USING (true);
CREATE POLICY export_profiles_added_by_operators ON etl.export_profiles FOR INSERT TO etl_operator
    WITH CHECK (NOT built_in);
CREATE POLICY export_profiles_changed_by_operators ON etl.export_profiles FOR UPDATE TO etl_operator
    USING (NOT built_in) WITH CHECK (NOT built_in);
CREATE POLICY export_profiles_deleted_by_operators ON etl.export_profiles FOR DELETE TO etl_operator
    USING (NOT built_in);
-- etl.progress: a loader also sees the export loads of its own sessions
-- (their import is not committed yet, so its etl.imports row is invisible).
CREATE OR REPLACE VIEW etl.progress WITH (security_barrier) AS
SELECT p.pid, p.import_id, p.stage, p.started_at, p.updated_at, p.batches_done, p.batches_total,
       p.lines_done, p.lines_total, p.lines_per_second, p.eta
  FROM etl.progress_rows() p
 WHERE pg_has_role(CURRENT_USER, 'etl_reader', 'USAGE')
    OR EXISTS (SELECT 1 FROM etl.imports i WHERE i.import_id = p.import_id AND i.owner_role = CURRENT_USER)
    OR (p.stage = 'export'
        AND EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.pid = p.pid AND a.usename = CURRENT_USER));
-- etl.progress_rows(), which loaders may call directly (not only through the
-- view), applies the view's rule itself: it now reads etl.imports, so its
-- search_path is pinned and it is no longer parallel safe.
ALTER FUNCTION etl.progress_rows() PARALLEL RESTRICTED SET search_path TO pg_catalog, pg_temp;
-- (end of issue 28, part 1)


-- ---------------------------------------------------------------------
-- Retention (issue 29): etl_purge and etl.purged_imports.
-- docs/upgrades.md "0.4.0 -> 0.5.0", docs/operations.md "Retention".
-- Adds a table and a function and replaces etl_explain; changes no row.
-- ---------------------------------------------------------------------

-- What a purged import had (as sql/schema.sql).
CREATE TABLE etl.purged_imports (
    import_id      uuid PRIMARY KEY REFERENCES etl.imports (import_id) ON DELETE CASCADE,
    raw_purged_at  timestamptz,
    raw_lines      bigint,
    rejected_lines bigint,
    jobs_purged_at timestamptz,
    jobs_outcome   text
        CONSTRAINT purged_jobs_outcome_is_known CHECK (jobs_outcome IN ('done', 'dead'))
);

SELECT pg_catalog.pg_extension_config_dump('etl.purged_imports', '');

-- etl_purge(older_than) (as the generated install script).
CREATE FUNCTION "etl_purge"(
	"older_than" interval /* Option < pgrx :: datum :: Interval > */
) RETURNS TABLE (
	"history" TEXT,  /* String */
	"removed" bigint,  /* i64 */
	"before" timestamp with time zone  /* Option < pgrx :: datum :: TimestampWithTimeZone > */
)
VOLATILE PARALLEL UNSAFE
SET search_path TO pg_catalog, pg_temp
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'etl_purge_wrapper';

-- etl_explain: lists the current row's line of a purged import (raw NULL,
-- when it was purged), and a done orders job (or its purged outcome) is
-- proof the orders stage ran once its runs are gone (as sql/finish.sql).
CREATE OR REPLACE FUNCTION pg_catalog.etl_explain(shop text, order_id text)
RETURNS TABLE (import_id uuid, import_source text, line_no integer, raw jsonb, fate text, detail text,
               current_run_id bigint, customer_key text, lead_no bigint, lead_stage text,
               counts_in_lead boolean, why_not_counted text)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
WITH wanted AS (
    SELECT nullif(btrim(shop, E' \t\r\n\u3000'), '') AS shop,
           nullif(btrim(order_id, E' \t\r\n\u3000'), '') AS order_id
), current_order AS (
    SELECT o.import_id, o.source_line_no, o.loaded_by_run, o.latest_status, o.lead_id,
           c.customer_key, l.lead_no, l.current_stage
      FROM wanted w
      JOIN etl.shops s ON s.shop_name = w.shop
      JOIN etl.orders o ON o.shop_id = s.shop_id AND o.order_id = w.order_id
      LEFT JOIN etl.customers c ON c.customer_global_id = o.customer_global_id
      LEFT JOIN etl.business_leads l ON l.lead_id = o.lead_id
), lines AS (
    SELECT r.import_id, r.line_no, r.order_id, r.shop, r.customer_name, r.order_status, r.order_type,
           r.amount, r.ordered_at, i.source,
           coalesce(i.completed_at, i.created_at) AS import_time,
           j.reason, j.detail AS reject_detail,
           -- An orders run the quality gate held (kept = false) loaded
           -- nothing, and its done job is no proof either (as
           -- sql/queries/orders_ran.sql).
           EXISTS (SELECT 1 FROM etl.runs u
                    WHERE u.import_id = r.import_id AND u.stage = 'orders'
                      AND u.status IN ('success', 'partial_success')
                      AND (u.details ->> 'kept') IS DISTINCT FROM 'false')
           OR EXISTS (SELECT 1 FROM etl.jobs q
                       WHERE q.import_id = r.import_id AND q.stage = 'orders' AND q.state = 'done'
                         AND NOT EXISTS (SELECT 1 FROM etl.import_holds g
                                          WHERE g.import_id = q.import_id AND g.run_id = q.last_run_id))
           OR EXISTS (SELECT 1 FROM etl.purged_imports p
                       WHERE p.import_id = r.import_id AND p.jobs_outcome = 'done'
                         AND NOT EXISTS (SELECT 1 FROM etl.import_holds g
                                          WHERE g.import_id = p.import_id AND g.released_at IS NULL)) AS ran,
           (SELECT g.reason FROM etl.import_holds g
             WHERE g.import_id = r.import_id AND g.released_at IS NULL) AS held_for,
           NULL::timestamptz AS purged_at
      FROM wanted w
      JOIN etl.raw_orders r
        ON nullif(btrim(r.order_id, E' \t\r\n\u3000'), '') = w.order_id
       AND nullif(btrim(r.shop, E' \t\r\n\u3000'), '') = w.shop
      JOIN etl.imports i ON i.import_id = r.import_id
      LEFT JOIN etl.rejects j ON j.import_id = r.import_id AND j.line_no = r.line_no
    UNION ALL
    -- The line that wrote the current row, when etl_purge removed its
    -- import's raw lines: known by the order's lineage, its text gone.
    SELECT c.import_id, c.source_line_no, NULL, NULL, NULL, NULL, NULL, NULL, NULL, i.source,
           coalesce(i.completed_at, i.created_at), NULL, NULL, true, NULL, p.raw_purged_at
      FROM current_order c
      JOIN etl.imports i ON i.import_id = c.import_id
      JOIN etl.purged_imports p ON p.import_id = c.import_id AND p.raw_purged_at IS NOT NULL
)
SELECT l.import_id, l.source, l.line_no,
       CASE WHEN l.purged_at IS NULL THEN
       jsonb_build_object('order_id', l.order_id, 'shop', l.shop, 'customer_name', l.customer_name,
                          'order_status', l.order_status, 'order_type', l.order_type,
                          'amount', l.amount, 'ordered_at', l.ordered_at) END,
       CASE WHEN l.reason = 'load_error' THEN 'failed'
            WHEN l.reason IS NOT NULL THEN 'rejected'
            WHEN NOT l.ran THEN 'not yet run'
            WHEN c.import_id = l.import_id AND c.source_line_no = l.line_no THEN 'loaded'
            ELSE 'superseded' END,
       CASE WHEN l.reason IS NOT NULL THEN l.reason || ': ' || coalesce(l.reject_detail, '')
            WHEN NOT l.ran AND l.held_for IS NOT NULL
                 THEN 'the quality gate holds this import (' || l.held_for
                      || '): nothing of it was loaded; etl_release(import_id) runs its orders stage again'
            WHEN NOT l.ran THEN 'the orders stage of this import has not run successfully'
            WHEN c.import_id = l.import_id AND c.source_line_no = l.line_no
                 THEN 'wrote the current row (run ' || c.loaded_by_run || ')'
                      || CASE WHEN l.purged_at IS NOT NULL
                              THEN '; its raw line was purged at ' || l.purged_at END
            WHEN later.line_no IS NOT NULL
                 THEN 'by line ' || later.line_no || ' of the same import (its latest valid line of the order wins)'
            WHEN c.import_id IS NOT NULL
                 THEN 'by import ' || c.import_id || ', line ' || c.source_line_no || ' (a later import wins)'
            ELSE 'its import''s winning line of the order failed to load' END,
       c.loaded_by_run, c.customer_key, c.lead_no, c.current_stage,
       coalesce(c.lead_id IS NOT NULL AND c.latest_status NOT IN ('CANCELLED', 'REFUNDED'), false),
       CASE WHEN c.import_id IS NULL THEN 'no such order'
            WHEN c.lead_id IS NULL THEN 'no lead yet (the customers and leads stages have not run for it)'
            WHEN c.latest_status = 'CANCELLED' THEN 'cancelled'
            WHEN c.latest_status = 'REFUNDED' THEN 'refunded' END
  FROM lines l
  LEFT JOIN current_order c ON true
  LEFT JOIN LATERAL (
        SELECT max(l2.line_no) AS line_no FROM lines l2
         WHERE l2.import_id = l.import_id AND l2.line_no > l.line_no
           AND (l2.reason IS NULL OR l2.reason = 'load_error')) later ON later.line_no IS NOT NULL
 ORDER BY l.import_time, l.import_id, l.line_no
$fn$;

-- Privileges (as sql/finish.sql).
REVOKE ALL ON TABLE etl.purged_imports FROM PUBLIC;
REVOKE ALL ON FUNCTION pg_catalog.etl_purge(interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pg_catalog.etl_purge(interval) TO etl_operator;
GRANT SELECT ON etl.purged_imports TO etl_reader, etl_operator;
GRANT DELETE ON etl.raw_orders TO etl_runner;
GRANT UPDATE (import_id) ON etl.imports TO etl_runner;
GRANT SELECT, INSERT, UPDATE ON etl.purged_imports TO etl_runner;
-- ---------------------------------------------------------------------
-- End of retention (issue 29).
-- ---------------------------------------------------------------------

-- ---------------------------------------------------------------------
-- Lines are added to pending imports only, and completion waits for the
-- transactions adding them (sql/finish.sql, the policies of etl.raw_orders):
-- 0.4.0 let an operator add lines to a completed import, and a loader's
-- insert still running when its import was completed commit lines that were
-- never loaded.
-- ---------------------------------------------------------------------
DROP POLICY raw_orders_of_every_import ON etl.raw_orders;
DROP POLICY raw_orders_added_by_owner ON etl.raw_orders;
CREATE POLICY raw_orders_of_every_import ON etl.raw_orders FOR SELECT TO etl_operator, etl_runner
    USING (true);
CREATE POLICY raw_orders_purged_by_runner ON etl.raw_orders FOR DELETE TO etl_runner
    USING (true);
CREATE POLICY raw_orders_added_by_owner ON etl.raw_orders FOR INSERT TO etl_loader
    WITH CHECK (EXISTS (SELECT 1 FROM etl.imports i
                         WHERE i.import_id = raw_orders.import_id AND i.owner_role = CURRENT_USER
                           AND i.status = 'pending'
                           FOR SHARE));
CREATE POLICY raw_orders_added_by_operators ON etl.raw_orders FOR INSERT TO etl_operator
    WITH CHECK (EXISTS (SELECT 1 FROM etl.imports i
                         WHERE i.import_id = raw_orders.import_id AND i.status = 'pending'
                           FOR SHARE));

-- ---------------------------------------------------------------------
-- Issue 29, cheap at size: etl.raw_orders in 32 partitions by the day of
-- its imports' ids, so that etl_purge empties a day of raw lines as a
-- whole (TRUNCATE) rather than row by row (sql/schema.sql;
-- services/raw_partitions.rs; docs/upgrades.md, "0.4.0 -> 0.5.0").
-- PostgreSQL cannot turn a table into a partitioned one in place: the
-- lines are copied into the new table (each to the partition of its
-- import), the old table dropped, and the new one given what the old had:
-- its name, key and foreign key, registration for pg_dump, row-level
-- security, policies and privileges, as a fresh install makes them
-- (schema.sql, backup.sql, finish.sql). The copy takes about as long as
-- loading the lines did: plan the update's window by the table's size.
-- ---------------------------------------------------------------------
CREATE FUNCTION pg_catalog.etl_raw_orders_day_hash(uuid, bigint) RETURNS bigint
LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'etl_raw_orders_day_hash';
CREATE FUNCTION pg_catalog.etl_raw_orders_day_hash32(uuid) RETURNS integer
LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'etl_raw_orders_day_hash32';
CREATE OPERATOR CLASS etl.raw_orders_day_ops FOR TYPE uuid USING hash AS
    OPERATOR 1 pg_catalog.= (uuid, uuid),
    FUNCTION 1 pg_catalog.etl_raw_orders_day_hash32(uuid),
    FUNCTION 2 pg_catalog.etl_raw_orders_day_hash(uuid, bigint);
-- The routing of etl.raw_orders calls them without a privilege check.
REVOKE ALL ON FUNCTION pg_catalog.etl_raw_orders_day_hash(uuid, bigint), pg_catalog.etl_raw_orders_day_hash32(uuid)
    FROM PUBLIC;

-- Nobody adds or reads lines while it is copied.
LOCK TABLE etl.imports, etl.raw_orders IN EXCLUSIVE MODE;
ALTER TABLE etl.raw_orders RENAME TO raw_orders_before_0_5_0;
ALTER INDEX etl.raw_orders_pkey RENAME TO raw_orders_before_0_5_0_pkey;
ALTER TABLE etl.raw_orders_before_0_5_0
    RENAME CONSTRAINT raw_orders_import_id_fkey TO raw_orders_before_0_5_0_import_id_fkey;

CREATE TABLE etl.raw_orders (
    import_id     uuid NOT NULL REFERENCES etl.imports (import_id) ON DELETE CASCADE,
    line_no       integer NOT NULL,
    order_id      text,
    shop          text,
    customer_name text,
    order_status  text,
    order_type    text,
    amount        text,
    ordered_at    text,
    PRIMARY KEY (import_id, line_no)
) PARTITION BY HASH (import_id etl.raw_orders_day_ops);
DO $$
BEGIN
    FOR n IN 0..31 LOOP
        EXECUTE pg_catalog.format(
            'CREATE TABLE etl.%I PARTITION OF etl.raw_orders FOR VALUES WITH (MODULUS 32, REMAINDER %s)',
            'raw_orders_' || pg_catalog.lpad(n::text, 2, '0'), n);
    END LOOP;
END
$$;

INSERT INTO etl.raw_orders (import_id, line_no, order_id, shop, customer_name, order_status, order_type, amount,
                            ordered_at)
SELECT import_id, line_no, order_id, shop, customer_name, order_status, order_type, amount, ordered_at
  FROM etl.raw_orders_before_0_5_0;
-- Out of the extension first: that also takes it out of what pg_dump dumps
-- the rows of (a dropped member would leave its number there).
ALTER EXTENSION etl_ext DROP TABLE etl.raw_orders_before_0_5_0;
DROP TABLE etl.raw_orders_before_0_5_0;
ANALYZE etl.raw_orders;

-- Registered for pg_dump (as sql/backup.sql).
SELECT pg_catalog.pg_extension_config_dump('etl.raw_orders', '');
DO $$
BEGIN
    FOR n IN 0..31 LOOP
        PERFORM pg_catalog.pg_extension_config_dump(
            pg_catalog.format('etl.raw_orders_%s', pg_catalog.lpad(n::text, 2, '0'))::pg_catalog.regclass, '');
    END LOOP;
END
$$;

-- Privileges, row-level security and policies (as sql/finish.sql).
REVOKE ALL ON TABLE etl.raw_orders FROM PUBLIC;
GRANT SELECT, INSERT ON etl.raw_orders TO etl_loader;
GRANT SELECT ON etl.raw_orders TO etl_operator, etl_runner;
GRANT DELETE ON etl.raw_orders TO etl_runner;
DO $$
BEGIN
    FOR n IN 0..31 LOOP
        EXECUTE pg_catalog.format('REVOKE ALL ON TABLE etl.%I FROM PUBLIC',
                                  'raw_orders_' || pg_catalog.lpad(n::text, 2, '0'));
        EXECUTE pg_catalog.format('GRANT SELECT ON etl.%I TO etl_operator',
                                  'raw_orders_' || pg_catalog.lpad(n::text, 2, '0'));
        EXECUTE pg_catalog.format('GRANT SELECT, TRUNCATE ON etl.%I TO etl_runner',
                                  'raw_orders_' || pg_catalog.lpad(n::text, 2, '0'));
    END LOOP;
END
$$;
ALTER TABLE etl.raw_orders ENABLE ROW LEVEL SECURITY;
CREATE POLICY raw_orders_of_every_import ON etl.raw_orders FOR SELECT TO etl_operator, etl_runner
    USING (true);
CREATE POLICY raw_orders_purged_by_runner ON etl.raw_orders FOR DELETE TO etl_runner
    USING (true);
CREATE POLICY raw_orders_read_by_owner ON etl.raw_orders FOR SELECT TO etl_loader
    USING (EXISTS (SELECT 1 FROM etl.imports i
                    WHERE i.import_id = raw_orders.import_id AND i.owner_role = CURRENT_USER));
CREATE POLICY raw_orders_added_by_owner ON etl.raw_orders FOR INSERT TO etl_loader
    WITH CHECK (EXISTS (SELECT 1 FROM etl.imports i
                         WHERE i.import_id = raw_orders.import_id AND i.owner_role = CURRENT_USER
                           AND i.status = 'pending'
                           FOR SHARE));
CREATE POLICY raw_orders_added_by_operators ON etl.raw_orders FOR INSERT TO etl_operator
    WITH CHECK (EXISTS (SELECT 1 FROM etl.imports i
                         WHERE i.import_id = raw_orders.import_id AND i.status = 'pending'
                           FOR SHARE));
-- ---------------------------------------------------------------------
-- End of raw lines by day (issue 29).
-- ---------------------------------------------------------------------
