-- etl_ext 0.2.0 -> 0.3.0 (ALTER EXTENSION etl_ext UPDATE TO '0.3.0').
--
-- What changes, and why (docs/upgrades.md):
-- * Dry run: etl_orders, etl_customers, etl_leads and etl_run_all take
--   dry_run boolean DEFAULT false (calls with the import alone work as
--   before). A function's arguments cannot be altered in place: each is
--   dropped and created again, with the same privileges.
-- * Redrive: etl_redrive(uuid), and the table etl.redrive_scope it uses (the
--   orders a running redrive wrote; empty otherwise).
-- * etl.orders, etl.customers, etl.business_leads: fillfactor 50 (was 90,
--   80, 80), so that the stages' updates of a row written in the same run
--   fit on its own page (a HOT update, no index entry). Only pages written
--   from now on leave that room; nothing is rewritten.
-- Data is kept as it is: no row of any table changes.

\echo Use "ALTER EXTENSION etl_ext UPDATE TO '0.3.0'" to load this file. \quit

ALTER TABLE etl.orders SET (fillfactor = 50);
ALTER TABLE etl.customers SET (fillfactor = 50);
ALTER TABLE etl.business_leads SET (fillfactor = 50);

CREATE TABLE etl.redrive_scope (
    import_id uuid NOT NULL,
    shop_id   bigint NOT NULL,
    order_id  text NOT NULL,
    PRIMARY KEY (import_id, shop_id, order_id)
);

DROP FUNCTION @extschema@.etl_orders(uuid);
DROP FUNCTION @extschema@.etl_customers(uuid);
DROP FUNCTION @extschema@.etl_leads(uuid);
DROP FUNCTION @extschema@.etl_run_all(uuid);

CREATE FUNCTION @extschema@."etl_orders"(
	"import_id" uuid, /* Option < Uuid > */
	"dry_run" bool DEFAULT false /* Option < bool > */
) RETURNS TABLE (
	"stage" TEXT,  /* String */
	"status" TEXT,  /* String */
	"rows_in" bigint,  /* i64 */
	"rows_ok" bigint,  /* i64 */
	"rows_superseded" bigint,  /* i64 */
	"rows_rejected" bigint,  /* i64 */
	"rows_failed" bigint,  /* i64 */
	"duration_ms" double precision,  /* f64 */
	"details" jsonb  /* JsonB */
)
VOLATILE PARALLEL UNSAFE
SET search_path TO pg_catalog, pg_temp
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'run_orders_wrapper';

CREATE FUNCTION @extschema@."etl_customers"(
	"import_id" uuid, /* Option < Uuid > */
	"dry_run" bool DEFAULT false /* Option < bool > */
) RETURNS TABLE (
	"stage" TEXT,  /* String */
	"status" TEXT,  /* String */
	"rows_in" bigint,  /* i64 */
	"rows_ok" bigint,  /* i64 */
	"rows_superseded" bigint,  /* i64 */
	"rows_rejected" bigint,  /* i64 */
	"rows_failed" bigint,  /* i64 */
	"duration_ms" double precision,  /* f64 */
	"details" jsonb  /* JsonB */
)
VOLATILE PARALLEL UNSAFE
SET search_path TO pg_catalog, pg_temp
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'run_customers_wrapper';

CREATE FUNCTION @extschema@."etl_leads"(
	"import_id" uuid, /* Option < Uuid > */
	"dry_run" bool DEFAULT false /* Option < bool > */
) RETURNS TABLE (
	"stage" TEXT,  /* String */
	"status" TEXT,  /* String */
	"rows_in" bigint,  /* i64 */
	"rows_ok" bigint,  /* i64 */
	"rows_superseded" bigint,  /* i64 */
	"rows_rejected" bigint,  /* i64 */
	"rows_failed" bigint,  /* i64 */
	"duration_ms" double precision,  /* f64 */
	"details" jsonb  /* JsonB */
)
VOLATILE PARALLEL UNSAFE
SET search_path TO pg_catalog, pg_temp
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'run_leads_wrapper';

CREATE FUNCTION @extschema@."etl_run_all"(
	"import_id" uuid, /* Option < Uuid > */
	"dry_run" bool DEFAULT false /* Option < bool > */
) RETURNS TABLE (
	"stage" TEXT,  /* String */
	"status" TEXT,  /* String */
	"rows_in" bigint,  /* i64 */
	"rows_ok" bigint,  /* i64 */
	"rows_superseded" bigint,  /* i64 */
	"rows_rejected" bigint,  /* i64 */
	"rows_failed" bigint,  /* i64 */
	"duration_ms" double precision,  /* f64 */
	"details" jsonb  /* JsonB */
)
VOLATILE PARALLEL UNSAFE
SET search_path TO pg_catalog, pg_temp
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'run_all_wrapper';

CREATE FUNCTION @extschema@."etl_redrive"(
	"import_id" uuid /* Option < Uuid > */
) RETURNS TABLE (
	"former_reason" TEXT,  /* String */
	"retried" bigint,  /* i64 */
	"loaded" bigint,  /* i64 */
	"superseded" bigint,  /* i64 */
	"still_rejected" bigint,  /* i64 */
	"failed" bigint  /* i64 */
)
VOLATILE PARALLEL UNSAFE
SET search_path TO pg_catalog, pg_temp
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'etl_redrive_wrapper';

REVOKE ALL ON TABLE etl.redrive_scope FROM PUBLIC;
REVOKE ALL ON FUNCTION
    @extschema@.etl_orders(uuid, boolean), @extschema@.etl_customers(uuid, boolean),
    @extschema@.etl_leads(uuid, boolean), @extschema@.etl_run_all(uuid, boolean), @extschema@.etl_redrive(uuid)
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    @extschema@.etl_orders(uuid, boolean), @extschema@.etl_customers(uuid, boolean),
    @extschema@.etl_leads(uuid, boolean), @extschema@.etl_run_all(uuid, boolean), @extschema@.etl_redrive(uuid)
   TO etl_operator;
GRANT SELECT, INSERT, UPDATE, DELETE ON etl.redrive_scope TO etl_runner;
GRANT SELECT ON etl.redrive_scope TO etl_operator;
