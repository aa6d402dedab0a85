//! API keys (access.md §1): made with a random token shown once, kept as the token's
//! SHA-256, found by that hash on each request through a cache, revoked at once.
//!
//! `last_used_at` is written at most once a minute per key: a request whose key was
//! last marked used less than a minute ago writes nothing.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, PoisonError};

use rand::RngCore;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::engine::Engine;
use crate::error::{Error, Invalid};
use crate::ids::{KeyId, TenantId};
use crate::model::{ApiKey, KeyScope};
use crate::storage::{Page, PageRequest};
use crate::time::Timestamp;

/// What every key token starts with.
pub const TOKEN_PREFIX: &str = "hk_";
/// Hex digits after the prefix (256 random bits).
const TOKEN_HEX: usize = 64;
/// Most keys one tenant holds.
pub const MAX_KEYS_PER_TENANT: usize = 100;
/// Longest key description, in bytes.
pub const MAX_KEY_DESCRIPTION: usize = 256;
/// Least time between two writes of a key's `last_used_at`.
const TOUCH_EVERY_MS: u64 = 60_000;

/// The body of `POST /v1/tenants/{tenant}/keys`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewKey {
    /// `tenant`, `publish` or `read`.
    pub scope: KeyScope,
    /// Free text.
    #[serde(default)]
    pub description: Option<String>,
}

/// A key just made, with its token: the only time the token exists outside the
/// caller's hands.
#[derive(Debug, Clone)]
pub struct CreatedKey {
    /// The stored key.
    pub key: ApiKey,
    /// `hk_` and 64 hex digits.
    pub token: crate::signing::Secret,
}

/// Keys found by hash, and the ids revoked while this engine runs (so that a lookup
/// racing a revocation cannot put the key back in the cache).
#[derive(Debug, Default)]
pub(crate) struct KeyCache {
    inner: Mutex<CacheInner>,
}

#[derive(Debug, Default)]
struct CacheInner {
    by_hash: HashMap<String, ApiKey>,
    revoked: HashSet<KeyId>,
    /// Clock ms of the last `last_used_at` write per key.
    touched: HashMap<KeyId, u64>,
}

impl KeyCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, CacheInner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Forgets a key another engine revoked; its token is refused from now on.
    pub(crate) fn revoked_elsewhere(&self, id: &KeyId) {
        let mut cache = self.lock();
        cache.revoked.insert(id.clone());
        cache.by_hash.retain(|_, key| &key.id != id);
    }
}

/// SHA-256 of `token`, lowercase hex: what storage keeps and looks keys up by.
pub fn token_hash(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `token` has the shape of a key token (no storage lookup for others).
fn well_formed(token: &str) -> bool {
    token
        .strip_prefix(TOKEN_PREFIX)
        .is_some_and(|hex| hex.len() == TOKEN_HEX && hex.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn generate_token() -> String {
    let mut bytes = [0u8; TOKEN_HEX / 2];
    rand::rng().fill_bytes(&mut bytes);
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("{TOKEN_PREFIX}{hex}")
}

impl Engine {
    /// Makes a key for `tenant`; its token is in the answer only.
    ///
    /// # Errors
    /// `Error::Invalid { field: "description" }`; `Error::Conflict` when the tenant
    /// holds `MAX_KEYS_PER_TENANT` keys; `Error::Storage`.
    pub async fn create_key(&self, tenant: &TenantId, input: NewKey) -> Result<CreatedKey, Error> {
        if let Some(description) = &input.description {
            if description.len() > MAX_KEY_DESCRIPTION {
                return Err(Invalid::new(
                    "description",
                    format!("at most {MAX_KEY_DESCRIPTION} bytes"),
                )
                .into());
            }
            if description.chars().any(char::is_control) {
                return Err(Invalid::new("description", "may not hold control characters").into());
            }
        }
        let existing = self
            .storage_handle()
            .list_keys(
                tenant,
                &PageRequest {
                    limit: MAX_KEYS_PER_TENANT,
                    cursor: None,
                },
            )
            .await?;
        if existing.items.len() >= MAX_KEYS_PER_TENANT {
            return Err(Error::Conflict(format!(
                "the tenant holds its limit of {MAX_KEYS_PER_TENANT} keys; revoke one first"
            )));
        }
        let token = generate_token();
        let key = ApiKey {
            id: KeyId::generate(),
            tenant: tenant.clone(),
            scope: input.scope,
            description: input.description,
            token_hash: token_hash(&token),
            created_at: self.shared().clock.now(),
            last_used_at: None,
        };
        self.storage_handle().create_key(&key).await?;
        Ok(CreatedKey {
            key,
            token: crate::signing::Secret::wrap(token),
        })
    }

    /// The tenant's keys, newest first, without tokens.
    ///
    /// # Errors
    /// `Error::Storage`.
    pub async fn list_keys(
        &self,
        tenant: &TenantId,
        page: &PageRequest,
    ) -> Result<Page<ApiKey>, Error> {
        Ok(self.storage_handle().list_keys(tenant, page).await?)
    }

    /// Revokes a key: from the moment this returns, its token is refused.
    ///
    /// # Errors
    /// `Error::KeyNotFound`; `Error::Storage`.
    pub async fn revoke_key(&self, tenant: &TenantId, id: &KeyId) -> Result<(), Error> {
        {
            let mut cache = self.shared().keys.lock();
            cache.revoked.insert(id.clone());
            cache.by_hash.retain(|_, key| &key.id != id);
        }
        if self.storage_handle().delete_key(tenant, id).await? {
            self.shared()
                .signal(crate::cluster::Signal::KeyRevoked(id.clone()));
            Ok(())
        } else {
            // Not this tenant's (or no such key): it may be used again.
            self.shared().keys.lock().revoked.remove(id);
            Err(Error::KeyNotFound {
                tenant: tenant.clone(),
                id: id.clone(),
            })
        }
    }

    /// The key whose token is `token`, if it exists and is not revoked; marks it
    /// used (written at most once a minute).
    ///
    /// # Errors
    /// `Error::Storage`.
    pub async fn authenticate_key(&self, token: &str) -> Result<Option<ApiKey>, Error> {
        if !well_formed(token) {
            return Ok(None);
        }
        let hash = token_hash(token);
        let shared = self.shared();
        let cached = shared.keys.lock().by_hash.get(&hash).cloned();
        let key = match cached {
            Some(key) => key,
            None => {
                let Some(key) = shared.storage.key_by_hash(&hash).await? else {
                    return Ok(None);
                };
                let mut cache = shared.keys.lock();
                if cache.revoked.contains(&key.id) {
                    return Ok(None);
                }
                cache.by_hash.insert(hash, key.clone());
                key
            }
        };
        self.mark_used(&key);
        Ok(Some(key))
    }

    /// Writes `last_used_at` when the key's last write is a minute old or more.
    fn mark_used(&self, key: &ApiKey) {
        let shared = self.shared();
        let now = shared.clock.now();
        {
            let mut cache = shared.keys.lock();
            let last = cache
                .touched
                .get(&key.id)
                .copied()
                .or(key.last_used_at.map(|t| t.0));
            if last.is_some_and(|ms| now.0.saturating_sub(ms) < TOUCH_EVERY_MS) {
                return;
            }
            cache.touched.insert(key.id.clone(), now.0);
        }
        let storage = shared.storage.clone();
        let id = key.id.clone();
        tokio::spawn(async move {
            if let Err(error) = storage.touch_keys(&[(id, Timestamp(now.0))]).await {
                tracing::warn!(%error, "a key's last_used_at could not be written");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_prefixed_random_hex_and_hash_to_sha256_hex() {
        let a = generate_token();
        let b = generate_token();
        assert_ne!(a, b);
        assert!(well_formed(&a), "{a}");
        assert_eq!(
            token_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(!well_formed("hk_short"));
        assert!(!well_formed(&a.replace("hk_", "xx_")));
        assert!(!well_formed(&format!("{a}0")));
    }
}
