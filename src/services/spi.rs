//! SPI access for the stages. Every statement goes through [`Sql`], which
//! counts it, so a stage can report how many statements it ran.

use pgrx::datum::DatumWithOid;
use pgrx::spi::{Spi, SpiTupleTable};

use crate::error::StageError;

/// Executes statements through SPI and counts them.
#[derive(Debug, Default)]
pub struct Sql {
    statements: u64,
}

impl Sql {
    pub fn new() -> Self {
        Self::default()
    }

    /// Statements executed so far (cursor fetches included).
    pub fn statements(&self) -> u64 {
        self.statements
    }

    /// Runs a writing statement; returns the number of rows it processed.
    pub fn execute(&mut self, sql: &str, args: &[DatumWithOid]) -> Result<u64, StageError> {
        self.statements += 1;
        Spi::connect_mut(|client| {
            let table = client.update(sql, None, args)?;
            Ok(table.len() as u64)
        })
    }

    /// Runs a statement and hands its rows to `read`, which must copy out
    /// what it needs: the rows live only until the SPI connection ends.
    pub fn query<R>(
        &mut self,
        sql: &str,
        args: &[DatumWithOid],
        read: impl FnOnce(SpiTupleTable<'_>) -> Result<R, StageError>,
    ) -> Result<R, StageError> {
        self.statements += 1;
        Spi::connect_mut(|client| {
            let table = client.update(sql, None, args)?;
            read(table)
        })
    }

    /// Opens a cursor that outlives this SPI connection, so that each batch
    /// can be fetched in a connection of its own (and its memory freed).
    pub fn open_cursor(&mut self, sql: &str, args: &[DatumWithOid]) -> Result<Cursor, StageError> {
        self.statements += 1;
        // A read-write cursor takes a fresh snapshot, so it sees what the
        // earlier statements of this transaction wrote.
        let name = Spi::connect_mut(|client| -> Result<String, StageError> {
            let cursor = client.try_open_cursor_mut(sql, args)?;
            Ok(cursor.detach_into_name())
        })?;
        Ok(Cursor { name })
    }

    /// Fetches up to `count` rows of `cursor`; `read` copies them out.
    pub fn fetch<R>(
        &mut self,
        cursor: &Cursor,
        count: usize,
        read: impl FnOnce(SpiTupleTable<'_>) -> Result<R, StageError>,
    ) -> Result<R, StageError> {
        self.statements += 1;
        Spi::connect(|client| {
            let mut found = client.find_cursor(&cursor.name)?;
            let table = found.fetch(count as libc::c_long)?;
            let result = read(table);
            // Keep the portal open for the next fetch.
            let _ = found.detach_into_name();
            result
        })
    }

    /// Closes a cursor opened by [`Sql::open_cursor`].
    pub fn close(&mut self, cursor: Cursor) -> Result<(), StageError> {
        Spi::connect(|client| {
            // Dropping the found cursor closes the portal.
            drop(client.find_cursor(&cursor.name)?);
            Ok(())
        })
    }
}

/// A named SPI cursor (a portal) that lives until closed or until the
/// (sub)transaction that opened it ends.
#[derive(Debug)]
pub struct Cursor {
    name: String,
}
