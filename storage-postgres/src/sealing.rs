//! The check, at connect, that the keyring opens everything the database sealed
//! (`sealing_checks`); endpoint secrets and header values are sealed with
//! `herald::sealing::endpoint_context`, as every storage seals them.

use herald::sealing::{Keyring, SealError, KEYRING_CHECK_CONTEXT, KEYRING_CHECK_TEXT};
use tokio_postgres::Client;

use crate::error::ConnectError;

/// Opens every check value with `keyring` and adds one for its current key when
/// missing. Run under the migration lock.
///
/// # Errors
/// `MissingKey` or `WrongKey` when `keyring` does not open what the database
/// sealed; `Database` when a statement fails.
pub(crate) async fn check_keyring(client: &Client, keyring: &Keyring) -> Result<(), ConnectError> {
    let rows = client
        .query("SELECT key_id, sealed FROM sealing_checks", &[])
        .await
        .map_err(|e| ConnectError::database("reading the keyring checks", e))?;
    let mut has_current = false;
    for row in rows {
        let (id, sealed): (String, Vec<u8>) = (row.get(0), row.get(1));
        match keyring.open(&sealed, KEYRING_CHECK_CONTEXT) {
            Ok(_) => has_current |= id == keyring.current().id(),
            Err(SealError::UnknownKey(id)) => return Err(ConnectError::MissingKey { id }),
            Err(SealError::WrongKey(id)) => return Err(ConnectError::WrongKey { id }),
            Err(SealError::Malformed) => return Err(ConnectError::WrongKey { id }),
        }
    }
    if !has_current {
        let sealed = keyring.seal(KEYRING_CHECK_TEXT, KEYRING_CHECK_CONTEXT);
        client
            .execute(
                "INSERT INTO sealing_checks (key_id, sealed) VALUES ($1, $2)
                 ON CONFLICT (key_id) DO NOTHING",
                &[&keyring.current().id(), &sealed],
            )
            .await
            .map_err(|e| ConnectError::database("storing the keyring check", e))?;
    }
    Ok(())
}
