-- etl_ext 0.4.0 -> 0.5.0 (ALTER EXTENSION etl_ext UPDATE TO '0.5.0').
--
-- CREATE EXTENSION and ALTER EXTENSION UPDATE run this with search_path =
-- pg_catalog, pg_temp (etl_ext.control's schema): every name is qualified or
-- resolves in pg_catalog. Data is kept: no row of any table changes meaning.
--
-- What changes, and why (docs/upgrades.md, "0.4.0 -> 0.5.0"):

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
-- etl.progress_rows(), which loaders may call directly (not only through the
-- view), applies the view's rule itself: it now reads etl.imports, so its
-- search_path is pinned and it is no longer parallel safe.
ALTER FUNCTION etl.progress_rows() PARALLEL RESTRICTED SET search_path TO pg_catalog, pg_temp;
-- (end of issue 28, part 1)
