//! Secrets sealed for storage: a storage that writes to disk keeps endpoint secrets
//! and custom header values encrypted (XChaCha20-Poly1305) under a key of a
//! `Keyring`, so a copy of the data without its key reveals none of them.
//!
//! A sealed value is `1 | key id length | key id | 24-byte nonce | ciphertext and
//! tag`. The key id lets a keyring hold several keys: the current one seals, every
//! one opens, so a key is rotated while values sealed under the old one still read.
//! Each value is sealed with a context (associated data naming the record and field
//! it belongs to), so a sealed value copied into another record does not open.

use base64::Engine as _;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;

/// The first byte of every sealed value: the layout above.
const LAYOUT: u8 = 1;
/// Bytes of a key.
const KEY_LEN: usize = 32;
/// Bytes of a nonce (XChaCha20's extended nonce: random nonces never collide in
/// practice).
const NONCE_LEN: usize = 24;
/// Longest key id.
pub const MAX_KEY_ID_LEN: usize = 32;

/// Why a keyring or one of its keys was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyringError {
    /// No key at all.
    #[error("a keyring needs at least one key")]
    Empty,
    /// A key written as text is not `ID:BASE64` of 32 bytes.
    #[error("key {index}: {message}")]
    Malformed {
        /// Its position, from 1.
        index: usize,
        /// What is wrong with it.
        message: String,
    },
    /// Two keys share an id.
    #[error("two keys have the id `{0}`")]
    Duplicate(String),
}

/// Why a sealed value did not open.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    /// The bytes are not a sealed value.
    #[error("not a sealed value")]
    Malformed,
    /// It was sealed under a key the keyring does not hold.
    #[error("sealed under key `{0}`, which the keyring does not hold")]
    UnknownKey(String),
    /// The keyring holds a key of that id, but not the one it was sealed under (or
    /// the value or its context was changed).
    #[error("key `{0}` does not open it: a different key under the same id, or altered data")]
    WrongKey(String),
}

/// One key: an id and 32 random bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct SealingKey {
    id: String,
    key: [u8; KEY_LEN],
}

impl std::fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealingKey")
            .field("id", &self.id)
            .field("key", &"[redacted]")
            .finish()
    }
}

impl SealingKey {
    /// A new random key with a random id (`k` and 8 hex digits).
    pub fn generate() -> Self {
        let mut key = [0u8; KEY_LEN];
        rand::rng().fill_bytes(&mut key);
        let id = format!("k{:08x}", rand::rng().next_u32());
        Self { id, key }
    }

    /// Reads a key written as `ID:BASE64` (32 bytes in standard base64; the id of 1
    /// to 32 letters, digits, `-` or `_`).
    ///
    /// # Errors
    /// A message saying what is wrong (it never contains the key).
    pub fn parse(text: &str) -> Result<Self, String> {
        let (id, encoded) = text
            .trim()
            .split_once(':')
            .ok_or("must be ID:BASE64 (an id, a colon, 32 bytes in base64)")?;
        let id_ok = !id.is_empty()
            && id.len() <= MAX_KEY_ID_LEN
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !id_ok {
            return Err(format!(
                "the id must be 1 to {MAX_KEY_ID_LEN} letters, digits, `-` or `_`"
            ));
        }
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .map_err(|_| format!("key `{id}` is not standard base64"))?;
        let key: [u8; KEY_LEN] = bytes
            .try_into()
            .map_err(|b: Vec<u8>| format!("key `{id}` is {} bytes, not {KEY_LEN}", b.len()))?;
        Ok(Self {
            id: id.to_owned(),
            key,
        })
    }

    /// The key as `parse` reads it.
    pub fn to_text(&self) -> String {
        format!(
            "{}:{}",
            self.id,
            base64::engine::general_purpose::STANDARD.encode(self.key)
        )
    }

    /// Its id, which sealed values carry.
    pub fn id(&self) -> &str {
        &self.id
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(&self.key.into())
    }
}

/// A sealed field of an endpoint, as `endpoint_context` binds a value to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndpointField<'a> {
    /// `secrets.current`.
    Secret,
    /// `secrets.previous`.
    PreviousSecret,
    /// The value of the custom header of this name.
    Header(&'a str),
}

/// The context (associated data) a field of endpoint `id` is sealed with. Every
/// storage seals with it, so a sealed value means the same thing in any of them, and
/// one copied to another endpoint or field does not open.
pub fn endpoint_context(id: &str, field: EndpointField<'_>) -> Vec<u8> {
    match field {
        EndpointField::Secret => format!("herald endpoint {id} secret"),
        EndpointField::PreviousSecret => format!("herald endpoint {id} previous secret"),
        EndpointField::Header(name) => format!("herald endpoint {id} header {name}"),
    }
    .into_bytes()
}

/// What a storage seals under each key of its keyring, with `KEYRING_CHECK_CONTEXT`,
/// so that a start can tell a keyring that does not open what is stored (a clear
/// error) from one that does, before any secret is read.
pub const KEYRING_CHECK_TEXT: &[u8] = b"herald";

/// The context of `KEYRING_CHECK_TEXT`.
pub const KEYRING_CHECK_CONTEXT: &[u8] = b"herald keyring check";

/// The keys a storage seals with: the first seals, all of them open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keyring {
    keys: Vec<SealingKey>,
}

impl Keyring {
    /// A keyring whose current key is `keys[0]`.
    ///
    /// # Errors
    /// `Empty`, or `Duplicate` when two keys share an id.
    pub fn new(keys: Vec<SealingKey>) -> Result<Self, KeyringError> {
        if keys.is_empty() {
            return Err(KeyringError::Empty);
        }
        for (i, key) in keys.iter().enumerate() {
            if keys[..i].iter().any(|k| k.id == key.id) {
                return Err(KeyringError::Duplicate(key.id.clone()));
            }
        }
        Ok(Self { keys })
    }

    /// A keyring of one new random key.
    pub fn generate() -> Self {
        Self {
            keys: vec![SealingKey::generate()],
        }
    }

    /// Reads keys written one per line as `ID:BASE64` (blank lines and lines
    /// starting with `#` skipped), the current key first.
    ///
    /// # Errors
    /// `Malformed` naming the key's position, `Empty`, `Duplicate`.
    pub fn parse(text: &str) -> Result<Self, KeyringError> {
        Self::from_texts(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#')),
        )
    }

    /// Reads keys given one per item as `ID:BASE64`, the current key first.
    ///
    /// # Errors
    /// As `parse`.
    pub fn from_texts<'a>(texts: impl IntoIterator<Item = &'a str>) -> Result<Self, KeyringError> {
        let keys = texts
            .into_iter()
            .enumerate()
            .map(|(i, text)| {
                SealingKey::parse(text).map_err(|message| KeyringError::Malformed {
                    index: i + 1,
                    message,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Self::new(keys)
    }

    /// The keyring as `parse` reads it, with a comment line on top.
    pub fn to_text(&self) -> String {
        let mut text = String::from(
            "# Herald's storage keys, ID:BASE64, the current one first. Keep secret.\n",
        );
        for key in &self.keys {
            text.push_str(&key.to_text());
            text.push('\n');
        }
        text
    }

    /// The key that seals.
    pub fn current(&self) -> &SealingKey {
        &self.keys[0]
    }

    /// Every key, the current one first.
    pub fn keys(&self) -> &[SealingKey] {
        &self.keys
    }

    /// The keyring with `key` as its current key, the others kept after it.
    #[must_use]
    pub fn with_current(mut self, key: SealingKey) -> Self {
        self.keys.retain(|k| k.id != key.id);
        self.keys.insert(0, key);
        self
    }

    /// The keyring with only the keys whose ids `keep` names (and the current one).
    #[must_use]
    pub fn retain(mut self, keep: impl Fn(&str) -> bool) -> Self {
        let current = self.keys[0].id.clone();
        self.keys.retain(|k| k.id == current || keep(&k.id));
        self
    }

    /// Seals `plaintext` under the current key, bound to `context`.
    pub fn seal(&self, plaintext: &[u8], context: &[u8]) -> Vec<u8> {
        let key = self.current();
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let sealed = key
            .cipher()
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: plaintext,
                    aad: context,
                },
            )
            .expect("XChaCha20-Poly1305 seals any length a record holds");
        let id = key.id.as_bytes();
        let mut out = Vec::with_capacity(2 + id.len() + NONCE_LEN + sealed.len());
        out.push(LAYOUT);
        out.push(u8::try_from(id.len()).expect("ids are at most 32 bytes"));
        out.extend_from_slice(id);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        out
    }

    /// Opens what `seal` made with `context`, under whichever of the keyring's keys
    /// sealed it.
    ///
    /// # Errors
    /// `Malformed`, `UnknownKey` (not in this keyring), `WrongKey` (the id is here,
    /// the key is not the one, or the value or context changed).
    pub fn open(&self, sealed: &[u8], context: &[u8]) -> Result<Vec<u8>, SealError> {
        let (id, rest) = split_sealed(sealed)?;
        let key = self
            .keys
            .iter()
            .find(|k| k.id == id)
            .ok_or_else(|| SealError::UnknownKey(id.to_owned()))?;
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| SealError::Malformed)?;
        key.cipher()
            .decrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: ciphertext,
                    aad: context,
                },
            )
            .map_err(|_| SealError::WrongKey(id.to_owned()))
    }

    /// The id of the key `sealed` was sealed under.
    ///
    /// # Errors
    /// `Malformed`.
    pub fn key_id_of(sealed: &[u8]) -> Result<&str, SealError> {
        split_sealed(sealed).map(|(id, _)| id)
    }
}

/// The key id and the nonce-and-ciphertext of a sealed value.
fn split_sealed(sealed: &[u8]) -> Result<(&str, &[u8]), SealError> {
    let [LAYOUT, id_len, rest @ ..] = sealed else {
        return Err(SealError::Malformed);
    };
    let id_len = usize::from(*id_len);
    if id_len == 0 || id_len > MAX_KEY_ID_LEN || rest.len() < id_len + NONCE_LEN + 16 {
        return Err(SealError::Malformed);
    }
    let (id, rest) = rest.split_at(id_len);
    let id = std::str::from_utf8(id).map_err(|_| SealError::Malformed)?;
    Ok((id, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_with_their_context_only() {
        let ring = Keyring::generate();
        let sealed = ring.seal(b"whsec_secret", b"endpoint ep_1 secret");
        assert!(!sealed.windows(6).any(|w| w == b"whsec_"));
        assert_eq!(
            ring.open(&sealed, b"endpoint ep_1 secret").unwrap(),
            b"whsec_secret"
        );
        let id = ring.current().id().to_owned();
        assert_eq!(
            ring.open(&sealed, b"endpoint ep_2 secret"),
            Err(SealError::WrongKey(id.clone()))
        );
        let mut altered = sealed.clone();
        *altered.last_mut().unwrap() ^= 1;
        assert_eq!(
            ring.open(&altered, b"endpoint ep_1 secret"),
            Err(SealError::WrongKey(id))
        );
        // The same plaintext seals differently each time (a fresh nonce).
        assert_ne!(sealed, ring.seal(b"whsec_secret", b"endpoint ep_1 secret"));
    }

    #[test]
    fn a_rotated_keyring_opens_old_values_and_seals_with_the_new_key() {
        let old = Keyring::generate();
        let sealed = old.seal(b"v", b"c");
        let new_key = SealingKey::generate();
        let rotated = old.clone().with_current(new_key.clone());
        assert_eq!(rotated.open(&sealed, b"c").unwrap(), b"v");
        let resealed = rotated.seal(b"v", b"c");
        assert_eq!(Keyring::key_id_of(&resealed).unwrap(), new_key.id());
        let only_new = rotated.retain(|_| false);
        assert_eq!(only_new.keys().len(), 1);
        assert_eq!(
            only_new.open(&sealed, b"c"),
            Err(SealError::UnknownKey(old.current().id().to_owned()))
        );
    }

    #[test]
    fn a_different_key_under_the_same_id_is_told_apart() {
        let ring = Keyring::generate();
        let id = ring.current().id().to_owned();
        let impostor = Keyring::parse(&format!("{id}:{}", "A".repeat(43) + "=")).unwrap();
        let sealed = ring.seal(b"v", b"c");
        assert_eq!(impostor.open(&sealed, b"c"), Err(SealError::WrongKey(id)));
    }

    #[test]
    fn keyrings_round_trip_as_text_and_refuse_bad_lines() {
        let ring = Keyring::generate().with_current(SealingKey::generate());
        assert_eq!(Keyring::parse(&ring.to_text()).unwrap(), ring);
        assert_eq!(Keyring::parse("# nothing\n\n"), Err(KeyringError::Empty));
        let short = base64::engine::general_purpose::STANDARD.encode([0u8; 16]);
        for (text, expected) in [
            ("nocolon", "ID:BASE64"),
            (":AAAA", "the id must be"),
            ("bad id:AAAA", "the id must be"),
            ("k1:***", "not standard base64"),
            (&*format!("k1:{short}"), "16 bytes, not 32"),
        ] {
            let message = Keyring::parse(text).unwrap_err().to_string();
            assert!(message.contains(expected), "{text}: {message}");
            assert!(message.starts_with("key 1: "), "{message}");
        }
        let key = SealingKey::generate().to_text();
        assert!(matches!(
            Keyring::parse(&format!("{key}\n{key}")),
            Err(KeyringError::Duplicate(_))
        ));
        // A key's Debug never shows it.
        let text = format!("{:?}", SealingKey::generate());
        assert!(text.contains("redacted"), "{text}");
    }

    #[test]
    fn malformed_sealed_values_are_refused() {
        let ring = Keyring::generate();
        for bytes in [
            &b""[..],
            b"\x01",
            b"\x02\x02k1",
            b"\x01\x00",
            b"\x01\x02k1short",
        ] {
            assert_eq!(
                ring.open(bytes, b"c"),
                Err(SealError::Malformed),
                "{bytes:?}"
            );
        }
    }
}
