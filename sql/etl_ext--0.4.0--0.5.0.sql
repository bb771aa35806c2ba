-- etl_ext 0.4.0 -> 0.5.0 (ALTER EXTENSION etl_ext UPDATE TO '0.5.0').
--
-- CREATE EXTENSION and ALTER EXTENSION UPDATE run this with search_path =
-- pg_catalog, pg_temp (etl_ext.control's schema): every name is qualified or
-- resolves in pg_catalog. Data is kept: no row of any table changes meaning.
--
-- What changes, and why (docs/upgrades.md, "0.4.0 -> 0.5.0"):

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
           EXISTS (SELECT 1 FROM etl.runs u
                    WHERE u.import_id = r.import_id AND u.stage = 'orders'
                      AND u.status IN ('success', 'partial_success'))
           OR EXISTS (SELECT 1 FROM etl.jobs q
                       WHERE q.import_id = r.import_id AND q.stage = 'orders' AND q.state = 'done')
           OR EXISTS (SELECT 1 FROM etl.purged_imports p
                       WHERE p.import_id = r.import_id AND p.jobs_outcome = 'done') AS ran,
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
           coalesce(i.completed_at, i.created_at), NULL, NULL, true, p.raw_purged_at
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
