//! Raw HTTP/1.1 over TCP or TLS, for tests that control each byte and when it is sent
//! (floods, drips, half heads) and time answers from the connect.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use herald_testkit::certs::TestCerts;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::{Daemon, Options, TOKEN, WAIT};

/// Any byte stream to the daemon: TCP or TLS.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// How to reach a daemon.
#[derive(Clone)]
pub struct Target {
    /// The daemon's address.
    pub addr: SocketAddr,
    /// Present for a TLS daemon: trusts its test CA.
    pub tls: Option<TlsConnector>,
}

impl Target {
    /// A TCP connection, without a TLS handshake even on a TLS daemon.
    pub async fn tcp(&self) -> TcpStream {
        tokio::time::timeout(WAIT, TcpStream::connect(self.addr))
            .await
            .expect("the daemon's listener takes the connection")
            .unwrap()
    }

    /// A connection ready for HTTP: TLS handshake done on a TLS daemon.
    pub async fn connect(&self) -> Box<dyn Io> {
        let tcp = self.tcp().await;
        match &self.tls {
            None => Box::new(tcp),
            Some(connector) => {
                let name = ServerName::try_from("localhost").unwrap();
                let tls = tokio::time::timeout(WAIT, connector.connect(name, tcp))
                    .await
                    .expect("the TLS handshake finishes")
                    .unwrap();
                Box::new(tls)
            }
        }
    }
}

/// Starts a daemon with the configuration file text `config`, over TLS (a fresh test
/// CA and certificate) when `tls`.
pub async fn start(dir: &Path, config: &str, tls: bool) -> (Daemon, Target) {
    let mut options = Options::default().config(config);
    let mut connector = None;
    if tls {
        let certs = TestCerts::generate();
        let (cert, key) = certs.write_server_pem(dir);
        options = options
            .env("HERALD_TLS_CERT", cert.to_str().unwrap())
            .env("HERALD_TLS_KEY", key.to_str().unwrap());
        connector = Some(TlsConnector::from(certs.client_config()));
    }
    let daemon = Daemon::start(dir, options).await;
    assert_eq!(daemon.scheme, if tls { "https" } else { "http" });
    let target = Target {
        addr: daemon.addr,
        tls: connector,
    };
    (daemon, target)
}

/// A request's bytes: `method path` with the test token (when `token`), and `body` as
/// JSON when given.
pub fn request(method: &str, path: &str, token: bool, close: bool, body: Option<&str>) -> Vec<u8> {
    let mut head = format!("{method} {path} HTTP/1.1\r\nhost: localhost\r\n");
    if token {
        head.push_str(&format!("authorization: Bearer {TOKEN}\r\n"));
    }
    if close {
        head.push_str("connection: close\r\n");
    }
    if let Some(body) = body {
        head.push_str(&format!(
            "content-type: application/json\r\ncontent-length: {}\r\n",
            body.len()
        ));
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(body.unwrap_or_default().as_bytes());
    bytes
}

/// An answer, and how long it took from the connect.
#[derive(Debug)]
pub struct Answer {
    /// The status code.
    pub status: u16,
    /// The status line and headers, lower-cased.
    pub head: String,
    /// The body as text.
    pub body: String,
    /// From the connect (or the start of the read) to the end of the answer.
    pub took: Duration,
}

impl Answer {
    /// Parses one whole answer from `raw`.
    pub fn parse(raw: &[u8], took: Duration) -> Answer {
        let text = String::from_utf8_lossy(raw).into_owned();
        let (head, body) = text
            .split_once("\r\n\r\n")
            .unwrap_or_else(|| panic!("no whole head in {text:?}"));
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|code| code.parse().ok())
            .unwrap_or_else(|| panic!("no status in {head:?}"));
        Answer {
            status,
            head: head.to_ascii_lowercase(),
            body: body.to_owned(),
            took,
        }
    }
}

/// One authenticated request on a connection of its own (`connection: close`), timed
/// from the connect to the end of the answer.
pub async fn ask(target: &Target, method: &str, path: &str, body: Option<&str>) -> Answer {
    let started = Instant::now();
    let mut stream = target.connect().await;
    stream
        .write_all(&request(method, path, true, true, body))
        .await
        .unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(WAIT, stream.read_to_end(&mut raw))
        .await
        .expect("the daemon answers")
        .unwrap();
    Answer::parse(&raw, started.elapsed())
}

/// Reads one answer whose length is given by `content-length` (every answer of the
/// API has one), leaving the connection open.
pub async fn read_answer(stream: &mut (impl AsyncRead + Unpin)) -> Answer {
    let started = Instant::now();
    let mut raw = Vec::new();
    let mut chunk = [0u8; 4096];
    let read = async {
        loop {
            if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
                let length: usize = head
                    .lines()
                    .find_map(|line| line.strip_prefix("content-length:"))
                    .map(|value| value.trim().parse().unwrap())
                    .unwrap_or(0);
                if raw.len() >= end + 4 + length {
                    return;
                }
            }
            let n = stream.read(&mut chunk).await.unwrap();
            assert!(n > 0, "the connection closed before a whole answer");
            raw.extend_from_slice(&chunk[..n]);
        }
    };
    tokio::time::timeout(WAIT, read)
        .await
        .expect("the daemon answers");
    Answer::parse(&raw, started.elapsed())
}

/// Whether the daemon closes `stream` within `limit` (anything it sends first, such as
/// an error answer, is read and dropped).
pub async fn closed_within(stream: &mut (impl AsyncRead + Unpin), limit: Duration) -> bool {
    let mut sink = [0u8; 1024];
    let closed = async {
        loop {
            match stream.read(&mut sink).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(limit, closed).await.is_ok()
}

/// Sends `prefix` at once, then `drip` one byte every `every`, while reading whatever
/// comes back. Returns what was read and whether the daemon closed the connection
/// before the last byte was sent.
pub async fn drip(
    stream: Box<dyn Io>,
    prefix: Vec<u8>,
    drip: Vec<u8>,
    every: Duration,
) -> (Vec<u8>, bool) {
    let (mut reader, mut writer) = tokio::io::split(stream);
    let writing = async move {
        let mut sent = writer.write_all(&prefix).await.is_ok();
        for byte in drip {
            if !sent {
                break;
            }
            tokio::time::sleep(every).await;
            sent = writer.write_all(&[byte]).await.is_ok();
        }
        if !sent {
            // A failed write is the daemon closing: the reader sees it too.
            std::future::pending::<()>().await;
        }
    };
    let mut received = Vec::new();
    let reading = async {
        let _ = reader.read_to_end(&mut received).await;
    };
    let closed = tokio::select! {
        () = reading => true,
        () = writing => false,
    };
    (received, closed)
}

/// A head that never ends, as drip bytes.
pub fn endless_head(bytes: usize) -> Vec<u8> {
    let mut head =
        b"GET /v1/tenants/acme/endpoints HTTP/1.1\r\nhost: localhost\r\nx-pad: ".to_vec();
    head.resize(bytes.max(head.len()), b'a');
    head
}

/// A publish's head announcing `length` bytes of body.
pub fn publish_head(token: bool, length: usize) -> Vec<u8> {
    let mut head = String::from("POST /v1/tenants/acme/events HTTP/1.1\r\nhost: localhost\r\n");
    if token {
        head.push_str(&format!("authorization: Bearer {TOKEN}\r\n"));
    }
    head.push_str(&format!(
        "content-type: application/json\r\ncontent-length: {length}\r\n\r\n"
    ));
    head.into_bytes()
}
