//! Responses with a status become outcomes with that status (delivery.md §3).
#![allow(clippy::unwrap_used)]

mod common;

use common::{permissive_transport, request, BODY, WAIT};
use herald::transport::Transport;
use herald_testkit::receiver::{Mode, Receiver};

#[tokio::test]
async fn a_2xx_is_reported_with_its_status_and_body() {
    let receiver = Receiver::start().await;
    let outcome = permissive_transport()
        .send(request(&receiver.url("/hook")))
        .await;
    assert_eq!(outcome.status, Some(200));
    assert_eq!(outcome.error, None);
    assert_eq!(outcome.body, "ok");
    assert_eq!(outcome.retry_after, None);
    assert!(outcome.duration < WAIT);
}

/// delivery.md §1: every attempt is one POST with the engine's headers and body as given.
#[tokio::test]
async fn the_request_is_a_post_with_the_given_headers_and_body() {
    let receiver = Receiver::start().await;
    permissive_transport()
        .send(request(&receiver.url("/hook")))
        .await;
    assert!(receiver.wait_for(1, WAIT).await);
    let got = &receiver.requests()[0];
    assert_eq!(got.method, http::Method::POST);
    assert_eq!(got.path, "/hook");
    assert_eq!(got.header("webhook-id"), Some("evt_test"));
    assert_eq!(got.header("content-type"), Some("application/json"));
    assert_eq!(got.header("x-delivery-attempt"), Some("1"));
    assert_eq!(&got.body[..], BODY);
    assert_eq!(got.version, http::Version::HTTP_11);
}

#[tokio::test]
async fn a_500_is_reported_as_its_status() {
    let receiver = Receiver::builder()
        .mode("/fail", Mode::Status(500))
        .start()
        .await;
    let outcome = permissive_transport()
        .send(request(&receiver.url("/fail")))
        .await;
    assert_eq!(outcome.status, Some(500));
    assert_eq!(outcome.error, None);
}

#[tokio::test]
async fn a_410_is_reported_as_its_status() {
    let receiver = Receiver::builder().mode("/gone", Mode::Gone).start().await;
    let outcome = permissive_transport()
        .send(request(&receiver.url("/gone")))
        .await;
    assert_eq!(outcome.status, Some(410));
}

/// delivery.md §3: redirects are never followed.
#[tokio::test]
async fn a_302_is_reported_and_not_followed() {
    let receiver = Receiver::builder()
        .mode("/moved", Mode::Redirect("/elsewhere".into()))
        .start()
        .await;
    let outcome = permissive_transport()
        .send(request(&receiver.url("/moved")))
        .await;
    assert_eq!(outcome.status, Some(302));
    assert_eq!(receiver.count(), 1);
    assert!(receiver.requests_to("/elsewhere").is_empty());
}

/// delivery.md §3: `Retry-After` in seconds is captured as sent.
#[tokio::test]
async fn retry_after_in_seconds_is_captured_raw() {
    let receiver = Receiver::builder()
        .mode(
            "/busy",
            Mode::RetryAfter {
                status: 429,
                value: "120".into(),
            },
        )
        .start()
        .await;
    let outcome = permissive_transport()
        .send(request(&receiver.url("/busy")))
        .await;
    assert_eq!(outcome.status, Some(429));
    assert_eq!(outcome.retry_after.as_deref(), Some("120"));
}

/// delivery.md §3: `Retry-After` as an HTTP date is captured as sent.
#[tokio::test]
async fn retry_after_as_an_http_date_is_captured_raw() {
    let date = "Wed, 21 Oct 2026 07:28:00 GMT";
    let receiver = Receiver::builder()
        .mode(
            "/down",
            Mode::RetryAfter {
                status: 503,
                value: date.into(),
            },
        )
        .start()
        .await;
    let outcome = permissive_transport()
        .send(request(&receiver.url("/down")))
        .await;
    assert_eq!(outcome.status, Some(503));
    assert_eq!(outcome.retry_after.as_deref(), Some(date));
}
