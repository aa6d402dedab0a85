//! Connecting: the schema is migrated once, however many nodes start at once; a
//! database migrated by a newer build is refused; the keyring must open what the
//! database sealed; and no secret or header value is stored in the clear.
#![allow(clippy::unwrap_used)]

use herald::sealing::{Keyring, SealingKey};
use herald::storage::Storage;
use herald_storage_postgres::{ConnectError, PostgresStorage, SCHEMA_VERSION};
use herald_testkit::conformance::{endpoint, tenant};
use herald_testkit::postgres::TestPostgres;

/// A plain client on `url`, for looking at the tables as an operator would.
async fn psql(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
}

#[tokio::test]
async fn a_second_connect_finds_the_schema_and_the_data_in_place() {
    let url = TestPostgres::shared().database().await;
    let keyring = Keyring::generate();
    let first = PostgresStorage::connect(&url, keyring.clone())
        .await
        .unwrap();
    assert_eq!(first.schema_version().await.unwrap(), SCHEMA_VERSION);
    let ep = endpoint(&tenant("acme"));
    first.create_endpoint(&ep).await.unwrap();
    drop(first);

    let second = PostgresStorage::connect(&url, keyring).await.unwrap();
    assert_eq!(second.schema_version().await.unwrap(), SCHEMA_VERSION);
    assert_eq!(second.endpoint_by_id(&ep.id).await.unwrap(), Some(ep));
    let applied: i64 = psql(&url)
        .await
        .query_one("SELECT count(*) FROM herald_schema", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(applied, i64::from(SCHEMA_VERSION), "each migration once");
}

/// Nodes starting together on an empty database take turns on the migration lock:
/// one migrates, the others find it done.
#[tokio::test]
async fn nodes_connecting_at_once_to_an_empty_database_migrate_it_once() {
    let url = TestPostgres::shared().database().await;
    let keyring = Keyring::generate();
    let connects = (0..4).map(|_| PostgresStorage::connect(&url, keyring.clone()));
    for connected in futures::future::join_all(connects).await {
        connected.unwrap();
    }
    let applied: i64 = psql(&url)
        .await
        .query_one("SELECT count(*) FROM herald_schema", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(applied, i64::from(SCHEMA_VERSION));
}

#[tokio::test]
async fn a_database_migrated_by_a_newer_build_is_refused() {
    let url = TestPostgres::shared().database().await;
    let keyring = Keyring::generate();
    PostgresStorage::connect(&url, keyring.clone())
        .await
        .unwrap();
    psql(&url)
        .await
        .execute(
            "INSERT INTO herald_schema (version, name) VALUES ($1, 'from the future')",
            &[&(SCHEMA_VERSION + 1)],
        )
        .await
        .unwrap();
    let refused = PostgresStorage::connect(&url, keyring).await.unwrap_err();
    assert!(
        matches!(refused, ConnectError::SchemaTooNew { found, supported }
            if found == SCHEMA_VERSION + 1 && supported == SCHEMA_VERSION),
        "{refused:?}"
    );
    assert!(refused.to_string().contains("schema version"), "{refused}");
}

#[tokio::test]
async fn a_keyring_that_does_not_open_the_database_is_refused() {
    let url = TestPostgres::shared().database().await;
    let keyring = Keyring::generate();
    PostgresStorage::connect(&url, keyring.clone())
        .await
        .unwrap();

    let missing = PostgresStorage::connect(&url, Keyring::generate())
        .await
        .unwrap_err();
    assert!(
        matches!(&missing, ConnectError::MissingKey { id } if id == keyring.current().id()),
        "{missing:?}"
    );

    // Another key under the same id.
    let id = keyring.current().id();
    let other_bytes = SealingKey::generate().to_text();
    let (_, other_base64) = other_bytes.split_once(':').unwrap();
    let impostor = SealingKey::parse(&format!("{id}:{other_base64}")).unwrap();
    let wrong = PostgresStorage::connect(&url, Keyring::new(vec![impostor]).unwrap())
        .await
        .unwrap_err();
    assert!(
        matches!(&wrong, ConnectError::WrongKey { id: found } if found == id),
        "{wrong:?}"
    );

    // The right key, with a new current one before it: opens, and seals anew.
    let rotated = keyring.clone().with_current(SealingKey::generate());
    PostgresStorage::connect(&url, rotated).await.unwrap();
}

#[tokio::test]
async fn secrets_and_header_values_are_sealed_in_the_database() {
    let url = TestPostgres::shared().database().await;
    let storage = PostgresStorage::connect(&url, Keyring::generate())
        .await
        .unwrap();
    let mut ep = endpoint(&tenant("acme"));
    ep.headers
        .insert("x-team".into(), "desk-7-clear-text".into());
    storage.create_endpoint(&ep).await.unwrap();
    assert_eq!(
        storage.endpoint_by_id(&ep.id).await.unwrap(),
        Some(ep.clone())
    );

    let row = psql(&url)
        .await
        .query_one(
            "SELECT secret, header_values FROM endpoints WHERE id = $1",
            &[&ep.id.as_str()],
        )
        .await
        .unwrap();
    let secret: Vec<u8> = row.get(0);
    let headers: Vec<Vec<u8>> = row.get(1);
    let contains = |haystack: &[u8], needle: &str| {
        haystack
            .windows(needle.len())
            .any(|w| w == needle.as_bytes())
    };
    assert!(!contains(&secret, ep.secrets.current.expose()));
    assert!(!contains(&headers[0], "desk-7-clear-text"));
}

#[tokio::test]
async fn an_unreachable_server_is_a_connect_error() {
    // A port nothing listens on: bound, then released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("postgres://herald@127.0.0.1:{port}/herald?connect_timeout=2");
    let refused = PostgresStorage::connect(&url, Keyring::generate())
        .await
        .unwrap_err();
    assert!(
        matches!(refused, ConnectError::Database { .. }),
        "{refused:?}"
    );
    let malformed = PostgresStorage::connect("postgres://[nope", Keyring::generate())
        .await
        .unwrap_err();
    assert!(matches!(malformed, ConnectError::Url(_)), "{malformed:?}");
}
