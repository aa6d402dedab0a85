//! The schema: migrations embedded in the binary (`migrations/*.sql`), applied at
//! connect under a session advisory lock, so nodes starting together migrate once,
//! one after the other; and the version check that refuses a database migrated by
//! a newer build.
//!
//! `herald_schema` records each version applied. Each migration runs in its own
//! transaction with its row there, so a crash leaves the database at one version
//! or the next, never between.

use tokio_postgres::Client;

use crate::error::ConnectError;

/// One migration: the version it brings the schema to, and its SQL.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Migration {
    /// The version after it.
    pub(crate) version: i32,
    /// A name for people (recorded beside the version).
    pub(crate) name: &'static str,
    /// Its statements.
    pub(crate) sql: &'static str,
}

/// Every migration, in version order.
pub(crate) const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "initial",
        sql: include_str!("../migrations/0001_initial.sql"),
    },
    Migration {
        version: 2,
        name: "cluster",
        sql: include_str!("../migrations/0002_cluster.sql"),
    },
];

/// The schema version this build reads and writes (the last migration's).
pub const SCHEMA_VERSION: i32 = 2;

/// The advisory lock every connecting storage takes while it migrates and checks
/// the keyring: "herald" in ASCII, a number no other application is likely to use.
pub(crate) const MIGRATION_LOCK: i64 = 0x6865_7261_6c64;

/// Takes the migration lock on `client`'s session, applies what is missing and
/// returns the version found before. The lock is released with the session (the
/// caller drops the connection) or here on success.
///
/// # Errors
/// `SchemaTooNew` when the database is past `SCHEMA_VERSION`; `Database` when a
/// statement fails.
pub(crate) async fn migrate(client: &mut Client) -> Result<i32, ConnectError> {
    client
        .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(|e| ConnectError::database("taking the migration lock", e))?;
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS herald_schema (
                 version    integer PRIMARY KEY,
                 name       text NOT NULL,
                 applied_at timestamptz NOT NULL DEFAULT now()
             )",
        )
        .await
        .map_err(|e| ConnectError::database("creating herald_schema", e))?;
    let found: i32 = client
        .query_one("SELECT coalesce(max(version), 0) FROM herald_schema", &[])
        .await
        .and_then(|row| row.try_get(0))
        .map_err(|e| ConnectError::database("reading the schema version", e))?;
    if found > SCHEMA_VERSION {
        return Err(ConnectError::SchemaTooNew {
            found,
            supported: SCHEMA_VERSION,
        });
    }
    for migration in MIGRATIONS.iter().filter(|m| m.version > found) {
        let context = || {
            format!(
                "applying migration {} ({})",
                migration.version, migration.name
            )
        };
        let tx = client
            .transaction()
            .await
            .map_err(|e| ConnectError::database(context(), e))?;
        tx.batch_execute(migration.sql)
            .await
            .map_err(|e| ConnectError::database(context(), e))?;
        tx.execute(
            "INSERT INTO herald_schema (version, name) VALUES ($1, $2)",
            &[&migration.version, &migration.name],
        )
        .await
        .map_err(|e| ConnectError::database(context(), e))?;
        tx.commit()
            .await
            .map_err(|e| ConnectError::database(context(), e))?;
        tracing::info!(
            version = migration.version,
            name = migration.name,
            "applied a schema migration"
        );
    }
    Ok(found)
}

/// Releases the lock `migrate` took.
///
/// # Errors
/// `Database` when the statement fails.
pub(crate) async fn unlock(client: &Client) -> Result<(), ConnectError> {
    client
        .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
        .await
        .map(drop)
        .map_err(|e| ConnectError::database("releasing the migration lock", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_numbered_from_one_without_gaps_up_to_the_schema_version() {
        for (index, migration) in MIGRATIONS.iter().enumerate() {
            assert_eq!(migration.version as usize, index + 1, "{}", migration.name);
        }
        assert_eq!(MIGRATIONS.last().map(|m| m.version), Some(SCHEMA_VERSION));
    }
}
