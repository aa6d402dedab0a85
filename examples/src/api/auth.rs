//! Who may call what (access.md §1): the admin token (configured, or generated on
//! first start and kept in `<data_dir>/api-token`) may call every route; a tenant's
//! key only the routes its scope allows, under its own tenant.
//!
//! The check runs before the body is read: a missing, unknown or revoked key is 401,
//! a valid key outside its scope or tenant 403, and only then the body checks.

use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderMap, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use herald::model::{ApiKey, KeyScope};
use rand::RngCore;
use subtle::ConstantTimeEq;

use super::error::ApiError;
use super::AppState;
use crate::config::Sensitive;

/// The file, inside the data dir, that keeps a generated token.
pub const TOKEN_FILE: &str = "api-token";

/// Tenants whose names start with this are Herald's own (the operator's tenant
/// `_herald`): the admin may read them, nobody may change them through the API.
pub const RESERVED_TENANT_PREFIX: char = '_';

/// Who is calling.
#[derive(Debug, Clone)]
pub enum Caller {
    /// The admin token.
    Admin,
    /// A tenant's key.
    Key(ApiKey),
    /// A console session of one tenant: what a `tenant` key of it may do.
    Console(herald::TenantId),
}

/// Put in a request's extensions by the console, which calls this router in
/// process on behalf of its signed-in viewer: the caller, instead of a token.
/// Requests from the network never carry extensions.
#[derive(Debug, Clone)]
pub(crate) struct Delegated(pub Caller);

/// What a route asks of its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// The admin token only (key management, a tenant's settings).
    Admin,
    /// Any valid key (routes outside a tenant, such as `/v1/profiles`).
    AnyCaller,
    /// A key of the route's tenant whose scope allows `Action`, or the admin.
    Tenant(Action),
}

/// What a tenant route does, for the scope check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// `GET`: `read` and `tenant` keys.
    Read,
    /// `POST .../events`: `publish` and `tenant` keys.
    Publish,
    /// Every other change: `tenant` keys.
    Manage,
}

/// The need of the route `template` (as the router spells it) under `method`.
pub fn need(method: &Method, template: &str) -> Need {
    if template == "/v1/cluster" {
        return Need::Admin;
    }
    let Some(rest) = template.strip_prefix("/v1/tenants/{tenant}") else {
        return Need::AnyCaller;
    };
    if rest.starts_with("/keys") || (rest.is_empty() && method != Method::GET) {
        Need::Admin
    } else if method == Method::GET {
        Need::Tenant(Action::Read)
    } else if rest == "/events" && method == Method::POST {
        Need::Tenant(Action::Publish)
    } else {
        Need::Tenant(Action::Manage)
    }
}

/// Whether a key of `scope` may do `action`.
pub fn scope_allows(scope: KeyScope, action: Action) -> bool {
    match scope {
        KeyScope::Tenant => true,
        KeyScope::Publish => action == Action::Publish,
        KeyScope::Read => action == Action::Read,
    }
}

/// Layer: 401 without a valid token or key, 403 outside the key's scope or tenant
/// (or for a change to a reserved tenant); otherwise passes the request on with its
/// `Caller` in the extensions.
pub(crate) async fn authorize(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let delegated = request.extensions().get::<Delegated>().map(|d| d.0.clone());
    let caller = match delegated {
        Some(caller) => caller,
        None => match identify(&state, request.headers()).await {
            Ok(Some(caller)) => caller,
            Ok(None) => return ApiError::unauthorized().into_response(),
            Err(error) => return error.into_response(),
        },
    };
    let template = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    let tenant = tenant_segment(request.uri().path());
    if let Err(error) = check(&caller, request.method(), &template, tenant) {
        return error.into_response();
    }
    request.extensions_mut().insert(caller);
    next.run(request).await
}

/// The admin or the key behind the request's token; `None` when there is none or
/// it is unknown or revoked.
async fn identify(state: &AppState, headers: &HeaderMap) -> Result<Option<Caller>, ApiError> {
    let Some(token) = presented_token(headers) else {
        return Ok(None);
    };
    if bool::from(token.as_bytes().ct_eq(state.api_token.expose().as_bytes())) {
        return Ok(Some(Caller::Admin));
    }
    Ok(state.engine.authenticate_key(token).await?.map(Caller::Key))
}

/// 403 unless `caller` may call `template` under `method` on `tenant`.
fn check(
    caller: &Caller,
    method: &Method,
    template: &str,
    tenant: Option<&str>,
) -> Result<(), ApiError> {
    let reserved = tenant.is_some_and(|t| t.starts_with(RESERVED_TENANT_PREFIX));
    match caller {
        Caller::Admin => {
            if reserved && method != Method::GET {
                return Err(ApiError::forbidden(format!(
                    "tenants starting with `{RESERVED_TENANT_PREFIX}` are Herald's own and read-only"
                )));
            }
            Ok(())
        }
        Caller::Key(key) => check_tenant_caller(&key.tenant, key.scope, method, template, tenant),
        Caller::Console(own) => {
            check_tenant_caller(own, KeyScope::Tenant, method, template, tenant)
        }
    }
}

/// 403 unless a caller of `own` tenant with `scope` may call `template` under
/// `method` on `tenant`.
fn check_tenant_caller(
    own: &herald::TenantId,
    scope: KeyScope,
    method: &Method,
    template: &str,
    tenant: Option<&str>,
) -> Result<(), ApiError> {
    match need(method, template) {
        Need::AnyCaller => Ok(()),
        Need::Admin => Err(ApiError::forbidden("this route needs the admin key")),
        Need::Tenant(action) => {
            if tenant != Some(own.as_str()) {
                return Err(ApiError::forbidden("this key belongs to another tenant"));
            }
            if !scope_allows(scope, action) {
                return Err(ApiError::forbidden(format!(
                    "a `{}` key may not call this route",
                    scope.as_str()
                )));
            }
            Ok(())
        }
    }
}

/// The `{tenant}` segment of a `/v1/tenants/{tenant}/...` path, as sent.
fn tenant_segment(path: &str) -> Option<&str> {
    let rest = path.strip_prefix("/v1/tenants/")?;
    Some(rest.split('/').next().unwrap_or(rest))
}

/// The token of `authorization: Bearer <token>`, else of `x-api-key: <token>`.
fn presented_token(headers: &HeaderMap) -> Option<&str> {
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let (scheme, token) = value.to_str().ok()?.split_once(' ')?;
        return scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| token.trim())
            .filter(|t| !t.is_empty());
    }
    headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// Whether `headers` carry `authorization: Bearer <expected>`, compared in constant
/// time (only the length can leak, and tokens have a fixed length).
pub(crate) fn bearer_matches(headers: &HeaderMap, expected: &Sensitive) -> bool {
    let Some(value) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let Some((scheme, token)) = value.split_once(' ') else {
        return false;
    };
    scheme.eq_ignore_ascii_case("bearer")
        && bool::from(token.trim().as_bytes().ct_eq(expected.expose().as_bytes()))
}

/// A token read from or written to the data dir.
#[derive(Debug)]
pub struct StoredToken {
    /// The token.
    pub token: Sensitive,
    /// True when it was made just now (the caller shows it once).
    pub generated: bool,
    /// Where it is kept.
    pub path: PathBuf,
}

/// Reads `<data_dir>/api-token`, or generates a token and stores it there with mode
/// 0600 when the file does not exist.
///
/// # Errors
/// When the data dir or the file cannot be created or read, or the file is empty.
pub fn load_or_generate(data_dir: &Path) -> io::Result<StoredToken> {
    std::fs::create_dir_all(data_dir)?;
    let path = data_dir.join(TOKEN_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            // The same rule as a configured token: a hand-edited short one is refused.
            let token = crate::config::api_token(&text).map_err(|error| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{}: {}", path.display(), error.message),
                )
            })?;
            return Ok(StoredToken {
                token,
                generated: false,
                path,
            });
        }
        Err(error) if error.kind() == io::ErrorKind::NotFound => {}
        Err(error) => return Err(error),
    }
    // 256 random bits, written as 64 hex digits: twice `MIN_API_TOKEN_CHARS`.
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)?;
    writeln!(file, "{token}")?;
    file.sync_all()?;
    Ok(StoredToken {
        token: Sensitive::new(token),
        generated: true,
        path,
    })
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn a_generated_token_is_kept_with_mode_0600_and_reused() {
        let dir = std::env::temp_dir().join(format!(
            "heraldd-token-{}-{:x}",
            std::process::id(),
            rand::random::<u64>()
        ));
        let first = load_or_generate(&dir).expect("generate");
        assert!(first.generated);
        let mode = std::fs::metadata(&first.path)
            .expect("file")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let second = load_or_generate(&dir).expect("reuse");
        assert!(!second.generated);
        assert_eq!(first.token, second.token);
        assert!(first.token.expose().len() >= crate::config::MIN_API_TOKEN_CHARS);
        std::fs::write(&first.path, "short\n").expect("rewrite");
        let error = load_or_generate(&dir).expect_err("a short stored token");
        assert!(error.to_string().contains("32"), "{error}");
        let _ = std::fs::remove_dir_all(dir);
    }

    fn key(tenant: &str, scope: KeyScope) -> Caller {
        Caller::Key(ApiKey {
            id: herald::KeyId::generate(),
            tenant: herald::TenantId::parse(tenant).expect("tenant"),
            scope,
            description: None,
            token_hash: String::new(),
            created_at: herald::Timestamp::EPOCH,
            last_used_at: None,
        })
    }

    #[test]
    fn routes_need_what_their_family_does() {
        let t = "/v1/tenants/{tenant}";
        assert_eq!(need(&Method::GET, "/v1/profiles"), Need::AnyCaller);
        assert_eq!(need(&Method::POST, &format!("{t}/keys")), Need::Admin);
        assert_eq!(need(&Method::GET, &format!("{t}/keys")), Need::Admin);
        assert_eq!(
            need(&Method::DELETE, &format!("{t}/keys/{{id}}")),
            Need::Admin
        );
        assert_eq!(need(&Method::PUT, t), Need::Admin);
        assert_eq!(need(&Method::GET, t), Need::Tenant(Action::Read));
        assert_eq!(
            need(&Method::POST, &format!("{t}/events")),
            Need::Tenant(Action::Publish)
        );
        assert_eq!(
            need(&Method::GET, &format!("{t}/events")),
            Need::Tenant(Action::Read)
        );
        assert_eq!(
            need(&Method::POST, &format!("{t}/endpoints")),
            Need::Tenant(Action::Manage)
        );
        assert_eq!(
            need(&Method::POST, &format!("{t}/endpoints/{{id}}/test")),
            Need::Tenant(Action::Manage)
        );
    }

    #[test]
    fn keys_stay_in_their_tenant_and_scope() {
        let t = "/v1/tenants/{tenant}";
        let publish = key("acme", KeyScope::Publish);
        let events = format!("{t}/events");
        assert!(check(&publish, &Method::POST, &events, Some("acme")).is_ok());
        assert_eq!(
            check(&publish, &Method::POST, &events, Some("other"))
                .expect_err("tenant")
                .status(),
            axum::http::StatusCode::FORBIDDEN
        );
        assert!(check(&publish, &Method::GET, &events, Some("acme")).is_err());
        let read = key("acme", KeyScope::Read);
        assert!(check(&read, &Method::GET, &events, Some("acme")).is_ok());
        assert!(check(&read, &Method::POST, &events, Some("acme")).is_err());
        let tenant = key("acme", KeyScope::Tenant);
        assert!(check(
            &tenant,
            &Method::DELETE,
            &format!("{t}/endpoints/{{id}}"),
            Some("acme")
        )
        .is_ok());
        assert!(check(&tenant, &Method::POST, &format!("{t}/keys"), Some("acme")).is_err());
        assert!(check(&Caller::Admin, &Method::POST, &events, Some("_herald")).is_err());
        assert!(check(&Caller::Admin, &Method::GET, &events, Some("_herald")).is_ok());
    }

    #[test]
    fn tokens_come_from_bearer_or_x_api_key() {
        let mut headers = HeaderMap::new();
        assert_eq!(presented_token(&headers), None);
        headers.insert("x-api-key", "hk_1".parse().expect("value"));
        assert_eq!(presented_token(&headers), Some("hk_1"));
        headers.insert(header::AUTHORIZATION, "Bearer hk_2".parse().expect("value"));
        assert_eq!(presented_token(&headers), Some("hk_2"));
        headers.insert(header::AUTHORIZATION, "Basic hk_2".parse().expect("value"));
        assert_eq!(presented_token(&headers), None);
        assert_eq!(tenant_segment("/v1/tenants/acme/events"), Some("acme"));
        assert_eq!(tenant_segment("/v1/tenants/acme"), Some("acme"));
        assert_eq!(tenant_segment("/v1/profiles"), None);
    }

    #[test]
    fn bearer_check() {
        let expected = Sensitive::new("s3cret");
        let mut headers = HeaderMap::new();
        assert!(!bearer_matches(&headers, &expected));
        headers.insert(
            header::AUTHORIZATION,
            "Bearer s3cret".parse().expect("value"),
        );
        assert!(bearer_matches(&headers, &expected));
        headers.insert(
            header::AUTHORIZATION,
            "Bearer s3cre".parse().expect("value"),
        );
        assert!(!bearer_matches(&headers, &expected));
        headers.insert(
            header::AUTHORIZATION,
            "Basic s3cret".parse().expect("value"),
        );
        assert!(!bearer_matches(&headers, &expected));
    }
}
