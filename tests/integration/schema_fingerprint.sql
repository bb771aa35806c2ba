-- Everything CREATE EXTENSION etl_ext made, one line per object, in a form
-- that does not depend on OIDs or creation order: to check that an upgraded
-- database has exactly the schema of a fresh install (pg_dump cannot: it
-- dumps an extension's members as one CREATE EXTENSION line).
WITH members AS (
    SELECT d.classid, d.objid
      FROM pg_catalog.pg_depend d
      JOIN pg_catalog.pg_extension e ON e.oid = d.refobjid AND e.extname = 'etl_ext'
     WHERE d.refclassid = 'pg_catalog.pg_extension'::regclass AND d.deptype = 'e'
), sorted_acl(obj, acl) AS (
    SELECT c.oid::regclass::text,
           (SELECT string_agg(a::text, ',' ORDER BY a::text) FROM unnest(c.relacl) a)
      FROM pg_catalog.pg_class c JOIN members m ON m.classid = 'pg_catalog.pg_class'::regclass AND m.objid = c.oid
)
SELECT line FROM (
    -- Every member, by its identity.
    SELECT 'member ' || (pg_catalog.pg_identify_object(m.classid, m.objid, 0)).type || ' '
           || (pg_catalog.pg_identify_object(m.classid, m.objid, 0)).identity AS line
      FROM members m
    UNION ALL
    -- Columns: type with modifier, NOT NULL, default, identity.
    SELECT format('column %s.%s %s%s%s%s', c.oid::regclass, a.attname,
                  pg_catalog.format_type(a.atttypid, a.atttypmod),
                  CASE WHEN a.attnotnull THEN ' not null' ELSE '' END,
                  ' default ' || pg_catalog.pg_get_expr(ad.adbin, ad.adrelid),
                  CASE WHEN a.attidentity <> '' THEN ' identity ' || a.attidentity::text ELSE '' END)
      FROM pg_catalog.pg_class c
      JOIN members m ON m.classid = 'pg_catalog.pg_class'::regclass AND m.objid = c.oid
      JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
      LEFT JOIN pg_catalog.pg_attrdef ad ON ad.adrelid = c.oid AND ad.adnum = a.attnum
    UNION ALL
    -- Constraints, indexes, triggers, views, comments and privileges of relations.
    SELECT format('constraint %s %s %s', co.conrelid::regclass, co.conname, pg_catalog.pg_get_constraintdef(co.oid))
      FROM pg_catalog.pg_constraint co JOIN members m ON m.classid = 'pg_catalog.pg_class'::regclass AND m.objid = co.conrelid
    UNION ALL
    -- Storage parameters (fillfactor): an update must set them as a fresh install does.
    SELECT format('reloptions %s %s', c.oid::regclass, c.reloptions::text)
      FROM pg_catalog.pg_class c JOIN members m ON m.classid = 'pg_catalog.pg_class'::regclass AND m.objid = c.oid
     WHERE c.reloptions IS NOT NULL
    UNION ALL
    SELECT 'index ' || pg_catalog.pg_get_indexdef(i.indexrelid)
      FROM pg_catalog.pg_index i JOIN members m ON m.classid = 'pg_catalog.pg_class'::regclass AND m.objid = i.indrelid
    UNION ALL
    SELECT 'trigger ' || pg_catalog.pg_get_triggerdef(t.oid)
      FROM pg_catalog.pg_trigger t JOIN members m ON m.classid = 'pg_catalog.pg_class'::regclass AND m.objid = t.tgrelid
     WHERE NOT t.tgisinternal
    UNION ALL
    SELECT format('view %s %s', c.oid::regclass, pg_catalog.pg_get_viewdef(c.oid))
      FROM pg_catalog.pg_class c JOIN members m ON m.classid = 'pg_catalog.pg_class'::regclass AND m.objid = c.oid
     WHERE c.relkind = 'v'
    UNION ALL
    SELECT format('acl %s %s', obj, coalesce(acl, 'default')) FROM sorted_acl
    UNION ALL
    SELECT format('comment %s %s', (pg_catalog.pg_identify_object(m.classid, m.objid, 0)).identity, ds.description)
      FROM members m JOIN pg_catalog.pg_description ds ON ds.classoid = m.classid AND ds.objoid = m.objid AND ds.objsubid = 0
    UNION ALL
    -- Functions and procedures: their whole definition and who may run them.
    SELECT format('function %s %s acl %s', p.oid::regprocedure, pg_catalog.pg_get_functiondef(p.oid),
                  coalesce((SELECT string_agg(a::text, ',' ORDER BY a::text) FROM unnest(p.proacl) a), 'default'))
      FROM pg_catalog.pg_proc p JOIN members m ON m.classid = 'pg_catalog.pg_proc'::regclass AND m.objid = p.oid
    UNION ALL
    -- What pg_dump carries the rows of (pg_extension_config_dump: tables and
    -- identity sequences, with their filters), and the event triggers.
    SELECT format('dumped with its rows %s where [%s]', x.rel::regclass, x.cond)
      FROM pg_catalog.pg_extension e, unnest(e.extconfig, e.extcondition) AS x(rel, cond)
     WHERE e.extname = 'etl_ext'
    UNION ALL
    SELECT format('event trigger %s on %s tags %s enabled %s runs %s', t.evtname, t.evtevent, t.evttags::text,
                  t.evtenabled, t.evtfoid::regprocedure)
      FROM pg_catalog.pg_event_trigger t
      JOIN members m ON m.classid = 'pg_catalog.pg_event_trigger'::regclass AND m.objid = t.oid
    UNION ALL
    -- The schema's privileges and the roles it grants (cluster-wide, but created by the extension).
    SELECT format('schema etl acl %s', (SELECT string_agg(a::text, ',' ORDER BY a::text)
                                          FROM pg_catalog.pg_namespace n, unnest(n.nspacl) a WHERE n.nspname = 'etl'))
    UNION ALL
    SELECT format('role %s login=%s super=%s member of %s', r.rolname, r.rolcanlogin, r.rolsuper,
                  coalesce((SELECT string_agg(g.rolname, ',' ORDER BY g.rolname)
                              FROM pg_catalog.pg_auth_members am JOIN pg_catalog.pg_roles g ON g.oid = am.roleid
                             WHERE am.member = r.oid), '-'))
      FROM pg_catalog.pg_roles r WHERE r.rolname LIKE 'etl\_%'
) lines
ORDER BY line;
