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
