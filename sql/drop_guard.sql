-- The guard against an accidental DROP EXTENSION etl_ext (src/drop_guard.rs;
-- also DROP EXTENSION plpgsql CASCADE and DROP OWNED BY its owner, which drop it too):
-- dropping the extension drops every table of schema etl and its rows, so
-- while etl.orders holds a row the statement is refused (SQLSTATE 55000)
-- unless etl.allow_drop_with_data is on in the session. Other extensions'
-- DROP EXTENSION is not affected.
--
-- The function is C (it reads the statement's parse tree to know which
-- extensions it drops), owned by the installing superuser, with search_path
-- pinned; PUBLIC may not call it (an event trigger calls it whoever runs the
-- statement). Event triggers need a superuser to create, as this extension
-- does.

CREATE FUNCTION etl.drop_guard() RETURNS event_trigger
LANGUAGE c
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'etl_drop_guard';
COMMENT ON FUNCTION etl.drop_guard() IS
    'Refuses DROP EXTENSION etl_ext while etl.orders holds rows, unless etl.allow_drop_with_data is on.';
REVOKE ALL ON FUNCTION etl.drop_guard() FROM PUBLIC;

CREATE EVENT TRIGGER etl_ext_drop_guard ON ddl_command_start
    WHEN TAG IN ('DROP EXTENSION', 'DROP OWNED')
    EXECUTE FUNCTION etl.drop_guard();
COMMENT ON EVENT TRIGGER etl_ext_drop_guard IS
    'etl_ext: refuses DROP EXTENSION etl_ext while etl.orders holds rows (SET etl.allow_drop_with_data = on to drop anyway).';
