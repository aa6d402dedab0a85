//! The console's safety through a real `heraldd`, over HTTP: portal links (who may
//! make them, one use, expiry, forgery), the sign-in form, CSRF on every form, the
//! headers of every page, and that a session of one tenant reaches nothing of
//! another on any console route.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{Call, Daemon, Options, Reply, TOKEN};
use http::Method;
use serde_json::{json, Value};

const FORM: &str = "application/x-www-form-urlencoded";

async fn start(dir: &tempfile::TempDir, config: &str) -> Daemon {
    Daemon::start(dir.path(), Options::default().config(config)).await
}

/// A new portal link's path for `tenant`, made with the admin token.
async fn link(daemon: &Daemon, tenant: &str) -> String {
    let reply = daemon
        .send(Call::new(
            Method::POST,
            &format!("/v1/tenants/{tenant}/portal-links"),
        ))
        .await;
    assert_eq!(reply.status, 201, "{}", reply.text());
    reply.json["url"].as_str().unwrap().to_owned()
}

/// A browser-less visitor: a cookie jar of one cookie.
struct Visitor<'a> {
    daemon: &'a Daemon,
    cookie: String,
}

impl<'a> Visitor<'a> {
    /// Opens a fresh portal link of `tenant`.
    async fn of_tenant(daemon: &'a Daemon, tenant: &str) -> Visitor<'a> {
        let path = link(daemon, tenant).await;
        let reply = daemon.send(Call::new(Method::GET, &path).token(None)).await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        Visitor {
            daemon,
            cookie: session_cookie(&reply),
        }
    }

    async fn get(&self, path: &str) -> Reply {
        self.daemon
            .send(
                Call::new(Method::GET, path)
                    .token(None)
                    .header("cookie", &self.cookie),
            )
            .await
    }

    async fn post(&self, path: &str, form: &str) -> Reply {
        self.daemon
            .send(
                Call::new(Method::POST, path)
                    .token(None)
                    .header("cookie", &self.cookie)
                    .raw(FORM, form.to_owned()),
            )
            .await
    }

    /// The CSRF token of this session's forms, read from a page.
    async fn csrf(&self, page: &str) -> String {
        let reply = self.get(page).await;
        assert_eq!(reply.status, 200, "{page}: {}", reply.text());
        field_value(&reply.text(), "csrf").unwrap_or_else(|| panic!("{page} has no form"))
    }
}

/// `herald_console=...` from a `set-cookie` of `reply`.
fn session_cookie(reply: &Reply) -> String {
    reply
        .headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("herald_console=") && !v.starts_with("herald_console=;"))
        .map(|v| v.split(';').next().unwrap().to_owned())
        .unwrap_or_else(|| panic!("no session cookie in {:?}", reply.headers))
}

/// The `value` of the first `<input name="NAME">` of an HTML page.
fn field_value(html: &str, name: &str) -> Option<String> {
    let at = html.find(&format!("name=\"{name}\" value=\""))?;
    let rest = &html[at + name.len() + 15..];
    Some(rest[..rest.find('"')?].to_owned())
}

async fn endpoint(daemon: &Daemon, tenant: &str, url: &str) -> Value {
    let reply = daemon
        .post(
            &format!("/v1/tenants/{tenant}/endpoints"),
            &json!({ "url": url }),
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.text());
    reply.json
}

#[tokio::test]
async fn portal_links_are_made_by_the_admin_or_the_tenants_own_key() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = start(&dir, "").await;
    let reply = daemon
        .send(Call::new(Method::POST, "/v1/tenants/acme/portal-links"))
        .await;
    assert_eq!(reply.status, 201, "{}", reply.text());
    let url = reply.json["url"].as_str().unwrap();
    assert!(url.starts_with("/console/login?token=l.acme."), "{url}");
    let expires = reply.json["expires_at"].as_str().unwrap();
    assert!(expires.ends_with('Z'), "{expires}");

    let mut keys = std::collections::HashMap::new();
    for (tenant, scope) in [
        ("acme", "tenant"),
        ("acme", "publish"),
        ("acme", "read"),
        ("other", "tenant"),
    ] {
        let reply = daemon
            .post(
                &format!("/v1/tenants/{tenant}/keys"),
                &json!({ "scope": scope }),
            )
            .await;
        assert_eq!(reply.status, 201, "{}", reply.text());
        keys.insert(
            (tenant, scope),
            reply.json["token"].as_str().unwrap().to_owned(),
        );
    }
    let with_key =
        |key: &str| Call::new(Method::POST, "/v1/tenants/acme/portal-links").token(Some(key));
    let own = daemon.send(with_key(&keys[&("acme", "tenant")])).await;
    assert_eq!(own.status, 201, "{}", own.text());
    for refused in [("acme", "publish"), ("acme", "read"), ("other", "tenant")] {
        let reply = daemon.send(with_key(&keys[&refused])).await;
        assert_eq!(reply.status, 403, "{refused:?}: {}", reply.text());
    }
    let anonymous = daemon.send(with_key(TOKEN).token(None)).await;
    assert_eq!(anonymous.status, 401);
    let unknown = daemon
        .post(
            "/v1/tenants/acme/portal-links",
            &json!({ "tenant": "other" }),
        )
        .await;
    assert_eq!(unknown.status, 422, "{}", unknown.text());
    let reserved = daemon
        .send(Call::new(Method::POST, "/v1/tenants/_herald/portal-links"))
        .await;
    assert_eq!(reserved.status, 403, "{}", reserved.text());
    let bad_tenant = daemon
        .send(Call::new(
            Method::POST,
            "/v1/tenants/not%20a%20tenant/portal-links",
        ))
        .await;
    assert!(
        matches!(bad_tenant.status, 400 | 422),
        "{}",
        bad_tenant.text()
    );
}

#[tokio::test]
async fn a_link_opens_once_before_it_expires_and_cannot_be_forged() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = start(&dir, "[console]\nlink_lifetime = \"3s\"\n").await;
    let path = link(&daemon, "acme").await;
    let open = |path: String| {
        let daemon = &daemon;
        async move { daemon.send(Call::new(Method::GET, &path).token(None)).await }
    };
    let first = open(path.clone()).await;
    assert_eq!(first.status, 200, "{}", first.text());
    let cookie_line = first
        .headers
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .unwrap();
    for flag in [
        "HttpOnly",
        "SameSite=Strict",
        "Path=/console",
        "Max-Age=43200",
    ] {
        assert!(cookie_line.contains(flag), "{flag} missing: {cookie_line}");
    }
    assert!(!cookie_line.contains("Secure"), "plain HTTP: {cookie_line}");
    let again = open(path.clone()).await;
    assert_eq!(again.status, 403);
    assert!(again.text().contains("already used"), "{}", again.text());
    assert!(
        again
            .headers
            .get_all("set-cookie")
            .iter()
            .all(|v| !v.to_str().unwrap().starts_with("herald_console=")),
        "no session from a used link"
    );

    let forged = path.replacen("l.acme.", "l.other.", 1);
    let other_daemon_link = link(&daemon, "acme").await.replace("token=l", "token=s");
    for bad in [
        forged,
        other_daemon_link,
        "/console/login?token=garbage".into(),
    ] {
        let reply = open(bad.clone()).await;
        assert_eq!(reply.status, 403, "{bad}");
        assert!(reply.text().contains("not valid"), "{}", reply.text());
    }

    let late = link(&daemon, "acme").await;
    tokio::time::sleep(Duration::from_millis(3_300)).await;
    let expired = open(late).await;
    assert_eq!(expired.status, 403);
    assert!(expired.text().contains("expired"), "{}", expired.text());
}

#[tokio::test]
async fn the_admin_signs_in_with_the_admin_key_only() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = start(&dir, "").await;
    let form = daemon
        .send(Call::new(Method::GET, "/console/login").token(None))
        .await;
    assert_eq!(form.status, 200);
    let login_cookie = form
        .headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("herald_login="))
        .map(|v| v.split(';').next().unwrap().to_owned())
        .unwrap();
    let csrf = field_value(&form.text(), "csrf").unwrap();
    let sign_in = |cookie: &str, body: String| {
        Call::new(Method::POST, "/console/login")
            .token(None)
            .header("cookie", cookie)
            .raw(FORM, body)
    };
    let no_cookie = daemon
        .send(sign_in("", format!("csrf={csrf}&key={TOKEN}")))
        .await;
    assert_eq!(no_cookie.status, 403, "a form without its cookie");
    let wrong_key = daemon
        .send(sign_in(
            &login_cookie,
            format!("csrf={csrf}&key=not-the-key"),
        ))
        .await;
    assert_eq!(wrong_key.status, 401);
    assert!(wrong_key
        .headers
        .get_all("set-cookie")
        .iter()
        .all(|v| !v.to_str().unwrap().starts_with("herald_console=s")));
    let admin = daemon
        .send(sign_in(&login_cookie, format!("csrf={csrf}&key={TOKEN}")))
        .await;
    assert_eq!(admin.status, 303, "{}", admin.text());
    let visitor = Visitor {
        daemon: &daemon,
        cookie: session_cookie(&admin),
    };
    let tenants = visitor.get("/console/tenants").await;
    assert_eq!(tenants.status, 200);
    // The admin sees every tenant, and its keys page.
    endpoint(&daemon, "acme", "http://127.0.0.1:9/a").await;
    let acme = visitor.get("/console/t/acme/endpoints").await;
    assert!(
        acme.text().contains("http://127.0.0.1:9/a"),
        "{}",
        acme.text()
    );
    assert_eq!(visitor.get("/console/t/acme/keys").await.status, 200);

    // Signing out ends the session on the server too.
    let csrf = visitor.csrf("/console/t/acme/endpoints").await;
    let out = visitor
        .post("/console/logout", &format!("csrf={csrf}"))
        .await;
    assert_eq!(out.status, 303);
    let after = visitor.get("/console/t/acme/endpoints").await;
    assert_eq!(after.status, 303, "a signed-out cookie is refused");
    assert_eq!(after.headers["location"], "/console/login");
}

#[tokio::test]
async fn every_form_needs_its_sessions_csrf_token() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = start(&dir, "").await;
    let created = endpoint(&daemon, "acme", "http://127.0.0.1:9/hook").await;
    let id = created["id"].as_str().unwrap();
    let visitor = Visitor::of_tenant(&daemon, "acme").await;
    let other_session = Visitor::of_tenant(&daemon, "acme").await;
    let page = format!("/console/t/acme/endpoints/{id}");
    let own = visitor.csrf(&page).await;
    let foreign = other_session.csrf(&page).await;
    assert_ne!(own, foreign, "each session has its own token");
    let action = format!("{page}/active");
    let last = if own.ends_with('0') { '1' } else { '0' };
    for form in [
        "active=false".to_owned(),
        "csrf=&active=false".to_owned(),
        format!("csrf={foreign}&active=false"),
        format!("csrf={}{last}&active=false", &own[..own.len() - 1]),
    ] {
        let reply = visitor.post(&action, &form).await;
        assert_eq!(reply.status, 403, "{form}");
    }
    // Without a session at all, a form leads to the sign-in page and changes nothing.
    let anonymous = daemon
        .send(
            Call::new(Method::POST, &action)
                .token(None)
                .raw(FORM, format!("csrf={own}&active=false")),
        )
        .await;
    assert_eq!(anonymous.status, 303);
    assert_eq!(anonymous.headers["location"], "/console/login");
    let unchanged = daemon
        .get(&format!("/v1/tenants/acme/endpoints/{id}"))
        .await;
    assert_eq!(unchanged.json["active"], true);
    assert_eq!(unchanged.json["version"], created["version"]);

    let done = visitor
        .post(&action, &format!("csrf={own}&active=false"))
        .await;
    assert_eq!(done.status, 303, "{}", done.text());
    let changed = daemon
        .get(&format!("/v1/tenants/acme/endpoints/{id}"))
        .await;
    assert_eq!(changed.json["active"], false);
    assert_eq!(changed.json["disabled_reason"], "manual");
}

#[tokio::test]
async fn every_page_carries_the_safety_headers() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = start(&dir, "").await;
    let visitor = Visitor::of_tenant(&daemon, "acme").await;
    for path in [
        "/console/login",
        "/console/t/acme/endpoints",
        "/console/t/acme/endpoints/new",
        "/console/t/acme/events",
        "/console/assets/console.css",
        "/console/t/other/endpoints",
    ] {
        let reply = visitor.get(path).await;
        let csp = reply.headers["content-security-policy"].to_str().unwrap();
        for directive in [
            "default-src 'none'",
            "script-src 'self'",
            "frame-ancestors 'none'",
            "form-action 'self'",
        ] {
            assert!(csp.contains(directive), "{path}: {csp}");
        }
        assert!(!csp.contains("unsafe"), "{path}: {csp}");
        assert_eq!(reply.headers["cache-control"], "no-store", "{path}");
        assert_eq!(reply.headers["referrer-policy"], "no-referrer", "{path}");
        assert_eq!(reply.headers["x-content-type-options"], "nosniff", "{path}");
    }
    let html = visitor.get("/console/t/acme/endpoints").await.text();
    assert!(!html.contains("<script>"), "no inline script");
    assert!(!html.contains("style=\""), "no inline style");
}

/// What tenant `other` holds, to check it is the same after acme's session tried
/// every console route on it.
/// (Deliveries' own progress is left out: it moves by itself.)
async fn holdings(daemon: &Daemon) -> Vec<Value> {
    let mut all = Vec::new();
    for (path, fields) in [
        (
            "endpoints",
            &["id", "url", "active", "headers", "event_types"][..],
        ),
        ("events", &["id", "type"][..]),
        ("keys", &["id", "scope"][..]),
    ] {
        let reply = daemon.get(&format!("/v1/tenants/other/{path}")).await;
        assert_eq!(reply.status, 200);
        for item in reply.json["data"].as_array().unwrap() {
            all.push(Value::Array(
                fields.iter().map(|f| item[*f].clone()).collect(),
            ));
        }
    }
    all
}

#[tokio::test]
async fn a_session_of_one_tenant_reaches_nothing_of_another() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = start(&dir, common::SHORT_SCHEDULE).await;
    let theirs = endpoint(&daemon, "other", "http://127.0.0.1:9/theirs").await;
    let their_endpoint = theirs["id"].as_str().unwrap().to_owned();
    let event = daemon
        .post(
            "/v1/tenants/other/events",
            &json!({ "type": "order.filled", "data": {"secret": "of other"} }),
        )
        .await;
    assert_eq!(event.status, 202, "{}", event.text());
    let their_event = event.json["id"].as_str().unwrap().to_owned();
    let deliveries = daemon
        .get(&format!(
            "/v1/tenants/other/events/{their_event}/deliveries"
        ))
        .await;
    let their_delivery = deliveries.json["data"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let key = daemon
        .post("/v1/tenants/other/keys", &json!({ "scope": "read" }))
        .await;
    let their_key = key.json["id"].as_str().unwrap().to_owned();
    let before = holdings(&daemon).await;

    let visitor = Visitor::of_tenant(&daemon, "acme").await;
    let csrf = visitor.csrf("/console/t/acme/endpoints").await;
    let mut tried = 0;
    for (method, template) in herald_examples::console_routes() {
        if !template.contains("{tenant}") {
            continue;
        }
        let id = if template.contains("/events/") {
            &their_event
        } else if template.contains("/deliveries/") {
            &their_delivery
        } else if template.contains("/keys/") {
            &their_key
        } else {
            &their_endpoint
        };
        let path = template.replace("{tenant}", "other").replace("{id}", id);
        let reply = if method == Method::GET {
            visitor.get(&path).await
        } else {
            let form = format!(
                "csrf={csrf}&url=http%3A%2F%2F127.0.0.1%3A9%2Fmine&active=false&scope=tenant"
            );
            visitor.post(&path, &form).await
        };
        assert_eq!(reply.status, 403, "{method} {path}: {}", reply.text());
        assert!(!reply.text().contains("of other"), "{method} {path} leaks");
        assert!(!reply.text().contains("theirs"), "{method} {path} leaks");
        tried += 1;
    }
    assert!(tried >= 20, "only {tried} tenant routes");

    // Their ids under acme's own tenant are not found either.
    for path in [
        format!("/console/t/acme/endpoints/{their_endpoint}"),
        format!("/console/t/acme/events/{their_event}"),
    ] {
        let reply = visitor.get(&path).await;
        assert_eq!(reply.status, 404, "{path}");
        assert!(!reply.text().contains("of other"));
    }
    let retry = visitor
        .post(
            &format!("/console/t/acme/deliveries/{their_delivery}/retry"),
            &format!("csrf={csrf}"),
        )
        .await;
    assert_eq!(retry.status, 404);
    // A tenant's session never manages keys, not even its own.
    assert_eq!(visitor.get("/console/t/acme/keys").await.status, 403);
    assert_eq!(
        visitor
            .post("/console/t/acme/keys", &format!("csrf={csrf}&scope=tenant"))
            .await
            .status,
        403
    );
    assert_eq!(holdings(&daemon).await, before, "tenant other changed");
}

#[tokio::test]
async fn over_https_the_session_cookie_is_secure() {
    let dir = tempfile::tempdir().unwrap();
    let (_daemon, target) = common::raw::start(dir.path(), "", true).await;
    let made = common::raw::ask(&target, "POST", "/v1/tenants/acme/portal-links", None).await;
    assert_eq!(made.status, 201, "{}", made.body);
    let url: Value = serde_json::from_str(&made.body).unwrap();
    let opened = common::raw::ask(&target, "GET", url["url"].as_str().unwrap(), None).await;
    assert_eq!(opened.status, 200, "{}", opened.body);
    let cookie = opened
        .head
        .lines()
        .find(|line| line.starts_with("set-cookie: herald_console="))
        .unwrap_or_else(|| panic!("no session cookie: {}", opened.head));
    for flag in ["; secure", "; httponly", "; samesite=strict"] {
        assert!(cookie.contains(flag), "{flag} missing: {cookie}");
    }
}

/// Percent-encodes form fields.
fn form(fields: &[(&str, &str)]) -> String {
    fields
        .iter()
        .map(|(name, value)| {
            let value: String = value
                .bytes()
                .map(|b| {
                    if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
                        char::from(b).to_string()
                    } else {
                        format!("%{b:02X}")
                    }
                })
                .collect();
            format!("{name}={value}")
        })
        .collect::<Vec<_>>()
        .join("&")
}

#[tokio::test]
async fn endpoint_forms_become_api_calls_and_bad_input_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = start(&dir, "").await;
    let visitor = Visitor::of_tenant(&daemon, "acme").await;
    let csrf = visitor.csrf("/console/t/acme/endpoints/new").await;
    let create = "/console/t/acme/endpoints";

    // Bad input: the form comes back with the reason, and nothing is created.
    for (fields, reason) in [
        (vec![("url", "")], "URL is required"),
        (vec![("url", "ftp://127.0.0.1/x")], "url"),
        (
            vec![("url", "http://127.0.0.1:9/x"), ("rate_limit", "fast")],
            "Rate limit must be a whole number",
        ),
        (
            vec![
                ("url", "http://127.0.0.1:9/x"),
                ("retry_schedule", "5, soon"),
            ],
            "Retry schedule",
        ),
        (
            vec![
                ("url", "http://127.0.0.1:9/x"),
                ("headers", "x-team payments"),
            ],
            "name: value",
        ),
        (
            vec![
                ("url", "http://127.0.0.1:9/x"),
                ("headers", "connection: close"),
            ],
            "connection",
        ),
        (
            vec![("url", "http://127.0.0.1:9/x"), ("profile", "nonesuch")],
            "profile",
        ),
        (
            vec![
                ("url", "http://127.0.0.1:9/x"),
                ("other_types", "bad type!"),
            ],
            "event_types",
        ),
    ] {
        let mut all = vec![("csrf", csrf.as_str())];
        all.extend(fields.iter().copied());
        let reply = visitor.post(create, &form(&all)).await;
        assert_eq!(reply.status, 422, "{fields:?}: {}", reply.text());
        assert!(
            reply.text().contains(reason),
            "{fields:?} should say {reason}: {}",
            reply.text()
        );
        // What was typed is kept in the form.
        if let Some((_, url)) = fields.iter().find(|(name, _)| *name == "url") {
            assert!(
                reply.text().contains(&format!("value=\"{url}\"")),
                "{fields:?}"
            );
        }
    }
    let none = daemon.get("/v1/tenants/acme/endpoints").await;
    assert_eq!(none.json["data"], json!([]), "bad input created something");

    // A good form is the API's create, and shows the secret once.
    let created = visitor
        .post(
            create,
            &form(&[
                ("csrf", &csrf),
                ("url", "http://127.0.0.1:9/orders"),
                ("description", "Orders"),
                ("other_types", "order.filled, position.*"),
                ("channels", "BTC-USD ETH-USD"),
                ("ordering", "fifo"),
                ("rate_limit", "20"),
                ("timeout_ms", "3000"),
                ("retry_schedule", "1, 2, 3"),
                ("headers", "x-team: payments\nx-env: prod"),
            ]),
        )
        .await;
    assert_eq!(created.status, 200, "{}", created.text());
    let listed = daemon.get("/v1/tenants/acme/endpoints").await;
    let endpoint = listed.json["data"][0].clone();
    let id = endpoint["id"].as_str().unwrap();
    assert_eq!(endpoint["url"], "http://127.0.0.1:9/orders");
    assert_eq!(
        endpoint["event_types"],
        json!(["order.filled", "position.*"])
    );
    assert_eq!(endpoint["channels"], json!(["BTC-USD", "ETH-USD"]));
    assert_eq!(endpoint["ordering"], "fifo");
    assert_eq!(endpoint["rate_limit"], 20);
    assert_eq!(endpoint["timeout_ms"], 3000);
    assert_eq!(endpoint["retry_schedule_secs"], json!([1, 2, 3]));
    assert_eq!(endpoint["headers"]["x-team"], "payments");
    let secret = created.text();
    assert!(secret.contains("whsec_"), "the secret is shown");

    // The edit form shows header names, never their values, and no secret.
    let edit_page = format!("/console/t/acme/endpoints/{id}/edit");
    let page = visitor.get(&edit_page).await.text();
    assert!(
        page.contains("x-team") && !page.contains("payments"),
        "{page}"
    );
    assert!(!page.contains("whsec_"));
    let detail = visitor
        .get(&format!("/console/t/acme/endpoints/{id}"))
        .await
        .text();
    assert!(
        detail.contains("x-team") && !detail.contains("payments") && !detail.contains("whsec_")
    );

    // An edit that leaves the headers empty keeps them; a blank rate limit clears it.
    let edited = visitor
        .post(
            &edit_page,
            &form(&[
                ("csrf", &csrf),
                ("url", "http://127.0.0.1:9/orders-v2"),
                ("other_types", "order.filled"),
                ("ordering", "fifo"),
                ("rate_limit", ""),
                ("timeout_ms", "3000"),
            ]),
        )
        .await;
    assert_eq!(edited.status, 303, "{}", edited.text());
    let after = daemon
        .get(&format!("/v1/tenants/acme/endpoints/{id}"))
        .await
        .json;
    assert_eq!(after["url"], "http://127.0.0.1:9/orders-v2");
    assert_eq!(after["event_types"], json!(["order.filled"]));
    assert_eq!(after["rate_limit"], Value::Null);
    assert_eq!(after["headers"]["x-env"], "prod", "headers kept");

    // A bad edit changes nothing.
    let version = after["version"].clone();
    let refused = visitor
        .post(&edit_page, &form(&[("csrf", &csrf), ("url", "not a url")]))
        .await;
    assert_eq!(refused.status, 422, "{}", refused.text());
    let same = daemon
        .get(&format!("/v1/tenants/acme/endpoints/{id}"))
        .await
        .json;
    assert_eq!(same["version"], version);

    // Removing every header is explicit.
    let cleared = visitor
        .post(
            &edit_page,
            &form(&[
                ("csrf", &csrf),
                ("url", "http://127.0.0.1:9/orders-v2"),
                ("clear_headers", "1"),
            ]),
        )
        .await;
    assert_eq!(cleared.status, 303);
    let bare = daemon
        .get(&format!("/v1/tenants/acme/endpoints/{id}"))
        .await
        .json;
    assert_eq!(bare["headers"], json!({}));
}

#[tokio::test]
async fn the_delivery_log_and_events_filter_by_status_type_and_time() {
    let receiver = herald_testkit::receiver::Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let daemon = start(&dir, "").await;
    let id = endpoint(&daemon, "acme", &receiver.url("/hook")).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for kind in ["order.filled", "position.closed"] {
        let reply = daemon
            .post(
                "/v1/tenants/acme/events",
                &json!({"type": kind, "data": {}}),
            )
            .await;
        assert_eq!(reply.status, 202);
    }
    assert!(receiver.wait_for(2, common::WAIT).await);
    let visitor = Visitor::of_tenant(&daemon, "acme").await;
    let log = format!("/console/t/acme/endpoints/{id}/attempts");
    common::eventually("both attempts logged", || {
        let visitor = &visitor;
        let log = log.clone();
        async move {
            let page = visitor.get(&log).await.text();
            (page.contains(">order.filled<") && page.contains(">position.closed<")).then_some(())
        }
    })
    .await;
    for base in [log.as_str(), "/console/t/acme/events"] {
        let typed = visitor
            .get(&format!("{base}?type=order.filled"))
            .await
            .text();
        assert!(
            typed.contains(">order.filled<") && !typed.contains(">position.closed<"),
            "{base}"
        );
        let later = visitor
            .get(&format!("{base}?since=2999-01-01T00%3A00&tz=-60"))
            .await;
        assert_eq!(later.status, 200);
        assert!(
            !later.text().contains(">order.filled<"),
            "{base}: nothing that late"
        );
        let earlier = visitor
            .get(&format!("{base}?since=2000-01-01T00%3A00&tz=-60"))
            .await
            .text();
        assert!(earlier.contains(">position.closed<"), "{base}");
        let bad = visitor.get(&format!("{base}?since=soon")).await.text();
        assert!(bad.contains("is not a date and time"), "{base}");
    }
    let failed = visitor.get(&format!("{log}?outcome=failure")).await.text();
    assert!(
        failed.contains("No attempts here"),
        "every attempt succeeded"
    );
    let succeeded = visitor.get(&format!("{log}?outcome=success")).await.text();
    assert!(succeeded.contains(">order.filled<"));
}
