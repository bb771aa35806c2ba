-- Creates the import an export is loaded into (exports/mod.rs). $1 = the
-- new import_id, $2 = source, $3 = the content's sha256, $4 = the
-- profile, $5 = the call's shop.
--
-- Rules it enforces (issue 28, contract 8):
-- * Written as the caller, not as etl_runner: row-level security and
--   etl.guard_import apply, and owner_role (DEFAULT CURRENT_USER) makes the
--   caller its owner, as for an import the caller wrote by hand.
-- * Created pending; completed once every line is written.
INSERT INTO etl.imports (import_id, source, content_sha256, export_profile, export_shop)
VALUES ($1::uuid, $2::text, $3::bytea, $4::text, $5::text)
