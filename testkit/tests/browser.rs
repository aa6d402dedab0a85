//! The browser harness against a real headless Chromium: pages served by a hyper
//! server of the test, the accessibility audit on a good and a bad page, the
//! keyboard walk, a form filled and submitted, a screenshot, and the cleanup.
#![allow(clippy::unwrap_used)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use bytes::Bytes;
use herald_testkit::browser::Browser;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// The bound on every wait of these tests.
const WAIT: Duration = Duration::from_secs(20);

/// Everything a keyboard and screen-reader user needs: names on every control,
/// one h1, lang and title, a radio group, a hidden input, an icon button.
const GOOD: &str = r##"<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Subscribe</title></head>
<body>
<a href="#main">Skip to the form</a>
<main id="main">
<h1>Subscribe</h1>
<img src="data:," alt="">
<form method="post" action="/greet">
  <p><label for="name">Name</label> <input id="name" name="name" type="text"></p>
  <p><label>Plan <select name="plan">
    <option value="free">Free</option><option value="pro">Pro</option>
  </select></label></p>
  <p><textarea name="note" aria-label="Note"></textarea></p>
  <fieldset><legend>Format</legend>
    <label><input type="radio" name="format" value="json" checked> JSON</label>
    <label><input type="radio" name="format" value="form"> Form</label>
  </fieldset>
  <input type="hidden" name="token" value="t">
  <button type="submit">Subscribe</button>
</form>
<p><a href="/bad">A page with problems</a></p>
<button type="button" aria-label="Close"><span aria-hidden="true">x</span></button>
</main>
</body>
</html>"##;

/// Deliberate problems: an unlabelled input, an empty button, two h1s, a positive
/// tabindex, and a link taken off the keyboard's path.
const BAD: &str = r##"<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Problems</title></head>
<body>
<h1>First heading</h1>
<h1>Second heading</h1>
<form>
  <input id="unlabelled" name="q" type="text">
  <button id="empty" type="button"></button>
  <input id="jumpy" type="text" aria-label="Jumpy" tabindex="3">
</form>
<a id="unreachable" href="/" tabindex="-1">Home</a>
</body>
</html>"##;

/// The pages' server on 127.0.0.1:0; stops when dropped.
struct Site {
    addr: SocketAddr,
    accept: JoinHandle<()>,
}

impl Site {
    async fn start() -> Site {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accept = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                tokio::spawn(async move {
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service_fn(page))
                        .await;
                });
            }
        });
        Site { addr, accept }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// `/`: the good page; `/bad`: the bad one; `POST /greet`: echoes the form.
async fn page(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let html = |status: StatusCode, body: String| {
        Response::builder()
            .status(status)
            .header("content-type", "text/html; charset=utf-8")
            .body(Full::new(Bytes::from(body)))
            .unwrap()
    };
    let response = match (request.method().clone(), request.uri().path()) {
        (Method::GET, "/") => html(StatusCode::OK, GOOD.to_owned()),
        (Method::GET, "/bad") => html(StatusCode::OK, BAD.to_owned()),
        (Method::POST, "/greet") => {
            let body = request.into_body().collect().await.unwrap().to_bytes();
            let field = |name: &str| {
                url::form_urlencoded::parse(&body)
                    .find(|(key, _)| key == name)
                    .map(|(_, value)| escape(&value))
                    .unwrap_or_default()
            };
            html(
                StatusCode::OK,
                format!(
                    r#"<!doctype html><html lang="en"><head><title>Welcome</title></head>
                    <body><h1>Hello, {name}!</h1><p>plan: {plan}; note: {note}; format: {format}</p>
                    </body></html>"#,
                    name = field("name"),
                    plan = field("plan"),
                    note = field("note"),
                    format = field("format"),
                ),
            )
        }
        _ => html(StatusCode::NOT_FOUND, "not found".to_owned()),
    };
    Ok(response)
}

/// `text` safe inside HTML.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A started browser, or a failure with why (a missing browser fails, never skips).
async fn browser() -> Browser {
    Browser::start().await.unwrap_or_else(|e| panic!("{e:#}"))
}

#[tokio::test]
async fn an_accessible_page_passes_the_audit_and_the_keyboard_reaches_everything() {
    let site = Site::start().await;
    let browser = browser().await;
    browser.goto(&site.url("/")).await.unwrap();

    let problems = browser.accessibility_problems().await.unwrap();
    assert!(problems.is_empty(), "{problems:#?}");
    let missed = browser.keyboard_reachable().await.unwrap();
    assert!(missed.is_empty(), "never focused: {missed:#?}");
    // The walk leaves the page as it found it.
    assert_eq!(
        browser
            .client()
            .execute(
                "return document.getElementById('__herald-keyboard-start') === null",
                vec![]
            )
            .await
            .unwrap(),
        serde_json::Value::Bool(true)
    );
    browser.close().await.unwrap();
}

#[tokio::test]
async fn a_page_with_problems_gets_each_one_named() {
    let site = Site::start().await;
    let browser = browser().await;
    browser.goto(&site.url("/bad")).await.unwrap();

    let problems = browser.accessibility_problems().await.unwrap();
    let named = |element: &str, problem: &str| {
        problems
            .iter()
            .any(|p| p.starts_with(element) && p.contains(problem))
    };
    assert!(
        named("input#unlabelled", "no accessible name"),
        "{problems:#?}"
    );
    assert!(named("button#empty", "no accessible name"), "{problems:#?}");
    assert!(named("<h1>", "has 2, not exactly one"), "{problems:#?}");
    assert!(named("input#jumpy", "positive tabindex=3"), "{problems:#?}");
    assert!(named("a#unreachable", "tabindex=-1"), "{problems:#?}");
    assert_eq!(problems.len(), 5, "nothing else: {problems:#?}");

    let missed = browser.keyboard_reachable().await.unwrap();
    assert_eq!(missed.len(), 1, "{missed:#?}");
    assert!(missed[0].starts_with("a#unreachable"), "{missed:#?}");
    browser.close().await.unwrap();
}

#[tokio::test]
async fn a_form_is_filled_and_submitted_and_the_page_screenshotted() {
    let site = Site::start().await;
    let browser = browser().await;
    browser.goto(&site.url("/")).await.unwrap();

    browser.fill("#name", "Ada <Lovelace>").await.unwrap();
    browser
        .select_by_value("select[name=plan]", "pro")
        .await
        .unwrap();
    browser.fill("textarea[name=note]", "first").await.unwrap();
    // `fill` replaces what was there.
    browser.fill("textarea[name=note]", "second").await.unwrap();
    browser.click("input[value=form]").await.unwrap();
    browser.click("button[type=submit]").await.unwrap();

    browser
        .wait_for_text("Hello, Ada <Lovelace>!", WAIT)
        .await
        .unwrap();
    let text = browser.page_text().await.unwrap();
    assert!(
        text.contains("plan: pro; note: second; format: form"),
        "{text}"
    );
    assert_eq!(browser.current_url().await.unwrap().path(), "/greet");
    let absent = browser.wait_for_text("not on the page", Duration::from_millis(300));
    assert!(absent.await.is_err());

    let shots = tempfile::tempdir().unwrap();
    let wide = browser.screenshot(shots.path(), "welcome").await.unwrap();
    assert_eq!(wide, shots.path().join("welcome.png"));
    assert!(png_width(&wide) > 400, "{}", wide.display());
    browser.set_window_size(400, 700).await.unwrap();
    let narrow = browser
        .screenshot(shots.path(), "narrow.png")
        .await
        .unwrap();
    assert_eq!(narrow, shots.path().join("narrow.png"));
    assert!(png_width(&narrow) <= 400, "{}", narrow.display());
    browser.close().await.unwrap();
}

#[tokio::test]
async fn closing_or_dropping_the_browser_ends_chromium() {
    let closed = browser().await;
    let pid = closed
        .chromium_pid()
        .expect("chromedriver reports Chromium's pid");
    assert!(alive(pid), "Chromium {pid} runs");
    closed.close().await.unwrap();
    assert!(
        gone_within(pid, WAIT).await,
        "Chromium {pid} outlived close"
    );

    let dropped = browser().await;
    let pid = dropped
        .chromium_pid()
        .expect("chromedriver reports Chromium's pid");
    assert!(alive(pid), "Chromium {pid} runs");
    drop(dropped);
    assert!(
        gone_within(pid, WAIT).await,
        "Chromium {pid} outlived the drop"
    );
}

/// The width in the header of the PNG `file`, after checking it is a PNG.
fn png_width(file: &Path) -> u32 {
    let png = std::fs::read(file).unwrap();
    assert!(png.len() > 24, "{} bytes", png.len());
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "a PNG signature");
    assert_eq!(&png[12..16], b"IHDR");
    u32::from_be_bytes(png[16..20].try_into().unwrap())
}

/// Whether process `pid` runs (a zombie does not).
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        // The state follows the command's closing parenthesis.
        let state = stat.rsplit_once(')').map(|(_, rest)| rest.trim_start());
        !state.is_some_and(|rest| rest.starts_with('Z') || rest.starts_with('X'))
    })
}

/// Waits, at most `timeout`, for process `pid` to be gone.
async fn gone_within(pid: u32, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while alive(pid) {
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    true
}
