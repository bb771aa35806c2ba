-- The catalog guard (contract section 8): creates the temporary view
-- etl_outside_dependencies, one row per way the installed etl_ext could bind
-- to, or be reached through, something outside pg_catalog and the extension
-- itself. It must be empty, on a fresh install and after an update, whatever
-- was planted before or after CREATE EXTENSION and whatever search_path is set:
--   * a recorded dependency (pg_depend) of any object of the extension (its
--     members and what they own: columns' defaults, constraints, triggers,
--     policies, indexes, views' rules, identity sequences) on an object that
--     is neither in pg_catalog nor of the extension;
--   * a SQL or PL/pgSQL function of the extension whose search_path is not
--     pinned to pg_catalog, pg_temp (its body is resolved at every call);
--   * a procedure that commits (it cannot pin its search_path) with an
--     operator not written OPERATOR(pg_catalog.x), or a call of a function
--     or procedure that is not schema-qualified;
--   * a member of the extension in a schema other than pg_catalog and etl,
--     or schema etl owned by a role that is not a superuser, or open to
--     CREATE by anyone else.
-- Used by tests/sql/050_catalog_guard.sql (pgTAP), tests/integration/upgrade.sh
-- and tests/integration/security.sh (after a hostile owner planted objects).
CREATE OR REPLACE TEMP VIEW etl_outside_dependencies AS
WITH RECURSIVE ext AS (
    SELECT e.oid FROM pg_catalog.pg_extension e WHERE e.extname OPERATOR(pg_catalog.=) 'etl_ext'
), owned (classid, objid) AS (
    SELECT d.classid, d.objid
      FROM pg_catalog.pg_depend d, ext
     WHERE d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_extension'::pg_catalog.regclass
       AND d.refobjid OPERATOR(pg_catalog.=) ext.oid
       AND d.deptype OPERATOR(pg_catalog.=) 'e'
    UNION
    -- What a member owns: auto and internal dependencies on it.
    SELECT d.classid, d.objid
      FROM pg_catalog.pg_depend d
      JOIN owned o ON d.refclassid OPERATOR(pg_catalog.=) o.classid AND d.refobjid OPERATOR(pg_catalog.=) o.objid
     WHERE d.deptype OPERATOR(pg_catalog.=) ANY (ARRAY['a', 'i']::pg_catalog."char"[])
), outside AS (
    SELECT pg_catalog.format('%s depends on %s %s (schema %s)',
               pg_catalog.pg_describe_object(d.classid, d.objid, d.objsubid),
               r.type, r.identity, coalesce(r.schema, '-')) AS problem
      FROM pg_catalog.pg_depend d
      JOIN owned o ON o.classid OPERATOR(pg_catalog.=) d.classid AND o.objid OPERATOR(pg_catalog.=) d.objid
      CROSS JOIN LATERAL pg_catalog.pg_identify_object(d.refclassid, d.refobjid, d.refobjsubid) r
     WHERE d.deptype OPERATOR(pg_catalog.<>) 'e'
       AND NOT EXISTS (SELECT 1 FROM owned o2
                        WHERE o2.classid OPERATOR(pg_catalog.=) d.refclassid
                          AND o2.objid OPERATOR(pg_catalog.=) d.refobjid)
       AND r.schema IS DISTINCT FROM 'pg_catalog'
       -- Languages have no schema; the members are in the languages
       -- PostgreSQL ships (c, sql, internal are pinned; plpgsql is not).
       AND NOT (d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_language'::pg_catalog.regclass
                AND r.identity OPERATOR(pg_catalog.=) 'plpgsql')
       -- An object in schema etl depends on that schema, a member.
       AND NOT (d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_namespace'::pg_catalog.regclass
                AND r.identity OPERATOR(pg_catalog.=) 'etl')
), unpinned AS (
    SELECT pg_catalog.format('%s does not pin search_path to pg_catalog, pg_temp',
                             p.oid::pg_catalog.regprocedure) AS problem
      FROM pg_catalog.pg_proc p
      JOIN owned o ON o.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_proc'::pg_catalog.regclass
                  AND o.objid OPERATOR(pg_catalog.=) p.oid
      JOIN pg_catalog.pg_language l ON l.oid OPERATOR(pg_catalog.=) p.prolang
     WHERE l.lanname OPERATOR(pg_catalog.=) ANY (ARRAY['sql', 'plpgsql']::pg_catalog.name[])
       AND p.prokind OPERATOR(pg_catalog.<>) 'p'
       AND NOT coalesce(p.proconfig, '{}') OPERATOR(pg_catalog.@>) ARRAY['search_path=pg_catalog, pg_temp']
), procedures AS (
    -- A procedure's body with its qualified operators, qualified calls,
    -- casts, assignments and comments taken out: no operator may be left.
    SELECT pg_catalog.format('procedure %s uses an operator or a call that the search_path resolves: %s',
                             p.oid::pg_catalog.regprocedure, pg_catalog.left(s.rest, 200)) AS problem
      FROM pg_catalog.pg_proc p
      JOIN owned o ON o.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_proc'::pg_catalog.regclass
                  AND o.objid OPERATOR(pg_catalog.=) p.oid
      CROSS JOIN LATERAL (
          SELECT pg_catalog.regexp_replace(pg_catalog.regexp_replace(pg_catalog.regexp_replace(
                 pg_catalog.regexp_replace(p.prosrc, '--[^\n]*', '', 'g'),
                 'OPERATOR\(pg_catalog\.[^)]+\)', ' ', 'g'),
                 '(:=|::[a-z ]+|\m(pg_catalog|etl)\.[a-z_]+\()', ' ', 'g'),
                 '\s+', ' ', 'g') AS rest) s
     WHERE p.prokind OPERATOR(pg_catalog.=) 'p'
       AND (s.rest OPERATOR(pg_catalog.~) '[-+*/<>=!~|&^#@%]'
            OR s.rest OPERATOR(pg_catalog.~*) '\m(CALL|PERFORM|SELECT)\s+(?!pg_catalog\.|etl\.)[a-z_]+\s*\(')
), placement AS (
    SELECT pg_catalog.format('%s is in schema %s', pg_catalog.pg_describe_object(o.classid, o.objid, 0),
                             r.schema) AS problem
      FROM owned o
      CROSS JOIN LATERAL pg_catalog.pg_identify_object(o.classid, o.objid, 0) r
     WHERE r.schema IS NOT NULL
       AND r.schema OPERATOR(pg_catalog.<>) ALL (ARRAY['pg_catalog', 'etl', 'pg_toast'])
    UNION ALL
    SELECT pg_catalog.format('schema etl belongs to %s, not a superuser', pg_catalog.pg_get_userbyid(n.nspowner))
      FROM pg_catalog.pg_namespace n
      JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) n.nspowner
     WHERE n.nspname OPERATOR(pg_catalog.=) 'etl' AND NOT r.rolsuper
    UNION ALL
    SELECT pg_catalog.format('schema etl lets %s create objects in it',
                             CASE WHEN a.grantee OPERATOR(pg_catalog.=) 0 THEN 'PUBLIC'
                                  ELSE pg_catalog.pg_get_userbyid(a.grantee)::text END)
      FROM pg_catalog.pg_namespace n
      CROSS JOIN LATERAL pg_catalog.aclexplode(n.nspacl) a
     WHERE n.nspname OPERATOR(pg_catalog.=) 'etl'
       AND a.privilege_type OPERATOR(pg_catalog.=) 'CREATE'
       AND a.grantee OPERATOR(pg_catalog.<>) n.nspowner
)
SELECT problem FROM outside
UNION ALL SELECT problem FROM unpinned
UNION ALL SELECT problem FROM procedures
UNION ALL SELECT problem FROM placement
UNION ALL
SELECT 'extension etl_ext is not installed' WHERE NOT EXISTS (SELECT 1 FROM ext);
