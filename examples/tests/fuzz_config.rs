//! Generated configuration through `DaemonConfig::load`, the path `heraldd` takes at
//! start: random bytes, generated TOML documents (known and unknown keys at any depth,
//! values of every TOML type), the README's full example with edits (huge and tiny
//! numbers, bad durations and CIDRs, bad `[profiles]`, `[tenants]` and
//! `[event_types]` tables), the same text with stray characters, and `HERALD_*`
//! variables. Properties: loading never panics, and every refusal is a `ConfigError`
//! with a message whose `key` names a key of the input, or a key the input needs
//! beside one it gave (`tls_key` for `tls_cert`).
//!
//! Each property runs `PROPTEST_CASES` cases (default 500, about a second each here);
//! raise it for a longer soak:
//! `PROPTEST_CASES=20000 cargo test -p herald-examples --test fuzz_config`.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::path::PathBuf;

use herald_examples::config::{ConfigError, DaemonConfig, Overrides};
use herald_testkit::fuzz::{self, hostile_text, name_like, url_text};
use proptest::prelude::*;
use proptest::sample::{select, Index};
use toml::{Table, Value};

/// Every key the configuration file knows, at any depth (profiles.md §1 for the
/// profile tables and their header roles): a refusal may name one of these that the
/// input lacks, under a key the input has (a profile without `signature`).
const SCHEMA_KEYS: &[&str] = &[
    "listen",
    "data_dir",
    "storage",
    "api_token",
    "metrics_token",
    "tls_cert",
    "tls_key",
    "allow_http",
    "allow_private_destinations",
    "destination_allowlist",
    "operational_webhook_url",
    "operational_webhook_secret",
    "shutdown_grace",
    "encryption_keys",
    "queue_memory_mb",
    "delivery",
    "profiles",
    "tenants",
    "event_types",
    "retry_schedule",
    "timeout",
    "max_in_flight",
    "breaker_threshold",
    "breaker_cooldown",
    "breaker_cooldown_max",
    "disable_after",
    "disable_after_failures",
    "rotation_grace",
    "max_payload_bytes",
    "retention",
    "disable_on_dead",
    "description",
    "envelope",
    "signature",
    "key",
    "json",
    "headers",
    "event_id",
    "timestamp",
    "event_type",
    "delivery_id",
    "attempt",
    "endpoint_id",
    "tenant",
    "max_endpoints",
    "publish_rate",
    "default_profile",
    "example",
    "schema",
];

/// The `HERALD_<KEY>` variables `heraldd` reads, as the README lists them.
const ENV_KEYS: &[&str] = &[
    "listen",
    "data_dir",
    "storage",
    "api_token",
    "metrics_token",
    "tls_cert",
    "tls_key",
    "allow_http",
    "allow_private_destinations",
    "destination_allowlist",
    "operational_webhook_url",
    "operational_webhook_secret",
    "shutdown_grace",
    "encryption_keys",
    "queue_memory_mb",
];

/// The README's full example, its profile example, and one catalog entry: a valid
/// file using every table, which the edits then break.
fn base_text() -> String {
    let readme =
        std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../README.md"))
            .unwrap();
    let block = |opening: &str| {
        let start = readme
            .find(opening)
            .unwrap_or_else(|| panic!("README.md has no ```toml block starting with {opening:?}"));
        let body = &readme[start + "```toml\n".len()..];
        body[..body.find("```").unwrap()].to_owned()
    };
    let full = block("```toml\nlisten =");
    let profile = block("```toml\n# herald.toml\n[profiles.perps]");
    format!(
        "{full}\n{profile}\n[event_types.\"order.filled\"]\ndescription = \"An order was filled.\"\n\
         example = {{ orderId = \"ord_789\" }}\nschema = {{ type = \"object\", required = [\"orderId\"] }}\n"
    )
}

/// Loads `bytes` as the configuration file (and `env`), through the public path.
fn load(
    file: &std::path::Path,
    bytes: &[u8],
    env: Vec<(String, String)>,
) -> Result<DaemonConfig, ConfigError> {
    std::fs::write(file, bytes).unwrap();
    let flags = Overrides {
        config: Some(file.to_owned()),
        ..Overrides::default()
    };
    DaemonConfig::load(&flags, env)
}

/// Every way a key of `table` may be written in an error: `a.b[0].c`, and with the
/// name under `event_types` quoted (`event_types."order.filled".schema`).
fn rendered_paths(table: &Table) -> BTreeSet<String> {
    fn walk(value: &Value, path: String, quoted: String, out: &mut BTreeSet<String>) {
        out.insert(path.clone());
        out.insert(quoted.clone());
        match value {
            Value::Table(table) => {
                for (key, inner) in table {
                    let plain = join(&path, key);
                    let q = if quoted == "event_types" || key.is_empty() {
                        join(&quoted, &format!("\"{key}\""))
                    } else {
                        join(&quoted, key)
                    };
                    walk(inner, plain, q, out);
                }
            }
            Value::Array(items) => {
                for (i, inner) in items.iter().enumerate() {
                    walk(inner, format!("{path}[{i}]"), format!("{quoted}[{i}]"), out);
                }
            }
            _ => {}
        }
    }
    fn join(path: &str, key: &str) -> String {
        if path.is_empty() {
            key.to_owned()
        } else {
            format!("{path}.{key}")
        }
    }
    let mut out = BTreeSet::new();
    walk(
        &Value::Table(table.clone()),
        String::new(),
        String::new(),
        &mut out,
    );
    out
}

/// Whether `key` names a key of `table`, or keys of the schema under one of its keys
/// (or at the top).
fn names_a_key(table: &Table, key: &str) -> bool {
    let schema_only = |rest: &str| rest.split('.').all(|part| SCHEMA_KEYS.contains(&part));
    rendered_paths(table).iter().any(|path| {
        if path.is_empty() {
            return schema_only(key);
        }
        key == path
            || key
                .strip_prefix(path.as_str())
                .and_then(|rest| rest.strip_prefix('.'))
                .is_some_and(schema_only)
    })
}

/// The property: no panic (the caller's frame would unwind), and a refusal with a
/// message and a key that names the input's key. `table` is the input as TOML when it
/// parses; otherwise the key is `config` (the file) or text taken from it.
fn assert_clear(
    text: &[u8],
    table: Option<&Table>,
    result: Result<DaemonConfig, ConfigError>,
) -> Result<(), TestCaseError> {
    let Err(error) = result else {
        return Ok(());
    };
    let shown = String::from_utf8_lossy(text);
    prop_assert!(!error.message.trim().is_empty(), "no message: {error:?}");
    prop_assert!(!error.key.is_empty(), "no key: {error:?}");
    match table {
        Some(table) => prop_assert!(
            names_a_key(table, &error.key),
            "`{}` names no key of the input: {error}\n--- input ---\n{shown}",
            error.key
        ),
        None => prop_assert!(
            error.key == "config" || shown.contains(error.key.as_str()),
            "`{}` is not in the input: {error}\n--- input ---\n{shown}",
            error.key
        ),
    }
    Ok(())
}

fn parsed(text: &[u8]) -> Option<Table> {
    std::str::from_utf8(text).ok()?.parse::<Table>().ok()
}

// ---- Values ------------------------------------------------------------------------

fn duration_text() -> BoxedStrategy<String> {
    (
        select(vec![
            "0",
            "1",
            "30",
            "500",
            "-1",
            "1.5",
            " 5",
            "",
            "18446744073709551615",
            "18446744073709551616",
            "213503982334601",
            "99999999999999999999999",
        ]),
        select(vec![
            "ms", "s", "m", "h", "d", "", "w", "S", " s", "sec", "µs", "ms ",
        ]),
    )
        .prop_map(|(n, unit)| format!("{n}{unit}"))
        .boxed()
}

fn cidr_text() -> BoxedStrategy<String> {
    select(vec![
        "10.0.0.0/8",
        "10/8",
        "::/0",
        "0.0.0.0/0",
        "1.2.3.4/33",
        "fe80::/129",
        "1.2.3.4",
        "",
        "a.b.c.d/8",
        " 10.0.0.0/8 ",
        "[::1]/128",
        "10.0.0.0/-1",
        "::ffff:10.0.0.0/104",
    ])
    .prop_map(str::to_owned)
    .boxed()
}

fn integer() -> BoxedStrategy<i64> {
    prop_oneof![
        3 => select(vec![
            0i64, 1, -1, 2, 16, 1000, 1 << 20, (1 << 20) + 1, 1_000_000, 1_000_001,
            i64::from(u32::MAX), i64::from(u32::MAX) + 1, i64::MAX, i64::MIN,
        ]),
        1 => any::<i64>(),
    ]
    .boxed()
}

fn scalar() -> BoxedStrategy<Value> {
    prop_oneof![
        3 => prop_oneof![
            hostile_text(),
            duration_text(),
            cidr_text(),
            url_text(),
            select(vec!["sled", "memory", "standard", "hex", "text", "whsec", "js", "data", "127.0.0.1:0"])
                .prop_map(str::to_owned),
        ]
        .prop_map(Value::String),
        2 => integer().prop_map(Value::Integer),
        1 => select(vec![0.0f64, -0.0, 1.5, 1e308, f64::NAN, f64::INFINITY, f64::NEG_INFINITY])
            .prop_map(Value::Float),
        1 => any::<bool>().prop_map(Value::Boolean),
        1 => select(vec!["1979-05-27T07:32:00Z", "1979-05-27", "07:32:00", "1979-05-27T07:32:00"])
            .prop_map(|t| Value::Datetime(t.parse().unwrap())),
    ]
    .boxed()
}

/// Any TOML value: scalars, arrays (mixed types included) and tables.
fn value() -> BoxedStrategy<Value> {
    scalar()
        .prop_recursive(2, 12, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::vec((key(), inner), 0..4)
                    .prop_map(|pairs| Value::Table(pairs.into_iter().collect())),
            ]
        })
        .boxed()
}

/// A key: mostly one the schema knows (at whatever depth), else any text.
fn key() -> BoxedStrategy<String> {
    prop_oneof![
        3 => select(SCHEMA_KEYS).prop_map(str::to_owned),
        1 => hostile_text(),
    ]
    .boxed()
}

/// A document of known and unknown keys at random depths.
fn document() -> BoxedStrategy<Table> {
    proptest::collection::vec((key(), value()), 0..8)
        .prop_map(|pairs| pairs.into_iter().collect())
        .boxed()
}

fn profile_table() -> BoxedStrategy<Value> {
    let envelope_entry = (
        select(vec!["id", "type", "data", "x", "", "a b", "created"]),
        select(vec![
            "event_id",
            "event_type",
            "time:rfc3339",
            "time:unix",
            "time:unix_ms",
            "tenant",
            "endpoint_id",
            "delivery_id",
            "data",
            "junk",
            "",
        ]),
        any::<bool>(),
    )
        .prop_map(|(name, source, eq)| {
            if eq {
                format!("{name}={source}")
            } else {
                format!("{name}{source}")
            }
        });
    let header_roles = proptest::collection::vec(
        (
            prop_oneof![select(SCHEMA_KEYS).prop_map(str::to_owned), hostile_text()],
            prop_oneof![
                "[A-Za-z][A-Za-z0-9-]{0,12}",
                select(vec!["content-type", "Host", "webhook-signature"]).prop_map(str::to_owned),
                hostile_text(),
            ],
        ),
        0..5,
    );
    let delivery = proptest::collection::vec(
        (
            select(SCHEMA_KEYS).prop_map(str::to_owned),
            prop_oneof![duration_text().prop_map(Value::String), value()],
        ),
        0..4,
    );
    (
        proptest::option::of(prop_oneof![
            proptest::collection::vec(envelope_entry, 0..5)
                .prop_map(|e| Value::Array(e.into_iter().map(Value::String).collect())),
            select(vec!["data", "body", ""]).prop_map(|t| Value::String(t.to_owned())),
            value(),
        ]),
        proptest::option::of(select(vec![
            "standard",
            "hex",
            "hex_timestamp",
            "stripe",
            "github",
            "md5",
        ])),
        proptest::option::of(select(vec!["text", "whsec", "raw"])),
        proptest::option::of(select(vec!["raw", "js", "python", "ruby"])),
        header_roles,
        delivery,
        proptest::option::of((key(), value())),
    )
        .prop_map(
            |(envelope, signature, key, json, headers, delivery, extra)| {
                let mut table = Table::new();
                if let Some(envelope) = envelope {
                    table.insert("envelope".into(), envelope);
                }
                for (name, value) in [("signature", signature), ("key", key), ("json", json)] {
                    if let Some(value) = value {
                        table.insert(name.into(), Value::String(value.to_owned()));
                    }
                }
                let headers: Table = headers
                    .into_iter()
                    .map(|(r, n)| (r, Value::String(n)))
                    .collect();
                table.insert("headers".into(), Value::Table(headers));
                table.insert(
                    "delivery".into(),
                    Value::Table(delivery.into_iter().collect()),
                );
                if let Some((k, v)) = extra {
                    table.insert(k, v);
                }
                Value::Table(table)
            },
        )
        .boxed()
}

fn catalog_table() -> BoxedStrategy<Value> {
    let schema = prop_oneof![
        select(vec![
            r#"{"type": "object", "required": ["a"]}"#,
            r#"{"type": 5}"#,
            r##"{"$ref": "#"}"##,
            r#"{"$ref": "http://example.com/s.json"}"#,
            r#"{"pattern": "("}"#,
            r#"{"type": "string", "format": "email"}"#,
            r#"{"minimum": 1e308}"#,
        ])
        .prop_map(|json| {
            let value: serde_json::Value = serde_json::from_str(json).unwrap();
            Value::try_from(value).unwrap()
        }),
        value(),
    ];
    (
        proptest::option::of(prop_oneof![hostile_text().prop_map(Value::String), value()]),
        proptest::option::of(value()),
        proptest::option::of(schema),
        proptest::option::of((key(), value())),
    )
        .prop_map(|(description, example, schema, extra)| {
            let mut table = Table::new();
            for (name, v) in [
                ("description", description),
                ("example", example),
                ("schema", schema),
            ] {
                if let Some(v) = v {
                    table.insert(name.into(), v);
                }
            }
            if let Some((k, v)) = extra {
                table.insert(k, v);
            }
            Value::Table(table)
        })
        .boxed()
}

/// One edit of a valid document.
#[derive(Debug, Clone)]
enum Edit {
    /// Give the key at this path (of all the document's paths) another value.
    Set(Index, Value),
    /// Remove the key at this path.
    Remove(Index),
    /// Add a key beside the one at this path.
    Add(Index, String, Value),
    /// Add or replace a `[profiles.NAME]` table.
    Profile(String, Value),
    /// Add or replace an `[event_types."TYPE"]` table.
    EventType(String, Value),
}

fn edit() -> BoxedStrategy<Edit> {
    let targeted = prop_oneof![
        duration_text().prop_map(Value::String),
        cidr_text().prop_map(|c| Value::Array(vec![Value::String(c)])),
        integer().prop_map(Value::Integer),
    ];
    prop_oneof![
        3 => (any::<Index>(), value()).prop_map(|(at, v)| Edit::Set(at, v)),
        3 => (any::<Index>(), targeted).prop_map(|(at, v)| Edit::Set(at, v)),
        1 => any::<Index>().prop_map(Edit::Remove),
        1 => (any::<Index>(), key(), value()).prop_map(|(at, k, v)| Edit::Add(at, k, v)),
        2 => (prop_oneof![name_like(), hostile_text()], profile_table())
            .prop_map(|(name, t)| Edit::Profile(name, t)),
        2 => (name_like(), catalog_table()).prop_map(|(name, t)| Edit::EventType(name, t)),
    ]
    .boxed()
}

/// Every key path of `table`, tables only (arrays are values).
fn key_paths(table: &Table) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for (key, value) in table {
        out.push(vec![key.clone()]);
        if let Value::Table(inner) = value {
            for mut path in key_paths(inner) {
                path.insert(0, key.clone());
                out.push(path);
            }
        }
    }
    out
}

/// The table holding the last key of `path`.
fn parent<'a>(table: &'a mut Table, path: &[String]) -> &'a mut Table {
    let mut here = table;
    for key in &path[..path.len() - 1] {
        here = match here.get_mut(key) {
            Some(Value::Table(inner)) => inner,
            _ => unreachable!("key_paths gives paths through tables"),
        };
    }
    here
}

fn apply(table: &mut Table, edit: Edit) {
    let paths = key_paths(table);
    let pick = |at: &Index| paths.get(at.index(paths.len().max(1))).cloned();
    match edit {
        Edit::Set(at, v) => {
            if let Some(path) = pick(&at) {
                parent(table, &path).insert(path[path.len() - 1].clone(), v);
            }
        }
        Edit::Remove(at) => {
            if let Some(path) = pick(&at) {
                parent(table, &path).remove(&path[path.len() - 1]);
            }
        }
        Edit::Add(at, k, v) => match pick(&at) {
            Some(path) => {
                parent(table, &path).insert(k, v);
            }
            None => {
                table.insert(k, v);
            }
        },
        Edit::Profile(name, t) | Edit::EventType(name, t) if name.is_empty() => {
            table.insert(String::new(), t);
        }
        Edit::Profile(name, t) => insert_under(table, "profiles", name, t),
        Edit::EventType(name, t) => insert_under(table, "event_types", name, t),
    }
}

fn insert_under(table: &mut Table, top: &str, name: String, value: Value) {
    let entry = table
        .entry(top.to_owned())
        .or_insert_with(|| Value::Table(Table::new()));
    match entry {
        Value::Table(inner) => {
            inner.insert(name, value);
        }
        other => *other = Value::Table([(name, value)].into_iter().collect()),
    }
}

/// Serializes a generated table; a table the TOML writer cannot write (none expected)
/// is skipped rather than tested.
fn to_text(table: &Table) -> Option<String> {
    toml::to_string(table).ok()
}

struct Scratch {
    _dir: tempfile::TempDir,
    file: PathBuf,
}

fn scratch() -> Scratch {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("herald.toml");
    Scratch { _dir: dir, file }
}

#[test]
fn the_base_document_is_valid() {
    let s = scratch();
    let text = base_text();
    let config =
        load(&s.file, text.as_bytes(), Vec::new()).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(config.engine.profiles.len(), 1);
    assert_eq!(config.engine.event_types.len(), 1);
}

#[test]
fn keys_are_recognised_in_every_spelling() {
    let table: Table =
        "a = [1, {b = 2}]\n[event_types.\"x.y\"]\nschema = 1\n[profiles.p]\nkey = \"k\"\n"
            .parse()
            .unwrap();
    for key in [
        "a",
        "a[1].b",
        "event_types.\"x.y\".schema",
        "event_types.x.y.schema",
        "profiles.p.headers.signature",
        "profiles.p.envelope",
        "tls_key",
    ] {
        assert!(names_a_key(&table, key), "{key}");
    }
    for key in [
        "b",
        "a[2]",
        "profiles.q.envelope",
        "profiles.p.colour",
        "config",
    ] {
        assert!(!names_a_key(&table, key), "{key}");
    }
}

proptest! {
    #![proptest_config(fuzz::config(500))]

    /// Bytes of any kind: not UTF-8, not TOML, or TOML by chance.
    #[test]
    fn random_bytes_are_refused_by_key_or_loaded(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let s = scratch();
        let result = load(&s.file, &bytes, Vec::new());
        assert_clear(&bytes, parsed(&bytes).as_ref(), result)?;
    }

    /// Known and unknown keys at random depths, with values of every TOML type.
    #[test]
    fn generated_documents_are_refused_by_key_or_loaded(table in document()) {
        let Some(text) = to_text(&table) else { return Ok(()) };
        let s = scratch();
        let result = load(&s.file, text.as_bytes(), Vec::new());
        assert_clear(text.as_bytes(), parsed(text.as_bytes()).as_ref(), result)?;
    }

    /// The README's full example with one to four edits: values replaced (durations,
    /// CIDRs, numbers, any value), keys removed or added, profiles and catalog entries
    /// added.
    #[test]
    fn edits_of_the_readme_example_are_refused_by_key_or_loaded(
        edits in proptest::collection::vec(edit(), 1..5),
    ) {
        let mut table: Table = base_text().parse().unwrap();
        for e in edits {
            apply(&mut table, e);
        }
        let Some(text) = to_text(&table) else { return Ok(()) };
        let s = scratch();
        let result = load(&s.file, text.as_bytes(), Vec::new());
        assert_clear(text.as_bytes(), parsed(text.as_bytes()).as_ref(), result)?;
    }

    /// The README's example text with characters cut out or put in: mostly syntax
    /// errors, which must name the line's key or the file.
    #[test]
    fn damaged_text_is_refused_by_key_or_loaded(
        cuts in proptest::collection::vec(
            (any::<Index>(), select(vec!["", "=", "\"", "[", "]", "\n", "\0", "é", "{", ",", "#", "'''"])),
            1..4,
        ),
    ) {
        let mut text = base_text();
        for (at, piece) in cuts {
            let boundaries: Vec<usize> = text.char_indices().map(|(i, _)| i).collect();
            let cut = boundaries[at.index(boundaries.len())];
            if piece.is_empty() {
                text.remove(cut);
            } else {
                text.insert_str(cut, piece);
            }
        }
        let s = scratch();
        let result = load(&s.file, text.as_bytes(), Vec::new());
        assert_clear(text.as_bytes(), parsed(text.as_bytes()).as_ref(), result)?;
    }

    /// `HERALD_<KEY>` variables with any text: a refusal names the key the variable
    /// sets.
    #[test]
    fn environment_values_are_refused_by_key_or_loaded(
        vars in proptest::collection::vec(
            (
                prop_oneof![
                    4 => select(ENV_KEYS).prop_map(str::to_owned),
                    1 => "[A-Z_]{1,12}".prop_map(|k| k.to_ascii_lowercase()),
                ],
                prop_oneof![
                    hostile_text(),
                    duration_text(),
                    cidr_text(),
                    url_text(),
                    integer().prop_map(|n| n.to_string()),
                    select(vec!["true", "false", "yes", "0", "", "maybe"]).prop_map(str::to_owned),
                ],
            ),
            1..5,
        ),
    ) {
        // The table the variables amount to, for naming keys: lists are split as
        // `heraldd` splits them.
        let mut table = Table::new();
        let mut env = Vec::new();
        for (key, text) in vars {
            if text.contains('\0') {
                continue; // no environment variable can hold a NUL
            }
            let value = match key.as_str() {
                "destination_allowlist" | "encryption_keys" => Value::Array(
                    text.split(',')
                        .map(str::trim)
                        .filter(|t| !t.is_empty())
                        .map(|t| Value::String(t.to_owned()))
                        .collect(),
                ),
                _ => Value::String(text.clone()),
            };
            table.insert(key.clone(), value);
            env.push((format!("HERALD_{}", key.to_ascii_uppercase()), text));
        }
        let result = DaemonConfig::load(&Overrides::default(), env);
        assert_clear(b"", Some(&table), result)?;
    }
}
