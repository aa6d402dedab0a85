//! The OpenAPI document of `GET /openapi.json`, through the real `heraldd`: it names
//! every route the daemon serves and no other, with every method each route takes;
//! it is a valid OpenAPI 3.1 document; real answers fit its schemas exactly (a field
//! a schema does not name fails); and its request schemas name exactly the fields, and
//! bounds, the daemon accepts.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::{eventually, Call, Daemon, Options, Reply};
use herald_testkit::receiver::{Mode, Receiver};
use http::Method;
use serde_json::{json, Value};

/// The official JSON Schema of OpenAPI 3.1 documents (fixtures/README.md says where it
/// comes from).
const OPENAPI_31_SCHEMA: &str = include_str!("fixtures/openapi-3.1-schema.json");

/// OpenAPI 3.1 Schema Objects are JSON Schema 2020-12.
const DRAFT_2020_12: &str = "https://json-schema.org/draft/2020-12/schema";

/// The operations a path item may hold, as the document spells them.
const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// The document, with the look-ups these tests need.
struct Document(Value);

impl Document {
    /// `GET /openapi.json`, without a token.
    async fn fetch(daemon: &Daemon) -> Document {
        let reply = daemon
            .send(Call::new(Method::GET, "/openapi.json").token(None))
            .await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        assert_eq!(content_type(&reply), "application/json");
        Document(reply.json)
    }

    /// Every (method, path template) the document describes.
    fn operations(&self) -> Vec<(Method, String)> {
        let mut all = Vec::new();
        for (template, item) in self.0["paths"].as_object().unwrap() {
            for method in METHODS {
                if item.get(method).is_some() {
                    let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
                    all.push((method, template.clone()));
                }
            }
        }
        all
    }

    /// The operation `method template`; panics when the document lacks it.
    fn operation(&self, method: &Method, template: &str) -> &Value {
        let operation = &self.0["paths"][template][method.as_str().to_lowercase()];
        assert!(
            operation.is_object(),
            "the document has no operation {method} {template}"
        );
        operation
    }

    /// The parameters of an operation, `$ref`s followed.
    fn parameters<'a>(&'a self, operation: &'a Value) -> Vec<&'a Value> {
        operation["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|parameter| self.resolve(parameter))
            .collect()
    }

    /// `template` with each path parameter replaced by `ids[name]`, else by its
    /// documented example (every path parameter has one, and it must pass the route's
    /// path checks).
    fn path(&self, method: &Method, template: &str, ids: &BTreeMap<&str, String>) -> String {
        let mut path = template.to_owned();
        for parameter in self.parameters(self.operation(method, template)) {
            if parameter["in"] != "path" {
                continue;
            }
            let name = parameter["name"].as_str().unwrap();
            let value = ids.get(name).cloned().unwrap_or_else(|| {
                parameter["example"]
                    .as_str()
                    .unwrap_or_else(|| {
                        panic!("path parameter `{name}` of {method} {template} has no example")
                    })
                    .to_owned()
            });
            path = path.replace(&format!("{{{name}}}"), &value);
        }
        assert!(!path.contains('{'), "{method} {template}: {path}");
        path
    }

    /// Follows a local `$ref`.
    fn resolve<'a>(&'a self, value: &'a Value) -> &'a Value {
        match value.get("$ref").and_then(Value::as_str) {
            Some(reference) => pointer(&self.0, reference)
                .unwrap_or_else(|| panic!("`{reference}` does not resolve")),
            None => value,
        }
    }

    /// A validator of `schema`, whose `$ref`s reach the document's components. When
    /// `closed`, every object schema that names its properties takes no other: the
    /// document leaves answers open to new fields, for clients, but a field the
    /// daemon sends that the document does not name must fail here.
    fn validator(&self, schema: &Value, closed: bool) -> jsonschema::Validator {
        let mut schemas = self.0["components"]["schemas"].clone();
        let mut schema = schema.clone();
        if closed {
            close(&mut schemas);
            close(&mut schema);
        }
        let root = json!({
            "$schema": DRAFT_2020_12,
            "components": {"schemas": schemas},
            "allOf": [schema],
        });
        jsonschema::options()
            .should_validate_formats(true)
            .build(&root)
            .unwrap_or_else(|error| panic!("the schema does not compile: {error}\n{schema:#}"))
    }

    /// The schema of the JSON request body of `method template`.
    fn request_schema(&self, method: &Method, template: &str) -> &Value {
        let body = self.resolve(&self.operation(method, template)["requestBody"]);
        let schema = &body["content"]["application/json"]["schema"];
        assert!(
            schema.is_object(),
            "{method} {template} takes no JSON body in the document"
        );
        schema
    }
}

/// The value at a local `#/...` reference.
fn pointer<'a>(document: &'a Value, reference: &str) -> Option<&'a Value> {
    document.pointer(reference.strip_prefix('#')?)
}

/// Gives every object schema that names its properties `additionalProperties: false`.
fn close(schema: &mut Value) {
    match schema {
        Value::Object(map) => {
            if map.get("properties").is_some_and(Value::is_object)
                && !map.contains_key("additionalProperties")
            {
                map.insert("additionalProperties".into(), Value::Bool(false));
            }
            map.values_mut().for_each(close);
        }
        Value::Array(items) => items.iter_mut().for_each(close),
        _ => {}
    }
}

fn errors(validator: &jsonschema::Validator, instance: &Value) -> Vec<String> {
    validator
        .iter_errors(instance)
        .map(|error| format!("{error} (at `{}`)", error.instance_path()))
        .collect()
}

fn content_type(reply: &Reply) -> &str {
    reply
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
}

/// Asserts that `reply`, the answer to `method template`, is one the document lists
/// for that operation, with its documented headers, content type and a body that
/// fits its schema exactly.
fn check_answer(document: &Document, method: &Method, template: &str, reply: &Reply) {
    let operation = document.operation(method, template);
    let status = reply.status.to_string();
    let Some(response) = operation["responses"].get(&status) else {
        panic!(
            "{method} {template} answered {status}, which the document does not list: {}",
            reply.text()
        );
    };
    let response = document.resolve(response);
    for name in response["headers"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(n, _)| n)
    {
        assert!(
            reply.headers.contains_key(name.as_str()),
            "{method} {template} {status}: no `{name}` header"
        );
    }
    let Some(content) = response.get("content").and_then(Value::as_object) else {
        assert!(
            reply.body.is_empty(),
            "{method} {template} {status}: a body the document does not describe"
        );
        return;
    };
    let media = content_type(reply);
    assert!(
        content.contains_key(media),
        "{method} {template} {status}: content type `{media}`, documented: {:?}",
        content.keys().collect::<Vec<_>>()
    );
    if media == "application/json" {
        let validator = document.validator(&content[media]["schema"], true);
        let errors = errors(&validator, &reply.json);
        assert!(
            errors.is_empty(),
            "{method} {template} {status}: the answer does not fit its schema: {errors:#?}\n{}",
            reply.text()
        );
    }
}

/// Asserts that `body` fits the request schema of `method template`.
fn check_request(document: &Document, method: &Method, template: &str, body: &Value) {
    let validator = document.validator(document.request_schema(method, template), false);
    let errors = errors(&validator, body);
    assert!(
        errors.is_empty(),
        "{method} {template}: a body the daemon accepts does not fit the request schema: \
         {errors:#?}\n{body:#}"
    );
}

/// Calls the API with every body checked against the document before it is sent and
/// every answer after.
struct Api<'a> {
    daemon: &'a Daemon,
    document: &'a Document,
}

impl Api<'_> {
    /// `method path` (an instance of `template`) with the admin token and `body`.
    async fn call(&self, method: Method, template: &str, path: &str, body: Option<Value>) -> Reply {
        let mut call = Call::new(method.clone(), path);
        if let Some(body) = &body {
            check_request(self.document, &method, template, body);
            call = call.json(body);
        }
        self.send(template, call).await
    }

    /// Sends `call` as is; checks the answer against the operation of `template`.
    async fn send(&self, template: &str, call: Call) -> Reply {
        let method = call.method.clone();
        let reply = self.daemon.send(call).await;
        check_answer(self.document, &method, template, &reply);
        reply
    }
}

/// The document describes each route the router serves, and no other: its paths are
/// exactly the templates of the route table the router is built from, so a route
/// added without an operation fails here.
#[tokio::test]
async fn the_document_describes_exactly_the_routes_of_the_route_table() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(dir.path(), Options::default()).await;
    let document = Document::fetch(&daemon).await;
    let table = herald_examples::api::route_templates();
    let routed: BTreeSet<&str> = table.iter().copied().collect();
    assert_eq!(routed.len(), table.len(), "a template twice: {table:?}");
    let described: BTreeSet<&str> = document.0["paths"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        routed.difference(&described).collect::<Vec<_>>(),
        Vec::<&&str>::new(),
        "routes the document does not describe"
    );
    assert_eq!(
        described.difference(&routed).collect::<Vec<_>>(),
        Vec::<&&str>::new(),
        "paths of the document that no route serves"
    );
    for template in ["/healthz", "/readyz", "/metrics", "/openapi.json"] {
        assert!(described.contains(template), "{template}");
    }
    // What the daemon serves is what the code builds.
    let built = serde_json::to_value(herald_examples::api::document()).unwrap();
    assert_eq!(document.0, built);
}

/// Every documented operation reaches a handler: with the admin token and well-formed
/// path values, no answer is the router's fallback (404 "no such route") or 405, and
/// no path value is refused.
#[tokio::test]
async fn every_documented_operation_is_routed() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(dir.path(), Options::default()).await;
    let document = Document::fetch(&daemon).await;
    let operations = document.operations();
    assert!(operations.len() >= 29, "{operations:?}");
    for (method, template) in operations {
        let mut path = document.path(&method, &template, &BTreeMap::new());
        if template.ends_with("/stream") {
            // A stream answers until its client leaves: a resume point that no event
            // has makes it answer at once (422 naming `after`, not the path).
            path.push_str("?after=evt_route_probe");
        }
        let reply = daemon.send(Call::new(method.clone(), &path)).await;
        let what = format!(
            "{method} {path} ({template}): {} {}",
            reply.status,
            reply.text()
        );
        assert!(
            !(reply.status == 404 && reply.message() == "no such route"),
            "unrouted: {what}"
        );
        assert_ne!(reply.status, 405, "{what}");
        assert_ne!(reply.code(), "method_not_allowed", "{what}");
        for parameter in ["tenant", "id", "type", "path"] {
            assert!(
                !(reply.status == 422 && reply.message().starts_with(&format!("{parameter}:"))),
                "a documented example is refused: {what}"
            );
        }
        check_answer(&document, &method, &template, &reply);
    }
}

/// On every documented path, each method the document does not list answers 405
/// (`HEAD` follows `GET`, as axum serves it).
#[tokio::test]
async fn every_undocumented_method_answers_405() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(dir.path(), Options::default()).await;
    let document = Document::fetch(&daemon).await;
    let mut tried = 0;
    for (template, item) in document.0["paths"].as_object().unwrap() {
        let listed: Vec<&str> = METHODS
            .into_iter()
            .filter(|m| item.get(*m).is_some())
            .collect();
        let example = listed.first().expect("a path item with no operation");
        let example = Method::from_bytes(example.to_uppercase().as_bytes()).unwrap();
        let path = document.path(&example, template, &BTreeMap::new());
        for method in METHODS {
            if listed.contains(&method) || (method == "head" && listed.contains(&"get")) {
                continue;
            }
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let reply = daemon.send(Call::new(method.clone(), &path)).await;
            assert_eq!(reply.status, 405, "{method} {path}: {}", reply.text());
            if method != Method::HEAD {
                assert_eq!(reply.code(), "method_not_allowed", "{method} {path}");
            }
            tried += 1;
        }
    }
    assert!(tried > 100, "{tried}");
}

/// The document is a valid OpenAPI 3.1 document: it validates against the official
/// JSON Schema of OpenAPI 3.1 (which rejects it once broken), every `$ref` resolves,
/// every operation has an `operationId` of its own and a parameter for each `{name}` of
/// its path, every security requirement names a scheme, and every schema is valid
/// JSON Schema 2020-12.
#[tokio::test]
async fn the_document_is_valid_openapi_3_1() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(dir.path(), Options::default()).await;
    let document = Document::fetch(&daemon).await;
    assert_eq!(document.0["openapi"], "3.1.0");

    let meta: Value = serde_json::from_str(OPENAPI_31_SCHEMA).unwrap();
    let openapi_31 = jsonschema::validator_for(&meta).unwrap();
    let found = errors(&openapi_31, &document.0);
    assert!(found.is_empty(), "not valid OpenAPI 3.1: {found:#?}");
    // The validator is not vacuous: the same document, broken, fails.
    for (parent, key, value) in [
        ("", "openapi", json!("3.0.3")),
        ("/paths/~1healthz/get", "responses", json!("none")),
        (
            "/paths/~1v1~1profiles/get",
            "parameters",
            json!([{"name": "x"}]),
        ),
        (
            "/components/securitySchemes",
            "bearer",
            json!({"type": "bearer"}),
        ),
        ("/paths/~1metrics/get", "operationId", json!(7)),
    ] {
        let mut broken = document.0.clone();
        broken.pointer_mut(parent).unwrap()[key] = value;
        assert!(
            !openapi_31.is_valid(&broken),
            "{parent}/{key} broken yet valid"
        );
    }

    let mut references = Vec::new();
    collect_refs(&document.0, &mut references);
    assert!(references.len() > 100, "{}", references.len());
    for reference in &references {
        assert!(
            pointer(&document.0, reference).is_some(),
            "`{reference}` does not resolve"
        );
    }

    let mut ids = BTreeSet::new();
    let schemes = document.0["components"]["securitySchemes"]
        .as_object()
        .unwrap();
    for (method, template) in document.operations() {
        let operation = document.operation(&method, &template);
        let id = operation["operationId"]
            .as_str()
            .unwrap_or_else(|| panic!("{method} {template} has no operationId"));
        assert!(ids.insert(id.to_owned()), "operationId `{id}` twice");
        let in_path: BTreeSet<String> = template
            .split('/')
            .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
            .map(str::to_owned)
            .collect();
        let parameters = document.parameters(operation);
        let declared: BTreeSet<String> = parameters
            .iter()
            .filter(|p| p["in"] == "path")
            .map(|p| p["name"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(in_path, declared, "{method} {template}: path parameters");
        for parameter in parameters.iter().filter(|p| p["in"] == "path") {
            assert_eq!(parameter["required"], true, "{method} {template}");
        }
        for requirement in operation["security"].as_array().into_iter().flatten() {
            for scheme in requirement.as_object().unwrap().keys() {
                assert!(
                    schemes.contains_key(scheme),
                    "{method} {template}: `{scheme}`"
                );
            }
        }
        assert!(
            operation["responses"]
                .as_object()
                .unwrap()
                .keys()
                .any(|status| status.starts_with('2')),
            "{method} {template} has no success answer"
        );
    }

    for (name, schema) in document.0["components"]["schemas"].as_object().unwrap() {
        let mut schema = schema.clone();
        schema["$schema"] = json!(DRAFT_2020_12);
        if let Err(error) = jsonschema::draft202012::meta::validate(&schema) {
            panic!("schema `{name}` is not valid JSON Schema 2020-12: {error}");
        }
        document.validator(
            &json!({"$ref": format!("#/components/schemas/{name}")}),
            true,
        );
    }
}

fn collect_refs(value: &Value, into: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(reference)) = map.get("$ref") {
                into.push(reference.clone());
            }
            map.values().for_each(|v| collect_refs(v, into));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, into)),
        _ => {}
    }
}

/// Every request schema names exactly the fields its route's real type accepts: a
/// body with a field no type has is refused by the daemon (422) and by the schema
/// (`additionalProperties: false`), and the daemon's refusal lists the fields it knows,
/// which must be the schema's.
#[tokio::test]
async fn request_schemas_name_the_fields_the_daemon_accepts() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(dir.path(), Options::default()).await;
    let document = Document::fetch(&daemon).await;
    let mut probed = 0;
    for (method, template) in document.operations() {
        if document.operation(&method, &template)["requestBody"].is_null() {
            continue;
        }
        let schema = document.resolve(document.request_schema(&method, &template));
        assert_eq!(
            schema["additionalProperties"], false,
            "{method} {template}: the daemon refuses unknown fields, the schema must too"
        );
        let probe = json!({"zz_probe": 1});
        let validator = document.validator(document.request_schema(&method, &template), false);
        assert!(!validator.is_valid(&probe), "{method} {template}");

        let path = document.path(&method, &template, &BTreeMap::new());
        let reply = daemon
            .send(Call::new(method.clone(), &path).json(&probe))
            .await;
        assert_eq!(reply.status, 422, "{method} {path}: {}", reply.text());
        let message = reply.message();
        let known: BTreeSet<&str> = if message.ends_with("there are no fields") {
            BTreeSet::new()
        } else {
            let expected = message
                .split_once("expected")
                .unwrap_or_else(|| panic!("{method} {path}: {message}"))
                .1;
            expected.split('`').skip(1).step_by(2).collect()
        };
        let documented: BTreeSet<&str> = schema["properties"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(name, _)| name.as_str())
            .collect();
        assert_eq!(known, documented, "{method} {template}: fields");
        probed += 1;
    }
    assert_eq!(probed, 10, "the operations that take a body");
}

/// Every documented bound of a request field is the daemon's: one past it is
/// refused (422 naming the field), and so is the schema's check of it.
#[tokio::test]
async fn request_schema_bounds_are_the_daemons() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(dir.path(), Options::default()).await;
    let document = Document::fetch(&daemon).await;
    let created = daemon
        .post(
            "/v1/tenants/acme/endpoints",
            &json!({"url": "https://example.com/hooks"}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text());
    let ids = BTreeMap::from([("id", created.json["id"].as_str().unwrap().to_owned())]);
    let mut probed = 0;
    for (method, template) in document.operations() {
        if document.operation(&method, &template)["requestBody"].is_null() {
            continue;
        }
        let schema = document.resolve(document.request_schema(&method, &template));
        let no_properties = serde_json::Map::new();
        let properties = schema["properties"].as_object().unwrap_or(&no_properties);
        // The smallest body the schema takes: each required field's example, or the
        // first value of its enum.
        let mut base = json!({});
        for required in schema["required"].as_array().into_iter().flatten() {
            let name = required.as_str().unwrap();
            let property = document.resolve(&properties[name]);
            base[name] = match &property["example"] {
                Value::Null => property["enum"][0].clone(),
                example => example.clone(),
            };
        }
        let validator = document.validator(schema, false);
        assert!(validator.is_valid(&base), "{method} {template}: {base}");
        let path = document.path(&method, &template, &ids);
        for (name, property) in properties {
            let past = [
                property["maximum"].as_i64().map(|max| max + 1),
                property["minimum"].as_i64().map(|min| min - 1),
            ];
            let too_many = property["maxItems"]
                .as_u64()
                .map(|max| json!(vec![1; usize::try_from(max).unwrap() + 1]));
            let values = past.into_iter().flatten().map(Value::from).chain(too_many);
            for value in values {
                let mut body = base.clone();
                body[name] = value.clone();
                assert!(!validator.is_valid(&body), "{method} {template}: {body}");
                let reply = daemon
                    .send(Call::new(method.clone(), &path).json(&body))
                    .await;
                assert_eq!(
                    reply.status,
                    422,
                    "{method} {path} {body}: {}",
                    reply.text()
                );
                assert!(
                    reply.message().starts_with(&format!("{name}:")),
                    "{method} {path} {body}: {}",
                    reply.message()
                );
                probed += 1;
            }
        }
    }
    assert!(probed >= 15, "{probed}");
}

/// Every documented query parameter is read by its route: a value it cannot take is
/// refused, naming it.
#[tokio::test]
async fn documented_query_parameters_are_read_by_their_routes() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(dir.path(), Options::default()).await;
    let document = Document::fetch(&daemon).await;
    let mut probed = BTreeSet::new();
    for (method, template) in document.operations() {
        let path = document.path(&method, &template, &BTreeMap::new());
        for parameter in document.parameters(document.operation(&method, &template)) {
            if parameter["in"] != "query" {
                continue;
            }
            let name = parameter["name"].as_str().unwrap();
            let schema = document.resolve(&parameter["schema"]);
            let bad = if schema["type"] == "integer" {
                "many"
            } else if schema["format"] == "date-time" || schema["enum"].is_array() {
                "not-one-of-these"
            } else {
                // A free string (`cursor`, `type`): nothing to refuse by its shape.
                continue;
            };
            let reply = daemon
                .send(Call::new(method.clone(), &format!("{path}?{name}={bad}")))
                .await;
            assert_eq!(
                reply.status,
                422,
                "{method} {path}?{name}: {}",
                reply.text()
            );
            assert!(
                reply.message().starts_with(&format!("{name}:")),
                "{method} {path}?{name}: {}",
                reply.message()
            );
            probed.insert(name.to_owned());
        }
    }
    let probed: Vec<_> = probed.iter().map(String::as_str).collect();
    assert_eq!(probed, ["limit", "outcome", "since", "until"]);
}

/// Real answers of every kind, made by driving a daemon through the life of
/// endpoints, events, deliveries, keys, tenants and the catalog, each fit their
/// operation's documented answer exactly, and the bodies that made them fit its
/// request schema.
#[tokio::test]
async fn real_answers_fit_their_documented_schemas() {
    let receiver = Receiver::builder().mode("/gone", Mode::Gone).start().await;
    let closed_port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(
        dir.path(),
        Options::default().config("[delivery]\nmax_payload_bytes = 1024\n"),
    )
    .await;
    let document = Document::fetch(&daemon).await;
    let api = Api {
        daemon: &daemon,
        document: &document,
    };
    let open = |method: Method, path: &str| Call::new(method, path).token(None);

    // Operations.
    api.send("/healthz", open(Method::GET, "/healthz")).await;
    api.send("/readyz", open(Method::GET, "/readyz")).await;
    api.send("/metrics", open(Method::GET, "/metrics")).await;
    api.send("/openapi.json", open(Method::GET, "/openapi.json"))
        .await;
    api.call(Method::GET, "/v1/profiles", "/v1/profiles", None)
        .await;
    let alone = api
        .call(Method::GET, "/v1/cluster", "/v1/cluster", None)
        .await;
    assert_eq!(alone.status, 404, "a daemon on memory runs alone");

    // Tenant settings.
    const TENANT: &str = "/v1/tenants/{tenant}";
    let settings = json!({
        "default_profile": "standard",
        "max_endpoints": 100,
        "publish_rate": 1000,
        "notification_url": receiver.url("/notify"),
        "notification_types": ["endpoint.disabled"],
        "strict_types": false,
    });
    let put = api
        .call(Method::PUT, TENANT, "/v1/tenants/acme", Some(settings))
        .await;
    assert_eq!(put.status, 200, "{}", put.text());
    assert!(
        put.json["notification_secret"].is_string(),
        "{}",
        put.text()
    );
    api.call(Method::GET, TENANT, "/v1/tenants/acme", None)
        .await;
    let fresh = api
        .call(Method::GET, TENANT, "/v1/tenants/fresh", None)
        .await;
    assert_eq!(fresh.json["updated_at"], Value::Null);
    api.call(Method::GET, TENANT, "/v1/tenants/_herald", None)
        .await;
    let reserved = api
        .call(Method::PUT, TENANT, "/v1/tenants/_herald", Some(json!({})))
        .await;
    assert_eq!(reserved.status, 403);

    // The catalog.
    const TYPE: &str = "/v1/tenants/{tenant}/event-types/{type}";
    const TYPES: &str = "/v1/tenants/{tenant}/event-types";
    let entry = json!({
        "description": "An order was filled.",
        "example": {"orderId": "ord_1", "price": 45000.0},
        "schema": {"type": "object", "required": ["orderId"]},
    });
    let filled = "/v1/tenants/acme/event-types/order.filled";
    assert_eq!(
        api.call(Method::PUT, TYPE, filled, Some(entry))
            .await
            .status,
        200
    );
    api.call(Method::GET, TYPE, filled, None).await;
    api.call(Method::GET, TYPES, "/v1/tenants/acme/event-types", None)
        .await;
    let missing = api
        .call(
            Method::GET,
            TYPE,
            "/v1/tenants/acme/event-types/no.such",
            None,
        )
        .await;
    assert_eq!(missing.status, 404);

    // Endpoints: one that answers 200, one that answers 410, one nobody listens on.
    const ENDPOINTS: &str = "/v1/tenants/{tenant}/endpoints";
    const ENDPOINT: &str = "/v1/tenants/{tenant}/endpoints/{id}";
    let every_field = json!({
        "url": receiver.url("/ok"),
        "description": "orders",
        "event_types": ["order.*"],
        "channels": [],
        "active": true,
        "profile": "standard",
        "headers": {"x-custom": "value"},
        "ordering": "unordered",
        "max_in_flight": 4,
        "rate_limit": 50,
        "timeout_ms": 5000,
        "retry_schedule_secs": [1, 2],
    });
    let ok = api
        .call(
            Method::POST,
            ENDPOINTS,
            "/v1/tenants/acme/endpoints",
            Some(every_field),
        )
        .await;
    assert_eq!(ok.status, 201, "{}", ok.text());
    let ok = format!(
        "/v1/tenants/acme/endpoints/{}",
        ok.json["id"].as_str().unwrap()
    );
    let gone_body = json!({
        "url": receiver.url("/gone"),
        "signature_scheme": "hex",
        "retry_schedule_secs": [3600],
    });
    let gone = api
        .call(
            Method::POST,
            ENDPOINTS,
            "/v1/tenants/acme/endpoints",
            Some(gone_body),
        )
        .await;
    let gone = format!(
        "/v1/tenants/acme/endpoints/{}",
        gone.json["id"].as_str().unwrap()
    );
    let down_body = json!({
        "url": format!("http://127.0.0.1:{closed_port}/down"),
        "retry_schedule_secs": [3600],
    });
    let down = api
        .call(
            Method::POST,
            ENDPOINTS,
            "/v1/tenants/acme/endpoints",
            Some(down_body),
        )
        .await;
    let down = format!(
        "/v1/tenants/acme/endpoints/{}",
        down.json["id"].as_str().unwrap()
    );
    api.call(Method::GET, ENDPOINT, &ok, None).await;
    let paged = api
        .call(
            Method::GET,
            ENDPOINTS,
            "/v1/tenants/acme/endpoints?limit=1",
            None,
        )
        .await;
    assert!(paged.json["next_cursor"].is_string(), "{}", paged.text());
    let patch = json!({"description": null, "rate_limit": null, "max_in_flight": 8});
    api.call(Method::PATCH, ENDPOINT, &ok, Some(patch)).await;
    let rotate = "/v1/tenants/{tenant}/endpoints/{id}/rotate-secret";
    let rotated = api
        .call(Method::POST, rotate, &format!("{ok}/rotate-secret"), None)
        .await;
    assert_eq!(rotated.status, 200, "{}", rotated.text());
    let nowhere = "/v1/tenants/acme/endpoints/ep_01JDQ2Z8X9V7N4K3M5P6R8T0WZ";
    assert_eq!(
        api.call(Method::GET, ENDPOINT, nowhere, None).await.status,
        404
    );

    // Events.
    const EVENTS: &str = "/v1/tenants/{tenant}/events";
    const EVENT: &str = "/v1/tenants/{tenant}/events/{id}";
    let order = json!({
        "type": "order.filled",
        "data": {"orderId": "ord_1", "price": 45000.0},
        "id": "ord_1-filled",
        "channels": ["BTC-USD"],
    });
    let events = "/v1/tenants/acme/events";
    let first = api
        .call(Method::POST, EVENTS, events, Some(order.clone()))
        .await;
    assert_eq!(first.status, 202, "{}", first.text());
    assert_eq!(
        api.call(Method::POST, EVENTS, events, Some(order))
            .await
            .status,
        200
    );
    let other = json!({"type": "position.closed", "data": [1, "two", null]});
    api.call(Method::POST, EVENTS, events, Some(other)).await;
    let test = "/v1/tenants/{tenant}/endpoints/{id}/test";
    let sent = api
        .call(
            Method::POST,
            test,
            &format!("{ok}/test"),
            Some(json!({"type": "order.filled"})),
        )
        .await;
    assert_eq!(sent.status, 202, "{}", sent.text());
    let event = "/v1/tenants/acme/events/ord_1-filled";
    api.call(Method::GET, EVENT, event, None).await;
    let since = format!("{events}?type=order.filled&since=2000-01-01T00:00:00Z&limit=1");
    api.call(Method::GET, EVENTS, &since, None).await;

    // Attempts and deliveries: a success, a 410, a connection refused.
    const ATTEMPTS: &str = "/v1/tenants/{tenant}/endpoints/{id}/attempts";
    for (endpoint, seen) in [(&ok, "status"), (&gone, "status"), (&down, "error")] {
        let path = format!("{endpoint}/attempts");
        eventually("an attempt", || {
            let path = path.clone();
            let daemon = &daemon;
            async move {
                let reply = daemon.get(&path).await;
                reply.json["data"]
                    .as_array()
                    .is_some_and(|a| a.iter().any(|attempt| !attempt[seen].is_null()))
                    .then_some(())
            }
        })
        .await;
        api.call(Method::GET, ATTEMPTS, &path, None).await;
    }
    api.call(
        Method::GET,
        ATTEMPTS,
        &format!("{ok}/attempts?outcome=success"),
        None,
    )
    .await;
    let deliveries = "/v1/tenants/{tenant}/events/{id}/deliveries";
    let of_order = api
        .call(
            Method::GET,
            deliveries,
            &format!("{event}/deliveries"),
            None,
        )
        .await;
    let delivered = of_order.json["data"].as_array().unwrap();
    assert_eq!(delivered.len(), 3, "{}", of_order.text());
    let of = |endpoint: &str| {
        let id = endpoint.rsplit('/').next().unwrap();
        let delivery = delivered.iter().find(|d| d["endpoint_id"] == id).unwrap();
        format!(
            "/v1/tenants/acme/deliveries/{}/retry",
            delivery["id"].as_str().unwrap()
        )
    };
    eventually("the 410 to disable its endpoint", || async {
        let reply = daemon.get(&gone).await;
        (reply.json["disabled_reason"] == "gone").then_some(())
    })
    .await;
    api.call(Method::GET, ENDPOINT, &gone, None).await;
    let dead = "/v1/tenants/{tenant}/endpoints/{id}/dead-letters";
    let letters = api
        .call(Method::GET, dead, &format!("{gone}/dead-letters"), None)
        .await;
    assert!(
        !letters.json["data"].as_array().unwrap().is_empty(),
        "{}",
        letters.text()
    );
    let replay = "/v1/tenants/{tenant}/endpoints/{id}/dead-letters/replay";
    let refused = api
        .call(
            Method::POST,
            replay,
            &format!("{gone}/dead-letters/replay"),
            None,
        )
        .await;
    assert_eq!(refused.status, 409, "{}", refused.text());
    let enable = json!({"active": true});
    api.call(Method::PATCH, ENDPOINT, &gone, Some(enable)).await;
    let window = json!({"since": "2000-01-01T00:00:00Z", "until": "2100-01-01T00:00:00Z"});
    let replayed = api
        .call(
            Method::POST,
            replay,
            &format!("{gone}/dead-letters/replay"),
            Some(window),
        )
        .await;
    assert_eq!(replayed.status, 202, "{}", replayed.text());
    const RETRY: &str = "/v1/tenants/{tenant}/deliveries/{id}/retry";
    let succeeded = of(&ok);
    eventually("the delivery to succeed", || async {
        let reply = daemon.get(&format!("{event}/deliveries")).await;
        let id = ok.rsplit('/').next().unwrap();
        reply.json["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["endpoint_id"] == id && d["status"] == "succeeded")
            .then_some(())
    })
    .await;
    let retried = api.call(Method::POST, RETRY, &succeeded, None).await;
    assert_eq!(retried.status, 202, "{}", retried.text());
    let pending = api.call(Method::POST, RETRY, &of(&down), None).await;
    assert_eq!(pending.status, 409, "{}", pending.text());

    // Keys.
    const KEYS: &str = "/v1/tenants/{tenant}/keys";
    let key = api
        .call(
            Method::POST,
            KEYS,
            "/v1/tenants/acme/keys",
            Some(json!({"scope": "read", "description": "dashboards"})),
        )
        .await;
    assert_eq!(key.status, 201, "{}", key.text());
    let token = key.json["token"].as_str().unwrap();
    api.call(Method::GET, KEYS, "/v1/tenants/acme/keys", None)
        .await;
    let as_reader = |method: Method, path: &str| Call::new(method, path).token(Some(token));
    api.send("/v1/profiles", as_reader(Method::GET, "/v1/profiles"))
        .await;
    let by_header = Call::new(Method::GET, events)
        .token(None)
        .header("x-api-key", token);
    assert_eq!(api.send(EVENTS, by_header).await.status, 200);
    let forbidden = as_reader(Method::POST, events).json(&json!({"type": "a.b", "data": 1}));
    assert_eq!(api.send(EVENTS, forbidden).await.status, 403);
    let revoke = format!("/v1/tenants/acme/keys/{}", key.json["id"].as_str().unwrap());
    let revoked = api
        .call(
            Method::DELETE,
            "/v1/tenants/{tenant}/keys/{id}",
            &revoke,
            None,
        )
        .await;
    assert_eq!(revoked.status, 204);

    // The body checks, the key check, path values, quotas.
    let no_token = open(Method::GET, "/v1/tenants/acme/endpoints");
    assert_eq!(api.send(ENDPOINTS, no_token).await.status, 401);
    let bad_tenant = api
        .call(Method::GET, ENDPOINTS, "/v1/tenants/bad!/endpoints", None)
        .await;
    assert_eq!(bad_tenant.status, 422);
    let text = Call::new(Method::POST, events).raw("text/plain", "type=a.b");
    assert_eq!(api.send(EVENTS, text).await.status, 415);
    let broken = Call::new(Method::POST, events).raw("application/json", "{\"type\":");
    assert_eq!(api.send(EVENTS, broken).await.status, 400);
    let big = json!({"type": "a.b", "data": "x".repeat(2048)});
    assert_eq!(
        api.call(Method::POST, EVENTS, events, Some(big))
            .await
            .status,
        413
    );
    let huge = Call::new(Method::PUT, "/v1/tenants/acme").raw(
        "application/json",
        format!("{{\"x\":\"{}\"}}", "x".repeat(80 * 1024)),
    );
    if let Some(reply) = daemon.try_send_alone(huge).await {
        assert_eq!(reply.status, 413, "{}", reply.text());
        check_answer(&document, &Method::PUT, TENANT, &reply);
    }
    let slow = json!({"publish_rate": 1});
    api.call(Method::PUT, TENANT, "/v1/tenants/slow", Some(slow))
        .await;
    let mut limited = None;
    for n in 0..5 {
        let event = json!({"type": "tick", "data": n});
        let reply = api
            .call(Method::POST, EVENTS, "/v1/tenants/slow/events", Some(event))
            .await;
        if reply.status == 429 {
            limited = Some(reply);
            break;
        }
    }
    let limited = limited.expect("a publish over `publish_rate` is refused");
    assert!(limited.headers.contains_key("retry-after"));

    // Deletions.
    assert_eq!(
        api.call(Method::DELETE, TYPE, filled, None).await.status,
        204
    );
    assert_eq!(
        api.call(Method::DELETE, ENDPOINT, &down, None).await.status,
        204
    );
}

/// `GET /v1/cluster` of a node on PostgreSQL fits its documented schema (a daemon
/// alone answers 404, checked with the other answers above).
#[tokio::test]
async fn the_cluster_answer_of_a_node_fits_its_schema() {
    let url = herald_testkit::postgres::TestPostgres::shared()
        .database()
        .await;
    let key = herald::sealing::SealingKey::generate().to_text();
    let dir = tempfile::tempdir().unwrap();
    let options = Options {
        storage: "postgres",
        ..Options::default()
    }
    .env("HERALD_POSTGRES_URL", &url)
    .env("HERALD_ENCRYPTION_KEYS", &key)
    .env("HERALD_NODE_ID", "node-a");
    let daemon = Daemon::start(dir.path(), options).await;
    let document = Document::fetch(&daemon).await;
    let api = Api {
        daemon: &daemon,
        document: &document,
    };
    let status = api
        .call(Method::GET, "/v1/cluster", "/v1/cluster", None)
        .await;
    assert_eq!(status.status, 200, "{}", status.text());
    assert_eq!(status.json["node_id"], "node-a");
    assert_eq!(status.json["partitions"], 256);
    assert_eq!(status.json["nodes"][0]["node_id"], "node-a");
    assert_eq!(status.json["nodes"][0]["alive"], true);
    assert!(daemon.terminate().await.success());
}
