-- An export profile by name (exports/mod.rs, read_profile). $1 = the name.
--
-- Rules it enforces (issue 28, docs/semantics.md 12):
-- * Profiles are data: etl_import_export reads how a file maps to raw
--   lines from etl.export_profiles, as the caller (its grants and RLS).
-- * columns goes to Rust as jsonb's text, checked again there.
SELECT p.profile_name, p.format, p.encoding, p.delimiter, p.columns::text AS columns, p.fixed_shop,
       p.ordered_at_format, p.amount_format, p.rows_per_order
  FROM etl.export_profiles p
 WHERE p.profile_name = $1::text
