//! A request that asks for Title-Case header names gets them on the wire over
//! HTTP/1.1 (`X-Webhook-Signature`), one that does not goes in lower case: seen by a
//! raw socket that reads the bytes as sent.
#![allow(clippy::unwrap_used)]

mod common;

use common::{permissive_transport, request, WAIT};
use herald::transport::Transport;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Accepts one connection, reads one request's head (and its body), answers 204,
/// and returns the head as received.
async fn raw_head(listener: TcpListener) -> String {
    let (mut socket, _) = listener.accept().await.unwrap();
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    let head_end = loop {
        let n = socket.read(&mut buf).await.unwrap();
        assert!(n > 0, "the connection closed before a whole head");
        received.extend_from_slice(&buf[..n]);
        if let Some(at) = received.windows(4).position(|w| w == b"\r\n\r\n") {
            break at;
        }
        assert!(received.len() < 64 * 1024, "a head too long");
    };
    let head = String::from_utf8_lossy(&received[..head_end]).into_owned();
    let length: usize = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })
        .unwrap_or(0);
    while received.len() < head_end + 4 + length {
        let n = socket.read(&mut buf).await.unwrap();
        assert!(n > 0);
        received.extend_from_slice(&buf[..n]);
    }
    socket
        .write_all(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n")
        .await
        .unwrap();
    head
}

async fn head_sent(title_case: bool) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hooks", listener.local_addr().unwrap());
    let server = tokio::spawn(raw_head(listener));
    let mut request = request(&url);
    request
        .headers
        .insert("x-webhook-signature", "abc".parse().unwrap());
    request.title_case_headers = title_case;
    let outcome = tokio::time::timeout(WAIT, permissive_transport().send(request))
        .await
        .unwrap();
    assert_eq!(outcome.status, Some(204));
    tokio::time::timeout(WAIT, server).await.unwrap().unwrap()
}

#[tokio::test]
async fn title_case_requests_send_title_case_names() {
    let head = head_sent(true).await;
    assert!(head.contains("\r\nX-Webhook-Signature: abc"), "{head}");
    assert!(
        head.contains("\r\nContent-Type: application/json"),
        "{head}"
    );
    assert!(head.contains("\r\nWebhook-Id: evt_test"), "{head}");
}

#[tokio::test]
async fn other_requests_send_lower_case_names() {
    let head = head_sent(false).await;
    assert!(head.contains("\r\nx-webhook-signature: abc"), "{head}");
    assert!(
        head.contains("\r\ncontent-type: application/json"),
        "{head}"
    );
}
