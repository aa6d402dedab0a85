//! The console in a real headless Chromium, against a real `heraldd` on sled and a
//! real receiver: a customer opens a portal link, adds an endpoint, copies the
//! secret shown once, sends a test event and finds it in the log, watches a
//! delivery die while the receiver fails, replays it from the dead letters, rotates
//! the secret, disables and deletes the endpoint; a reused or expired link and a
//! forged form are refused. Every main page passes the accessibility audit and the
//! keyboard walk, and is photographed narrow and wide into a folder the test prints.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{Call, Daemon, Options};
use fantoccini::Locator;
use herald_testkit::browser::Browser;
use herald_testkit::receiver::{Mode, Receiver};
use http::Method;

const WAIT: Duration = Duration::from_secs(30);

/// Window sizes the pages are photographed in: a phone and a desktop.
const SIZES: [(&str, u32, u32); 2] = [("narrow", 390, 844), ("wide", 1280, 900)];

struct Tour {
    browser: Browser,
    daemon: Daemon,
    shots: PathBuf,
}

impl Tour {
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.daemon.addr)
    }

    async fn link(&self, tenant: &str) -> String {
        let reply = self
            .daemon
            .send(Call::new(
                Method::POST,
                &format!("/v1/tenants/{tenant}/portal-links"),
            ))
            .await;
        assert_eq!(reply.status, 201, "{}", reply.text());
        self.url(reply.json["url"].as_str().unwrap())
    }

    async fn see(&self, text: &str) {
        if let Err(error) = self.browser.wait_for_text(text, WAIT).await {
            let page = self.browser.page_text().await.unwrap_or_default();
            panic!("{error:#}\npage:\n{page}");
        }
    }

    /// Reloads the page until it shows `text`.
    async fn see_after_reloads(&self, text: &str) {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if self.browser.page_text().await.unwrap().contains(text) {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "`{text}` never appeared:\n{}",
                self.browser.page_text().await.unwrap()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
            self.browser.client().refresh().await.unwrap();
        }
    }

    async fn text_of(&self, css: &str) -> String {
        let element = self.browser.client().find(Locator::Css(css)).await.unwrap();
        element.text().await.unwrap()
    }

    /// Clicks a button whose form asks first, and accepts.
    async fn click_and_confirm(&self, css: &str) {
        self.browser.click(css).await.unwrap();
        self.browser.client().accept_alert().await.unwrap();
    }

    /// The audit and the keyboard walk on the current page, then a photograph of it
    /// at each size.
    async fn check_page(&self, name: &str) {
        for (size, width, height) in SIZES {
            self.browser.set_window_size(width, height).await.unwrap();
            let path = self
                .browser
                .screenshot(&self.shots, &format!("{name}-{size}"))
                .await
                .unwrap();
            assert!(std::fs::metadata(&path).unwrap().len() > 1000, "{path:?}");
        }
        self.browser.set_window_size(1280, 900).await.unwrap();
        let problems = self.browser.accessibility_problems().await.unwrap();
        assert!(problems.is_empty(), "{name}: {problems:#?}");
        let unreachable = self.browser.keyboard_reachable().await.unwrap();
        assert!(
            unreachable.is_empty(),
            "{name}: not reachable by keyboard: {unreachable:#?}"
        );
    }
}

fn screenshot_dir() -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("herald-console-screenshots-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    println!("console screenshots: {}", dir.display());
    dir
}

#[tokio::test]
async fn a_customer_manages_webhooks_in_the_console() {
    let receiver = Receiver::builder().record(true).start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "{}breaker_threshold = 100\n[console]\nlink_lifetime = \"5s\"\n",
        common::SHORT_SCHEDULE
    );
    let options = Options {
        storage: "sled",
        ..Options::default()
    }
    .config(&config);
    let daemon = Daemon::start(dir.path(), options).await;
    let browser = match Browser::start().await {
        Ok(browser) => browser,
        Err(error) => panic!("{error:#}"),
    };
    let tour = Tour {
        browser,
        daemon,
        shots: screenshot_dir(),
    };
    run(&tour, &receiver).await;
    tour.browser.close().await.unwrap();
}

async fn run(tour: &Tour, receiver: &Receiver) {
    let browser = &tour.browser;

    // The portal link signs in and lands on the (empty) endpoint list.
    let link = tour.link("acme").await;
    browser.goto(&link).await.unwrap();
    tour.see("No endpoints yet").await;
    // Opened again, the link signs nobody in.
    browser.goto(&link).await.unwrap();
    tour.see("already used").await;
    tour.check_page("login").await;
    browser.goto(&tour.url("/console/")).await.unwrap();
    tour.see("No endpoints yet").await;
    tour.check_page("endpoints-empty").await;

    // Add an endpoint pointing at the receiver.
    browser.click("a[href$='/endpoints/new']").await.unwrap();
    tour.see("Add endpoint").await;
    tour.check_page("endpoint-new").await;
    browser.fill("#url", &receiver.url("/hook")).await.unwrap();
    browser
        .fill("#description", "Order notifications")
        .await
        .unwrap();
    browser
        .fill("#other_types", "webhook.test, order.*")
        .await
        .unwrap();
    browser.select_by_value("#ordering", "fifo").await.unwrap();
    browser
        .click("form.card button[type=submit]")
        .await
        .unwrap();
    tour.see("Copy this signing secret now").await;
    let secret = tour.text_of("#secret").await;
    assert!(secret.starts_with("whsec_"), "{secret}");
    tour.check_page("secret").await;
    browser
        .click("a.button[href*='/endpoints/ep_']")
        .await
        .unwrap();
    tour.see("Health").await;
    let endpoint_url = browser.current_url().await.unwrap().to_string();
    let page = browser.page_text().await.unwrap();
    assert!(page.contains("fifo") && page.contains("order.*"), "{page}");
    assert!(!page.contains(&secret), "the secret is shown only once");

    // A test event reaches the receiver, signed with the secret that was shown.
    browser.click("form[action$='/test'] button").await.unwrap();
    tour.see("Payload").await;
    tour.see_after_reloads("Succeeded").await;
    tour.check_page("event").await;
    assert!(receiver.wait_for(1, WAIT).await);
    let delivered = &receiver.requests_to("/hook")[0];
    delivered.verify_standard(&secret).unwrap();

    // The attempt is in the delivery log.
    browser.goto(&endpoint_url).await.unwrap();
    browser.click("a[href$='/attempts']").await.unwrap();
    tour.see("Delivery log").await;
    tour.see("webhook.test").await;
    assert!(browser.page_text().await.unwrap().contains("200"));
    tour.check_page("delivery-log").await;

    // The receiver fails until the next test event is dead.
    receiver.set_mode("/hook", Mode::Status(500));
    browser.goto(&endpoint_url).await.unwrap();
    browser.click("form[action$='/test'] button").await.unwrap();
    tour.see("Payload").await;
    tour.see_after_reloads("Dead").await;
    browser
        .goto(&format!("{endpoint_url}/dead-letters"))
        .await
        .unwrap();
    tour.see("Replay all dead letters").await;
    tour.check_page("dead-letters").await;

    // Replayed from the dead letters once the receiver works, it succeeds.
    receiver.set_mode("/hook", Mode::Ok);
    let before = receiver.requests_to("/hook").len();
    tour.click_and_confirm("form[action$='/replay'] button")
        .await;
    tour.see("queued again").await;
    tour.see_after_reloads("No dead letters").await;
    assert!(receiver.wait_for(before + 1, WAIT).await);
    let last = receiver.requests_to("/hook").pop().unwrap();
    last.verify_standard(&secret).unwrap();
    browser
        .goto(&tour.url("/console/t/acme/endpoints"))
        .await
        .unwrap();
    tour.see("Success rate").await;
    tour.check_page("endpoints").await;
    browser.goto(&endpoint_url).await.unwrap();
    tour.see("Health").await;
    tour.check_page("endpoint").await;

    // Rotation shows a new secret once.
    tour.click_and_confirm("form[action$='/rotate'] button")
        .await;
    tour.see("Secret rotated").await;
    let rotated = tour.text_of("#secret").await;
    assert!(rotated.starts_with("whsec_") && rotated != secret);
    browser.goto(&endpoint_url).await.unwrap();

    // A forged form (its CSRF token altered in the page) is refused and changes
    // nothing.
    browser
        .client()
        .execute(
            "document.querySelectorAll('input[name=csrf]').forEach(i => i.value = 'forged');",
            vec![],
        )
        .await
        .unwrap();
    browser
        .click("form[action$='/active'] button")
        .await
        .unwrap();
    tour.see("did not come from this console").await;
    browser.goto(&endpoint_url).await.unwrap();
    tour.see("Enabled").await;

    // Disable, then delete after the confirmation page.
    browser
        .click("form[action$='/active'] button")
        .await
        .unwrap();
    tour.see("The endpoint is disabled").await;
    browser.click("a[href$='/delete']").await.unwrap();
    tour.see("This cannot be undone").await;
    tour.check_page("delete").await;
    browser
        .click("form[action$='/delete'] button")
        .await
        .unwrap();
    tour.see("The endpoint was deleted").await;
    tour.see("No endpoints yet").await;

    // A link opened too late signs nobody in.
    let late = tour.link("acme").await;
    tokio::time::sleep(Duration::from_millis(5_300)).await;
    browser.goto(&late).await.unwrap();
    tour.see("has expired").await;

    let shots: Vec<_> = std::fs::read_dir(&tour.shots)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    assert!(shots.len() >= 20, "{shots:?}");
    assert!(shots.iter().all(|p| is_png(p)));
}

fn is_png(path: &Path) -> bool {
    std::fs::read(path).is_ok_and(|bytes| bytes.starts_with(b"\x89PNG"))
}
