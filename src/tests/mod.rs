//! `#[pg_test]`s: behaviour inside PostgreSQL, each in a rolled-back transaction.
