-- Logical backups carry the extension's data (docs/operations.md).
--
-- Every table of schema etl is a member of the extension, and pg_dump dumps
-- a member's rows only when the extension registers the table with
-- pg_extension_config_dump (otherwise a dump restores the schema and no
-- row: 0 orders, 0 customers, 0 shops). So every table that holds what a
-- user or the pipeline wrote is registered, and so is every sequence
-- behind an identity column, so that a restored database numbers its next
-- shop, lead, run, event and job exactly as the source would have.
--
-- The install seeds no row of any table but the built-in export profiles
-- (filtered out below), so no other filter: every row is the users' or the
-- pipeline's. pg_dump orders the registered tables' data by
-- their foreign keys (raw_orders and jobs after imports).
--
-- tests/integration/backup_restore.sh checks that every table and every
-- identity sequence of schema etl is registered: a new table must be added
-- here (and to the update script of its release) too.

SELECT pg_catalog.pg_extension_config_dump('etl.shops', '');
SELECT pg_catalog.pg_extension_config_dump('etl.order_type_mappings', '');
SELECT pg_catalog.pg_extension_config_dump('etl.imports', '');
SELECT pg_catalog.pg_extension_config_dump('etl.raw_orders', '');
-- The raw lines are in the partitions of etl.raw_orders (schema.sql): each
-- is a table of its own to pg_dump, dumped with its rows if registered.
DO $$
BEGIN
    FOR n IN 0..31 LOOP
        PERFORM pg_catalog.pg_extension_config_dump(
            pg_catalog.format('etl.raw_orders_%s', pg_catalog.lpad(n::text, 2, '0'))::pg_catalog.regclass, '');
    END LOOP;
END
$$;
SELECT pg_catalog.pg_extension_config_dump('etl.orders', '');
SELECT pg_catalog.pg_extension_config_dump('etl.customers', '');
SELECT pg_catalog.pg_extension_config_dump('etl.business_leads', '');
SELECT pg_catalog.pg_extension_config_dump('etl.rejects', '');
SELECT pg_catalog.pg_extension_config_dump('etl.runs', '');
SELECT pg_catalog.pg_extension_config_dump('etl.events', '');
SELECT pg_catalog.pg_extension_config_dump('etl.jobs', '');
SELECT pg_catalog.pg_extension_config_dump('etl.pending_customer_refresh', '');
SELECT pg_catalog.pg_extension_config_dump('etl.pending_lead_refresh', '');
SELECT pg_catalog.pg_extension_config_dump('etl.redrive_scope', '');
SELECT pg_catalog.pg_extension_config_dump('etl.import_holds', '');
-- The install writes the built-in export profiles: only the operators' own
-- are the users' (a restore's CREATE EXTENSION makes the built-in ones).
SELECT pg_catalog.pg_extension_config_dump('etl.export_profiles', 'WHERE NOT built_in');
SELECT pg_catalog.pg_extension_config_dump('etl.purged_imports', '');

-- The identity sequences (shops.shop_id, business_leads.lead_no,
-- runs.run_id, events.event_id, jobs.job_id; the names
-- pg_get_serial_sequence gives): pg_dump then restores each one's position
-- with setval. One statement each: pg_extension_config_dump updates the
-- extension's catalog row, which a single statement may update only once.
SELECT pg_catalog.pg_extension_config_dump('etl.shops_shop_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('etl.business_leads_lead_no_seq', '');
SELECT pg_catalog.pg_extension_config_dump('etl.runs_run_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('etl.events_event_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('etl.jobs_job_id_seq', '');
