//! The bearer-token check of every `/v1` route, and the API token's origin: the
//! configuration, or one generated on first start and kept in `<data_dir>/api-token`.

use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rand::RngCore;
use subtle::ConstantTimeEq;

use super::error::ApiError;
use super::AppState;
use crate::config::Sensitive;

/// The file, inside the data dir, that keeps a generated token.
pub const TOKEN_FILE: &str = "api-token";

/// Layer: answers 401 unless the request carries `authorization: Bearer <api token>`.
pub(crate) async fn require_token(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    if bearer_matches(request.headers(), &state.api_token) {
        next.run(request).await
    } else {
        ApiError::unauthorized().into_response()
    }
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
            let token = text.trim();
            if token.is_empty() {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{} is empty", path.display()),
                ));
            }
            return Ok(StoredToken {
                token: Sensitive::new(token),
                generated: false,
                path,
            });
        }
        Err(error) if error.kind() == io::ErrorKind::NotFound => {}
        Err(error) => return Err(error),
    }
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
        let _ = std::fs::remove_dir_all(dir);
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
