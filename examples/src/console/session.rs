//! The console's signed tokens: portal links, session cookies and CSRF tokens.
//!
//! Each token is `<kind>.<tenant>.<expires_ms>.<nonce>.<mac>`: the MAC is an
//! HMAC-SHA256 under a key derived from the admin token, so a node of a cluster
//! accepts what another issued (they share the admin token), a restart keeps
//! sessions, and changing the admin token ends them all. Tenant names are
//! `[A-Za-z0-9_-]`, so `.` separates fields and `*` (the admin) is no tenant.
//!
//! A portal link works once: its nonce is remembered until the link expires. A
//! signed-out session's nonce is remembered until the session would have expired.
//! Both memories are this process's own (see docs/console.md "Limits").

use std::collections::HashMap;
use std::sync::Mutex;

use herald::{TenantId, Timestamp};
use hmac::{Hmac, KeyInit, Mac};
use rand::RngCore;
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::config::Sensitive;
use crate::console_config::ConsoleSettings;

type HmacSha256 = Hmac<Sha256>;

/// The most nonces remembered (used links, signed-out sessions); past it the oldest
/// expired ones are dropped first, then new sign-ins wait for room (refused).
const MAX_REMEMBERED: usize = 100_000;

/// Who a session acts for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Viewer {
    /// The admin: every tenant.
    Admin,
    /// One tenant, as its `tenant` key would.
    Tenant(TenantId),
}

impl Viewer {
    /// Whether this viewer may see `tenant`.
    pub(crate) fn may_see(&self, tenant: &TenantId) -> bool {
        match self {
            Viewer::Admin => true,
            Viewer::Tenant(own) => own == tenant,
        }
    }

    fn field(&self) -> &str {
        match self {
            Viewer::Admin => "*",
            Viewer::Tenant(tenant) => tenant.as_str(),
        }
    }
}

/// A session read from its cookie.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    /// Who it acts for.
    pub(crate) viewer: Viewer,
    /// Its nonce, which its CSRF token is derived from.
    nonce: String,
    /// When it ends.
    pub(crate) expires_at: Timestamp,
}

/// A new token and when it stops working.
#[derive(Debug)]
pub(crate) struct Issued {
    /// The token.
    pub(crate) token: String,
    /// When it expires.
    pub(crate) expires_at: Timestamp,
}

/// Issues and checks the console's tokens.
pub(crate) struct Sessions {
    key: [u8; 32],
    lifetimes: ConsoleSettings,
    /// Nonces that must not be accepted again, with when they stop mattering.
    spent: Mutex<HashMap<String, Timestamp>>,
}

impl std::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sessions").finish_non_exhaustive()
    }
}

const LINK: &str = "l";
const SESSION: &str = "s";

impl Sessions {
    /// Derives the signing key from the admin token; links and sessions last as
    /// `lifetimes` say.
    pub(crate) fn new(admin_token: &Sensitive, lifetimes: ConsoleSettings) -> Self {
        let mut mac = mac_with(admin_token.expose().as_bytes());
        mac.update(b"herald console v1");
        Self {
            key: mac.finalize().into_bytes().into(),
            lifetimes,
            spent: Mutex::new(HashMap::new()),
        }
    }

    /// A one-use login link's token for `tenant`, valid for the link lifetime.
    pub(crate) fn issue_link(&self, tenant: &TenantId, now: Timestamp) -> Issued {
        self.issue(
            LINK,
            tenant.as_str(),
            now.plus(self.lifetimes.link_lifetime),
        )
    }

    /// A session cookie's value for `viewer`, valid for the session lifetime.
    pub(crate) fn issue_session(&self, viewer: &Viewer, now: Timestamp) -> Issued {
        self.issue(
            SESSION,
            viewer.field(),
            now.plus(self.lifetimes.session_lifetime),
        )
    }

    /// Opens a portal link: its tenant when the token is genuine, unexpired and not
    /// used before; the link is spent from then on.
    ///
    /// # Errors
    /// A sentence for the person who opened it.
    pub(crate) fn redeem_link(
        &self,
        token: &str,
        now: Timestamp,
    ) -> Result<TenantId, &'static str> {
        let parts = self
            .verify(LINK, token)
            .ok_or("this sign-in link is not valid")?;
        if self.is_spent(parts.nonce) {
            return Err("this sign-in link was already used: ask for a new one");
        }
        if parts.expires_at <= now {
            return Err("this sign-in link has expired: ask for a new one");
        }
        let tenant =
            TenantId::parse(parts.subject).map_err(|_| "this sign-in link is not valid")?;
        self.spend(parts.nonce, parts.expires_at, now)
            .map_err(|()| "this sign-in link was already used: ask for a new one")?;
        Ok(tenant)
    }

    /// The session of a cookie's value, when genuine, unexpired and not signed out.
    pub(crate) fn session(&self, cookie: &str, now: Timestamp) -> Option<Session> {
        let parts = self.verify(SESSION, cookie)?;
        if parts.expires_at <= now || self.is_spent(parts.nonce) {
            return None;
        }
        let viewer = match parts.subject {
            "*" => Viewer::Admin,
            tenant => Viewer::Tenant(TenantId::parse(tenant).ok()?),
        };
        Some(Session {
            viewer,
            nonce: parts.nonce.to_owned(),
            expires_at: parts.expires_at,
        })
    }

    /// Ends `session` on this node: its cookie is refused from now on.
    pub(crate) fn sign_out(&self, session: &Session, now: Timestamp) {
        // Signing out twice, or with the memory full, leaves the cookie to expire.
        let _ = self.spend(&session.nonce, session.expires_at, now);
    }

    /// The CSRF token every form of `session` carries.
    pub(crate) fn csrf_token(&self, session: &Session) -> String {
        self.derive("csrf", &session.nonce)
    }

    /// Whether `presented` is `session`'s CSRF token.
    pub(crate) fn csrf_matches(&self, session: &Session, presented: &str) -> bool {
        bool::from(
            self.csrf_token(session)
                .as_bytes()
                .ct_eq(presented.as_bytes()),
        )
    }

    /// A nonce for the sign-in form's cookie, and the token its form carries.
    pub(crate) fn login_challenge(&self) -> (String, String) {
        let nonce = nonce();
        let token = self.derive("login", &nonce);
        (nonce, token)
    }

    /// Whether `presented` is the sign-in form token for the cookie's `nonce`.
    pub(crate) fn login_matches(&self, nonce: &str, presented: &str) -> bool {
        !nonce.is_empty()
            && bool::from(
                self.derive("login", nonce)
                    .as_bytes()
                    .ct_eq(presented.as_bytes()),
            )
    }

    fn issue(&self, kind: &str, subject: &str, expires_at: Timestamp) -> Issued {
        let body = format!("{kind}.{subject}.{}.{}", expires_at.0, nonce());
        let mac = self.mac_hex(&body);
        Issued {
            token: format!("{body}.{mac}"),
            expires_at,
        }
    }

    fn verify<'a>(&self, kind: &str, token: &'a str) -> Option<Parts<'a>> {
        let (body, mac) = token.rsplit_once('.')?;
        if !bool::from(self.mac_hex(body).as_bytes().ct_eq(mac.as_bytes())) {
            return None;
        }
        let mut fields = body.split('.');
        let (found_kind, subject, expires, nonce) = (
            fields.next()?,
            fields.next()?,
            fields.next()?,
            fields.next()?,
        );
        if found_kind != kind || fields.next().is_some() {
            return None;
        }
        Some(Parts {
            subject,
            expires_at: Timestamp(expires.parse().ok()?),
            nonce,
        })
    }

    fn derive(&self, purpose: &str, nonce: &str) -> String {
        self.mac_hex(&format!("{purpose}.{nonce}"))
    }

    fn mac_hex(&self, text: &str) -> String {
        let mut mac = mac_with(&self.key);
        mac.update(text.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// Remembers `nonce` until `until`; `Err` when it was already remembered (or
    /// no room is left).
    fn spend(&self, nonce: &str, until: Timestamp, now: Timestamp) -> Result<(), ()> {
        let mut spent = self.spent.lock().unwrap_or_else(|p| p.into_inner());
        if spent.contains_key(nonce) {
            return Err(());
        }
        if spent.len() >= MAX_REMEMBERED {
            spent.retain(|_, until| *until > now);
            if spent.len() >= MAX_REMEMBERED {
                return Err(());
            }
        }
        spent.insert(nonce.to_owned(), until);
        Ok(())
    }

    fn is_spent(&self, nonce: &str) -> bool {
        self.spent
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains_key(nonce)
    }
}

struct Parts<'a> {
    subject: &'a str,
    expires_at: Timestamp,
    nonce: &'a str,
}

fn mac_with(key: &[u8]) -> HmacSha256 {
    HmacSha256::new_from_slice(key).expect("HMAC accepts any key length")
}

/// 128 random bits as 32 hex digits.
fn nonce() -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sessions() -> Sessions {
        Sessions::new(&Sensitive::new("a".repeat(32)), ConsoleSettings::default())
    }

    fn tenant(name: &str) -> TenantId {
        TenantId::parse(name).unwrap_or_else(|_| panic!("{name} is a tenant"))
    }

    #[test]
    fn a_link_opens_once_and_only_before_it_expires() {
        let sessions = sessions();
        let now = Timestamp(1_000_000);
        let link = sessions.issue_link(&tenant("acme"), now);
        assert_eq!(sessions.redeem_link(&link.token, now), Ok(tenant("acme")));
        assert!(
            sessions.redeem_link(&link.token, now).is_err(),
            "used twice"
        );
        let late = sessions.issue_link(&tenant("acme"), now);
        assert!(sessions
            .redeem_link(
                &late.token,
                now.plus(ConsoleSettings::default().link_lifetime)
            )
            .is_err());
    }

    #[test]
    fn a_changed_token_is_refused() {
        let sessions = sessions();
        let now = Timestamp(1_000_000);
        let link = sessions.issue_link(&tenant("acme"), now);
        let forged = link.token.replacen("acme", "evil", 1);
        assert!(sessions.redeem_link(&forged, now).is_err());
        let session = sessions.issue_session(&Viewer::Tenant(tenant("acme")), now);
        assert!(
            sessions.redeem_link(&session.token, now).is_err(),
            "a session is no link"
        );
        let other = Sessions::new(&Sensitive::new("b".repeat(32)), ConsoleSettings::default());
        assert!(
            other.session(&session.token, now).is_none(),
            "another admin token"
        );
        assert!(
            sessions.session(&link.token, now).is_none(),
            "a link is no session"
        );
    }

    #[test]
    fn sessions_expire_and_sign_out() {
        let sessions = sessions();
        let now = Timestamp(1_000_000);
        let issued = sessions.issue_session(&Viewer::Admin, now);
        let session = sessions.session(&issued.token, now).expect("valid");
        assert_eq!(session.viewer, Viewer::Admin);
        assert!(sessions
            .session(
                &issued.token,
                now.plus(ConsoleSettings::default().session_lifetime)
            )
            .is_none());
        let csrf = sessions.csrf_token(&session);
        assert!(sessions.csrf_matches(&session, &csrf));
        assert!(!sessions.csrf_matches(&session, "0"));
        sessions.sign_out(&session, now);
        assert!(sessions.session(&issued.token, now).is_none());
    }

    #[test]
    fn the_login_form_token_belongs_to_its_cookie() {
        let sessions = sessions();
        let (nonce, token) = sessions.login_challenge();
        assert!(sessions.login_matches(&nonce, &token));
        let (other, _) = sessions.login_challenge();
        assert!(!sessions.login_matches(&other, &token));
        assert!(!sessions.login_matches("", &token));
    }
}
