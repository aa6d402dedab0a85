//! Endpoint secrets and header values sealed at rest (`herald::sealing`), as the
//! sled backend seals them: each value bound to its endpoint and field, so a value
//! copied to another endpoint or field does not open; and the check, at connect,
//! that the keyring opens everything the database sealed (`sealing_checks`).

use herald::sealing::{Keyring, SealError};
use tokio_postgres::Client;

use crate::error::ConnectError;

/// What the check values seal, and the context they are sealed with.
const CHECK_TEXT: &[u8] = b"herald";
const CHECK_CONTEXT: &[u8] = b"herald keyring check";

/// A sealed field of an endpoint.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Field<'a> {
    /// `secrets.current`.
    Secret,
    /// `secrets.previous`.
    PreviousSecret,
    /// The value of the custom header of this name.
    Header(&'a str),
}

/// The associated data a field of endpoint `id` is sealed with (the same as
/// sled's, so a value means the same thing in either store).
pub(crate) fn context(id: &str, field: Field<'_>) -> Vec<u8> {
    match field {
        Field::Secret => format!("herald endpoint {id} secret"),
        Field::PreviousSecret => format!("herald endpoint {id} previous secret"),
        Field::Header(name) => format!("herald endpoint {id} header {name}"),
    }
    .into_bytes()
}

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
        match keyring.open(&sealed, CHECK_CONTEXT) {
            Ok(_) => has_current |= id == keyring.current().id(),
            Err(SealError::UnknownKey(id)) => return Err(ConnectError::MissingKey { id }),
            Err(SealError::WrongKey(id)) => return Err(ConnectError::WrongKey { id }),
            Err(SealError::Malformed) => return Err(ConnectError::WrongKey { id }),
        }
    }
    if !has_current {
        let sealed = keyring.seal(CHECK_TEXT, CHECK_CONTEXT);
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
