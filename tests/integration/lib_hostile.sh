#!/usr/bin/env bash
# What a hostile database owner plants (sourced by security.sh and
# scale_out.sh): SQL that a test feeds to psql in the database it attacks.
# Every planted object calls public.pwn, which records who ran it in
# public.hits and, when it runs as a superuser, makes the role "owner" one;
# a test then checks that public.hits stayed empty.

# as_user USER DB psql-args...: a session of the test's server ($PORT) as
# USER, with the PGOPTIONS the test exports (tests pin their own sessions'
# search_path, so that only the extension and its worker meet what the owner
# plants); hostile USER DB psql-args...: the same with the database's and
# role's settings, the owner's.
as_user() {
    local user=$1 db=$2
    shift 2
    q "$PORT" -U "$user" -d "$db" "$@"
}
hostile() { PGOPTIONS= as_user "$@"; }

# base_sql: the table every planted function records into, and the function
# they all call: it records who it runs as and, as a superuser, makes the
# owner one.
base_sql() {
    cat <<'SQL'
CREATE TABLE public.hits (
    tag    text NOT NULL,
    who    name NOT NULL,
    su     boolean,
    detail text,
    at     timestamptz NOT NULL DEFAULT clock_timestamp()
);
GRANT INSERT ON public.hits TO PUBLIC;
CREATE FUNCTION public.pwn(tag text) RETURNS boolean
LANGUAGE plpgsql SECURITY INVOKER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    is_su boolean;
BEGIN
    SELECT r.rolsuper INTO is_su FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) current_user;
    INSERT INTO public.hits (tag, who, su) VALUES (tag, current_user, is_su);
    -- What a rolled-back transaction (a dry run) cannot take back: a message.
    IF current_setting('sec.loud', true) OPERATOR(pg_catalog.=) 'on' THEN
        RAISE WARNING 'planted % ran as %', tag, current_user;
    END IF;
    IF is_su THEN
        ALTER ROLE owner SUPERUSER;
        INSERT INTO public.hits (tag, who, su, detail) VALUES (tag, current_user, is_su, 'ALTER ROLE owner SUPERUSER done');
    END IF;
    RETURN true;
END
$$;
SQL
}

# plants_sql: operators, functions, aggregates, domains and casts in public
# for the types the extension's SQL uses. Each one calls public.pwn, then
# does what the pg_catalog original does.
plants_sql() {
    local n=0 op l r res name
    # Operators: the exact-type ones win over pg_catalog's (which need an
    # implicit cast) whatever the search_path; the ones pg_catalog has
    # exactly win when the database's search_path puts public first.
    while IFS=';' read -r op l r res; do
        [ -z "$op" ] && continue
        n=$((n + 1)); name="pw_op_$n"
        cat <<SQL
CREATE FUNCTION public.$name(a $l, b $r) RETURNS $res
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS \$\$
BEGIN PERFORM public.pwn('operator $op($l, $r)'); RETURN a OPERATOR(pg_catalog.$op) b; END \$\$;
CREATE OPERATOR public.$op (LEFTARG = $l, RIGHTARG = $r, FUNCTION = public.$name);
SQL
    done <<'OPS'
*;numeric;integer;numeric
*;integer;numeric;numeric
*;numeric;bigint;numeric
*;bigint;numeric;numeric
*;double precision;integer;double precision
*;double precision;bigint;double precision
*;integer;double precision;double precision
*;numeric;numeric;numeric
*;bigint;bigint;bigint
/;numeric;integer;numeric
/;double precision;integer;double precision
/;numeric;numeric;numeric
/;bigint;integer;bigint
+;numeric;integer;numeric
+;bigint;numeric;numeric
+;numeric;numeric;numeric
+;bigint;bigint;bigint
+;timestamp with time zone;interval;timestamp with time zone
-;numeric;integer;numeric
-;timestamp with time zone;timestamp with time zone;interval
-;timestamp with time zone;interval;timestamp with time zone
=;text;text;boolean
=;uuid;uuid;boolean
=;bigint;bigint;boolean
=;integer;integer;boolean
=;uuid;text;boolean
=;text;uuid;boolean
=;bigint;numeric;boolean
=;integer;numeric;boolean
=;text;character varying;boolean
=;character varying;text;boolean
=;name;text;boolean
<>;text;text;boolean
<;timestamp with time zone;timestamp with time zone;boolean
>;timestamp with time zone;timestamp with time zone;boolean
<=;timestamp with time zone;timestamp with time zone;boolean
>=;numeric;numeric;boolean
<;numeric;numeric;boolean
||;text;bigint;text
||;bigint;text;text
||;text;integer;text
||;integer;text;text
||;text;uuid;text
||;uuid;text;text
||;text;text;text
->;jsonb;text;jsonb
->>;jsonb;text;text
~;text;text;boolean
OPS
    # "unknown" cannot be a function argument; tried anyway (refused).
    cat <<'SQL'
CREATE FUNCTION public.pw_eq_unknown(a text, b unknown) RETURNS boolean LANGUAGE sql AS 'SELECT true';
SQL
    # Functions: name(args) | return type | the pg_catalog expression it returns.
    local fn args ret body
    while IFS='|' read -r fn args ret body; do
        [ -z "$fn" ] && continue
        local ret_stmt="RETURN $body;"
        [ "$ret" == "void" ] && ret_stmt="PERFORM $body;"
        cat <<SQL
CREATE FUNCTION public.$fn($args) RETURNS $ret
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS \$\$
BEGIN PERFORM public.pwn('function $fn($args)'); $ret_stmt END \$\$;
SQL
    done <<'FNS'
md5|a text|text|pg_catalog.md5(a)
md5|a character varying|text|pg_catalog.md5(a::pg_catalog.text)
now||timestamp with time zone|pg_catalog.now()
clock_timestamp||timestamp with time zone|pg_catalog.clock_timestamp()
statement_timestamp||timestamp with time zone|pg_catalog.statement_timestamp()
set_config|a text, b text, c boolean|text|pg_catalog.set_config(a, b, c)
current_setting|a text|text|pg_catalog.current_setting(a)
current_setting|a text, b boolean|text|pg_catalog.current_setting(a, b)
coalesce|a text, b text|text|COALESCE(a, b)
coalesce|a bigint, b bigint|bigint|COALESCE(a, b)
coalesce|a numeric, b numeric|numeric|COALESCE(a, b)
to_jsonb|a text|jsonb|pg_catalog.to_jsonb(a)
to_jsonb|a bigint|jsonb|pg_catalog.to_jsonb(a)
to_jsonb|a numeric|jsonb|pg_catalog.to_jsonb(a)
jsonb_build_object|a text, b text|jsonb|pg_catalog.jsonb_build_object(a, b)
array_position|a text[], b text|integer|pg_catalog.array_position(a, b)
array_length|a text[], b integer|integer|pg_catalog.array_length(a, b)
array_length|a uuid[], b integer|integer|pg_catalog.array_length(a, b)
array_length|a bigint[], b integer|integer|pg_catalog.array_length(a, b)
cardinality|a text[]|integer|pg_catalog.cardinality(a)
cardinality|a uuid[]|integer|pg_catalog.cardinality(a)
array_to_string|a text[], b text|text|pg_catalog.array_to_string(a, b)
string_to_array|a text, b text|text[]|pg_catalog.string_to_array(a, b)
round|a numeric, b integer|numeric|pg_catalog.round(a, b)
round|a double precision, b integer|numeric|pg_catalog.round(a::pg_catalog.numeric, b)
round|a double precision|double precision|pg_catalog.round(a)
trunc|a numeric, b integer|numeric|pg_catalog.trunc(a, b)
ceil|a numeric|numeric|pg_catalog.ceil(a)
ceil|a double precision|double precision|pg_catalog.ceil(a)
floor|a double precision|double precision|pg_catalog.floor(a)
abs|a numeric|numeric|pg_catalog.abs(a)
lower|a text|text|pg_catalog.lower(a)
upper|a text|text|pg_catalog.upper(a)
length|a text|integer|pg_catalog.length(a)
btrim|a text|text|pg_catalog.btrim(a)
btrim|a text, b text|text|pg_catalog.btrim(a, b)
replace|a text, b text, c text|text|pg_catalog.replace(a, b, c)
translate|a text, b text, c text|text|pg_catalog.translate(a, b, c)
regexp_replace|a text, b text, c text, d text|text|pg_catalog.regexp_replace(a, b, c, d)
format|a text, b text|text|pg_catalog.format(a, b)
format|a text, b text, c text|text|pg_catalog.format(a, b, c)
concat|a text, b text|text|pg_catalog.concat(a, b)
to_char|a timestamp with time zone, b text|text|pg_catalog.to_char(a, b)
date_trunc|a text, b timestamp with time zone|timestamp with time zone|pg_catalog.date_trunc(a, b)
hashtext|a text|integer|pg_catalog.hashtext(a)
gen_random_uuid||uuid|pg_catalog.gen_random_uuid()
pg_notify|a text, b text|void|pg_catalog.pg_notify(a, b)
pg_advisory_xact_lock|a bigint|void|pg_catalog.pg_advisory_xact_lock(a)
pg_advisory_xact_lock|a integer|void|pg_catalog.pg_advisory_xact_lock(a)
pg_try_advisory_xact_lock|a bigint|boolean|pg_catalog.pg_try_advisory_xact_lock(a)
pg_try_advisory_xact_lock|a integer|boolean|pg_catalog.pg_try_advisory_xact_lock(a)
pg_advisory_lock|a integer|void|pg_catalog.pg_advisory_lock(a)
pg_try_advisory_lock|a integer|boolean|pg_catalog.pg_try_advisory_lock(a)
to_regclass|a text|regclass|pg_catalog.to_regclass(a)
FNS
    # Set-returning functions: unnest of the array types the stages bind.
    local t
    for t in text uuid bigint integer numeric boolean "timestamp with time zone" "double precision"; do
        cat <<SQL
CREATE FUNCTION public.unnest(a $t[]) RETURNS SETOF $t
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS \$\$
BEGIN PERFORM public.pwn('function unnest($t[])'); RETURN QUERY SELECT pg_catalog.unnest(a); END \$\$;
SQL
    done
    cat <<'SQL'
CREATE FUNCTION public.unnest(a anyarray) RETURNS SETOF anyelement
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN PERFORM public.pwn('function unnest(anyarray)'); RETURN QUERY SELECT pg_catalog.unnest(a); END $$;
-- Aggregates: exact-type ones win over pg_catalog's polymorphic or "any" ones.
CREATE FUNCTION public.pw_agg_step(state text, v anyelement) RETURNS text
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN PERFORM public.pwn('aggregate ' || state); RETURN state; END $$;
CREATE FUNCTION public.pw_agg_step2(state text, v anyelement, d text) RETURNS text
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN PERFORM public.pwn('aggregate ' || state); RETURN state; END $$;
CREATE FUNCTION public.pw_agg_bigint(state text) RETURNS bigint LANGUAGE sql AS 'SELECT NULL::bigint';
CREATE FUNCTION public.pw_agg_numeric(state text) RETURNS numeric LANGUAGE sql AS 'SELECT NULL::numeric';
CREATE FUNCTION public.pw_agg_tstz(state text) RETURNS timestamptz LANGUAGE sql AS 'SELECT NULL::timestamptz';
CREATE FUNCTION public.pw_agg_text(state text) RETURNS text LANGUAGE sql AS 'SELECT NULL::text';
CREATE FUNCTION public.pw_agg_bool(state text) RETURNS boolean LANGUAGE sql AS 'SELECT NULL::boolean';
CREATE FUNCTION public.pw_agg_jsonb(state text) RETURNS jsonb LANGUAGE sql AS 'SELECT NULL::jsonb';
CREATE FUNCTION public.pw_agg_text_array(state text) RETURNS text[] LANGUAGE sql AS 'SELECT NULL::text[]';
CREATE FUNCTION public.pw_agg_uuid_array(state text) RETURNS uuid[] LANGUAGE sql AS 'SELECT NULL::uuid[]';
CREATE FUNCTION public.pw_agg_bigint_array(state text) RETURNS bigint[] LANGUAGE sql AS 'SELECT NULL::bigint[]';
CREATE AGGREGATE public.count(text) (sfunc = public.pw_agg_step, stype = text, initcond = 'count(text)', finalfunc = public.pw_agg_bigint);
CREATE AGGREGATE public.count(uuid) (sfunc = public.pw_agg_step, stype = text, initcond = 'count(uuid)', finalfunc = public.pw_agg_bigint);
CREATE AGGREGATE public.count(bigint) (sfunc = public.pw_agg_step, stype = text, initcond = 'count(bigint)', finalfunc = public.pw_agg_bigint);
CREATE AGGREGATE public.count(integer) (sfunc = public.pw_agg_step, stype = text, initcond = 'count(integer)', finalfunc = public.pw_agg_bigint);
CREATE AGGREGATE public.sum(numeric) (sfunc = public.pw_agg_step, stype = text, initcond = 'sum(numeric)', finalfunc = public.pw_agg_numeric);
CREATE AGGREGATE public.sum(bigint) (sfunc = public.pw_agg_step, stype = text, initcond = 'sum(bigint)', finalfunc = public.pw_agg_numeric);
CREATE AGGREGATE public.min(timestamptz) (sfunc = public.pw_agg_step, stype = text, initcond = 'min(timestamptz)', finalfunc = public.pw_agg_tstz);
CREATE AGGREGATE public.max(timestamptz) (sfunc = public.pw_agg_step, stype = text, initcond = 'max(timestamptz)', finalfunc = public.pw_agg_tstz);
CREATE AGGREGATE public.bool_and(boolean) (sfunc = public.pw_agg_step, stype = text, initcond = 'bool_and(boolean)', finalfunc = public.pw_agg_bool);
CREATE AGGREGATE public.jsonb_agg(text) (sfunc = public.pw_agg_step, stype = text, initcond = 'jsonb_agg(text)', finalfunc = public.pw_agg_jsonb);
CREATE AGGREGATE public.jsonb_agg(jsonb) (sfunc = public.pw_agg_step, stype = text, initcond = 'jsonb_agg(jsonb)', finalfunc = public.pw_agg_jsonb);
CREATE AGGREGATE public.array_agg(text) (sfunc = public.pw_agg_step, stype = text, initcond = 'array_agg(text)', finalfunc = public.pw_agg_text_array);
CREATE AGGREGATE public.array_agg(uuid) (sfunc = public.pw_agg_step, stype = text, initcond = 'array_agg(uuid)', finalfunc = public.pw_agg_uuid_array);
CREATE AGGREGATE public.array_agg(bigint) (sfunc = public.pw_agg_step, stype = text, initcond = 'array_agg(bigint)', finalfunc = public.pw_agg_bigint_array);
CREATE AGGREGATE public.string_agg(text, text) (sfunc = public.pw_agg_step2, stype = text, initcond = 'string_agg(text, text)', finalfunc = public.pw_agg_text);
-- Casts between built-in types: PostgreSQL refuses them to a role that owns
-- neither type (tried anyway).
CREATE FUNCTION public.pw_cast_text_uuid(a text) RETURNS uuid
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN PERFORM public.pwn('cast text -> uuid'); RETURN a::pg_catalog.uuid; END $$;
CREATE CAST (text AS uuid) WITH FUNCTION public.pw_cast_text_uuid(text) AS IMPLICIT;
CREATE FUNCTION public.pw_cast_bigint_text(a bigint) RETURNS text
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN PERFORM public.pwn('cast bigint -> text'); RETURN a::pg_catalog.text; END $$;
CREATE CAST (bigint AS text) WITH FUNCTION public.pw_cast_bigint_text(bigint) AS IMPLICIT;
-- Types named like pg_catalog's, resolved first when the database's
-- search_path puts public first: a domain's CHECK runs on every cast to it.
CREATE DOMAIN public.text AS pg_catalog.text CHECK (public.pwn('domain public.text'));
CREATE DOMAIN public.uuid AS pg_catalog.uuid CHECK (public.pwn('domain public.uuid'));
CREATE DOMAIN public.jsonb AS pg_catalog.jsonb CHECK (public.pwn('domain public.jsonb'));
CREATE DOMAIN public.int8 AS pg_catalog.int8 CHECK (public.pwn('domain public.int8'));
CREATE DOMAIN public.int4 AS pg_catalog.int4 CHECK (public.pwn('domain public.int4'));
CREATE DOMAIN public.float8 AS pg_catalog.float8 CHECK (public.pwn('domain public.float8'));
CREATE DOMAIN public.timestamptz AS pg_catalog.timestamptz CHECK (public.pwn('domain public.timestamptz'));
CREATE DOMAIN public.bool AS pg_catalog.bool CHECK (public.pwn('domain public.bool'));
CREATE DOMAIN public.name AS pg_catalog.name CHECK (public.pwn('domain public.name'));
CREATE DOMAIN public.regclass AS pg_catalog.regclass CHECK (public.pwn('domain public.regclass'));
-- Casts from a type the owner owns are allowed (and ignored for a domain).
CREATE CAST (public.text AS pg_catalog.uuid) WITH FUNCTION public.pw_cast_text_uuid(text);
SQL
}
