-- Removes the raw lines and rejects of the finished imports completed
-- before $1 among the imports $2 (an array, locked by this transaction with
-- sql/queries/purge_raw_candidates.sql), and records what they had in
-- etl.purged_imports (pipeline/retention.rs, purge). Returns one row per
-- import purged (raw lines removed, rejects removed).
--
-- Rules it enforces (docs/semantics.md 13.1, 13.2):
-- * Only a finished import loses its raw lines: completed, and its pipeline
--   done: it has jobs and every one is done (each stage's success queues the
--   next unless the same call ran it, so no stage is left to run), or its
--   jobs were purged when all were done. An import pending, failed, held
--   by the quality gate (an unreleased row of etl.import_holds: its jobs
--   may all be done, and an operator may want to fix a mapping and run its
--   orders again rather than release it), or with a stage queued, running,
--   failed or dead keeps them.
-- * Decided after the lock: this statement's snapshot is taken once the
--   imports are locked, so a run that held one and committed a hold or a
--   queued job before the lock was granted is seen, and its import kept.
--   (Deciding in the statement that locks read the jobs and holds from
--   before the lock.)
-- * The import's row stays (its status, completed_at and owner: "a later
--   import wins" compares completed_at), with what it had: the raw lines
--   and rejects this statement deleted, counted from what each DELETE
--   returns. (Not a count of the lines in the statement's snapshot: a
--   session that deletes or moves some of them meanwhile, a superuser's,
--   commits before the DELETE reaches them, which then skips them; the
--   snapshot still counts them, and etl_purge would report and record
--   lines it never removed: tests/integration/purge_count.sh. Returning
--   each deleted row's import costs a tuplestore, about a third more than
--   the DELETE alone on a million lines: bench/purge.sh.)
WITH picked AS (
    SELECT i.import_id
      FROM etl.imports i
      LEFT JOIN etl.purged_imports p ON p.import_id = i.import_id
     WHERE i.import_id = ANY ($2::uuid[])
       AND i.status = 'completed'
       AND i.completed_at < $1
       AND p.raw_purged_at IS NULL
       AND NOT EXISTS (SELECT 1 FROM etl.jobs j
                        WHERE j.import_id = i.import_id AND j.state <> 'done')
       AND (EXISTS (SELECT 1 FROM etl.jobs j
                     WHERE j.import_id = i.import_id AND j.state = 'done')
            OR p.jobs_outcome = 'done')
       AND NOT EXISTS (SELECT 1 FROM etl.import_holds g
                        WHERE g.import_id = i.import_id AND g.released_at IS NULL)
), lines AS (
    DELETE FROM etl.raw_orders r USING picked
     WHERE r.import_id = picked.import_id
    RETURNING r.import_id
), rejects AS (
    DELETE FROM etl.rejects j USING picked
     WHERE j.import_id = picked.import_id
    RETURNING j.import_id
), line_counts AS (
    SELECT import_id, count(*) AS n FROM lines GROUP BY import_id
), reject_counts AS (
    SELECT import_id, count(*) AS n FROM rejects GROUP BY import_id
), recorded AS (
    INSERT INTO etl.purged_imports AS p (import_id, raw_purged_at, raw_lines, rejected_lines)
    SELECT picked.import_id, pg_catalog.now(), coalesce(l.n, 0), coalesce(r.n, 0)
      FROM picked
      LEFT JOIN line_counts l ON l.import_id = picked.import_id
      LEFT JOIN reject_counts r ON r.import_id = picked.import_id
    ON CONFLICT (import_id) DO UPDATE
       SET raw_purged_at = excluded.raw_purged_at, raw_lines = excluded.raw_lines,
           rejected_lines = excluded.rejected_lines
    RETURNING p.raw_lines, p.rejected_lines
)
SELECT r.raw_lines, r.rejected_lines FROM recorded r
