-- The catalog guard on a fresh install (contract section 8): nothing of
-- etl_ext is in public or in a schema another role owns, and no view,
-- default, policy, trigger, procedure or function of it binds to anything
-- outside pg_catalog and the extension (tests/catalog_guard.sql lists what
-- it checks). The install runs after objects that would win an unqualified
-- lookup were planted in public, the schema CREATE EXTENSION used to put the
-- extension in, so a binding to them would show here.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
SELECT plan(9);

-- Planted before the install: an exact-type array_position (which beat
-- pg_catalog's polymorphic one in 0.3.0's etl.pipeline_status), an
-- operator >= on integers, and an etl_uuid_v7.
CREATE FUNCTION public.array_position(text[], text) RETURNS integer LANGUAGE sql AS 'SELECT 1';
CREATE FUNCTION public.planted_ge(integer, integer) RETURNS boolean LANGUAGE sql AS 'SELECT true';
CREATE OPERATOR public.>= (LEFTARG = integer, RIGHTARG = integer, FUNCTION = public.planted_ge);
CREATE FUNCTION public.etl_uuid_v7() RETURNS uuid LANGUAGE sql AS 'SELECT NULL::uuid';
SET LOCAL search_path = public, pg_catalog;

CREATE EXTENSION etl_ext;
\ir ../catalog_guard.sql

SELECT is_empty('SELECT problem FROM etl_outside_dependencies',
                'no object of etl_ext depends on anything outside pg_catalog and the extension');
SELECT is((SELECT n.nspname::text FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
            WHERE e.extname = 'etl_ext'), 'pg_catalog', 'the extension''s schema is pg_catalog');
SELECT is((SELECT count(*)::int FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid
             JOIN pg_proc p ON d.classid = 'pg_proc'::regclass AND p.oid = d.objid
            WHERE e.extname = 'etl_ext' AND d.deptype = 'e' AND p.pronamespace = 'public'::regnamespace),
          0, 'no function of etl_ext is in public');
SELECT ok((SELECT r.rolsuper FROM pg_namespace n JOIN pg_roles r ON r.oid = n.nspowner WHERE n.nspname = 'etl'),
          'schema etl belongs to a superuser');
SELECT ok(to_regprocedure('public.array_position(text[], text)') IS NOT NULL
          AND to_regprocedure('public.etl_uuid_v7()') IS NOT NULL,
          'the planted functions were there during the install (the attack happened)');
SELECT isnt((SELECT pg_catalog.etl_uuid_v7()), NULL, 'a qualified call reaches the extension''s function under any search_path');
SET LOCAL search_path = DEFAULT;
SELECT isnt((SELECT etl_uuid_v7()), NULL, 'with the default search_path an unqualified call reaches the extension''s function, not public''s');
SELECT is((SELECT count(*)::int FROM etl.pipeline_status), 0, 'etl.pipeline_status reads (no planted function runs)');

-- A schema etl made before the install by someone else is refused.
DROP EXTENSION etl_ext;
CREATE SCHEMA etl;
SELECT throws_ok('CREATE EXTENSION etl_ext', '42P06', NULL, 'CREATE EXTENSION refuses a schema etl that already exists');

SELECT * FROM finish();
ROLLBACK;
