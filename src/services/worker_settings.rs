//! The worker's settings come from the server's configuration, never from
//! the database owner. A background worker connects like any session and
//! takes the database's `ALTER DATABASE ... SET` values, which the database
//! owner may set for every parameter any user may set: with
//! `default_transaction_read_only = on`, `etl.source_timezone` set to a zone
//! that does not exist (or to the wrong one), `etl.batch_size = 1` or
//! `role = 'etl_runner'`, the owner would stop the pipeline or change what
//! it loads. So the worker puts every such parameter back to the value of
//! the configuration files (`postgresql.conf`, `ALTER SYSTEM`), or to its
//! built-in default. Values set for the worker's own role (`ALTER ROLE
//! <bootstrap superuser> [IN DATABASE ...] SET`), which only a superuser can
//! set, are kept.

use crate::error::Error;
use crate::services::spi::Sql;
use crate::services::subxact;

/// The user-settable parameters set by `ALTER DATABASE ... SET`, with the
/// value the configuration files give them (or their built-in default).
const DATABASE_SETTINGS: &str = "
    SELECT s.name, coalesce(f.setting, s.boot_val) AS server_value
      FROM pg_catalog.pg_settings s
      LEFT JOIN LATERAL (
            SELECT f.setting FROM pg_catalog.pg_file_settings f
             WHERE pg_catalog.lower(f.name) OPERATOR(pg_catalog.=) pg_catalog.lower(s.name)
               AND f.applied AND f.error IS NULL
             ORDER BY f.seqno DESC
             LIMIT 1) f ON true
     WHERE s.context OPERATOR(pg_catalog.=) 'user'
       AND s.source OPERATOR(pg_catalog.=) 'database'
     ORDER BY s.name";

/// Puts back, for the rest of the session, every parameter the database's
/// settings changed (see the module's comment). Call as the worker's
/// superuser, in a transaction, after connecting and after each reload.
/// Returns the parameters put back, and those that could not be (with why).
pub fn ignore_database_settings() -> Result<(Vec<String>, Vec<String>), Error> {
    // A database's `role` makes this session act as that role, which may not
    // read the configuration files: the worker acts as no role but its own
    // (pg_settings does not show `role`, so it is put back unasked).
    Sql::new().execute("SELECT pg_catalog.set_config('role', 'none', false)", &[])?;
    let overridden = Sql::new().query(DATABASE_SETTINGS, &[], |rows| {
        let mut settings = Vec::new();
        for row in rows {
            let name: String = row.get(1)?.unwrap_or_default();
            let value: Option<String> = row.get(2)?;
            settings.push((name, value.unwrap_or_default()));
        }
        Ok(settings)
    })?;
    let mut reset = Vec::new();
    let mut refused = Vec::new();
    for (name, value) in overridden {
        let set = subxact::run(|| {
            Sql::new()
                .execute("SELECT pg_catalog.set_config($1, $2, false)", &[name.as_str().into(), value.as_str().into()])
        });
        match set {
            Ok(_) => reset.push(name),
            Err(e) => refused.push(format!("{name}: {e}")),
        }
    }
    Ok((reset, refused))
}
