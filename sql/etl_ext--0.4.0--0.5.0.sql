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
 WHERE i.owner_role = CURRENT_USER OR pg_has_role(CURRENT_USER, 'etl_reader', 'MEMBER')
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
 WHERE pg_has_role(CURRENT_USER, 'etl_reader', 'MEMBER')
    OR EXISTS (SELECT 1 FROM etl.imports i WHERE i.import_id = p.import_id AND i.owner_role = CURRENT_USER)
    OR (p.stage = 'export'
        AND EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.pid = p.pid AND a.usename = CURRENT_USER));
-- (end of issue 28, part 1)
