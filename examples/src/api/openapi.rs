//! The OpenAPI 3.1 document of the management API, served at `GET /openapi.json`:
//! built at start from the route tables of `api`, each handler carrying its own
//! `#[utoipa::path]`, so that no route is served undescribed or described unserved.
//!
//! What a handler cannot see is added here, by the table its route sits in, because
//! that is where the layers are: every `/v1` route needs a key (401, 403) and may fail
//! inside Herald (500); its `POST`, `PUT` and `PATCH` requests pass the body check
//! (503 `overloaded`, 413, 408, 415, 400) whether or not the handler reads a body; and
//! any operation with path or query values or a body may answer 422.

use axum::http::{header, HeaderValue, Method};
use axum::response::{IntoResponse, Response};
use axum::routing::MethodRouter;
use axum::Extension;
use bytes::Bytes;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::Operation;
use utoipa::openapi::response::{Response as ResponseObject, ResponseBuilder};
use utoipa::openapi::schema::{ObjectBuilder, Schema, SchemaType, Type};
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::{Content, OpenApi, Ref, RefOr};
use utoipa::ToSchema;
use utoipa_axum::router::UtoipaMethodRouter;

use super::{auth, schemas, AppState};

/// The security scheme of `authorization: Bearer <token>` (admin token or key).
const BEARER: &str = "bearer";
/// The security scheme of `x-api-key: <token>` (admin token or key).
const API_KEY: &str = "api_key";
/// The security scheme of `/metrics` when `metrics_token` is set.
const METRICS_TOKEN: &str = "metrics_token";

/// The document's fixed parts: what no handler says.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "Herald management API",
        description = "The HTTP API of `heraldd`, the Herald webhook delivery daemon: \
            endpoints, events, deliveries and their attempts, dead letters and replay, API keys, \
            tenant settings, the event catalog, delivery profiles, and operations. Every `/v1` \
            route needs the admin token or a tenant's key, as `authorization: Bearer <token>` \
            or `x-api-key: <token>`. Errors are `{\"error\": {\"code\", \"message\"}}`; checks \
            run in this order and the first that fails answers: 401, 403; 413, 503, 408, 415, \
            400 (the body); 422 (path, query and body values); 404; 409.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    tags(
        (name = "endpoints", description = "Where events are delivered: register, change, \
            delete, rotate the secret, send a test event."),
        (name = "events", description = "Publish events and read them with their deliveries."),
        (name = "deliveries", description = "Attempts, dead letters, replay and retry."),
        (name = "profiles", description = "Delivery profiles: a platform's webhook contract."),
        (name = "keys", description = "Tenants' API keys (admin only)."),
        (name = "tenants", description = "A tenant's settings and quotas."),
        (name = "event-types", description = "The tenant's event catalog."),
        (name = "operations", description = "Health, readiness, metrics and this document."),
    ),
    components(schemas(schemas::ErrorBody)),
)]
struct Fixed;

/// Where a route sits, which decides what the layers add to its operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Guard {
    /// Outside `/v1`: no key (`/metrics` checks its own token).
    Open,
    /// Behind `auth::authorize` and `extract::check_body`.
    Keyed,
}

/// A start for the document: info, tags, security schemes and the shared error answers.
pub(super) fn start() -> OpenApi {
    let mut document = <Fixed as utoipa::OpenApi>::openapi();
    let components = document.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        BEARER,
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .description(Some(
                    "The admin token (`HERALD_API_TOKEN`, or generated into \
                     `<data_dir>/api-token`) or a tenant's key (`hk_...`).",
                ))
                .build(),
        ),
    );
    components.add_security_scheme(
        API_KEY,
        SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
            "x-api-key",
            "The same tokens as `bearer`, in the `x-api-key` header.",
        ))),
    );
    components.add_security_scheme(
        METRICS_TOKEN,
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .description(Some("`metrics_token` of the configuration, when set."))
                .build(),
        ),
    );
    for (name, response) in shared_answers() {
        components
            .responses
            .insert(name.to_owned(), RefOr::T(response));
    }
    document
}

/// The error answers every route of a table can give, by name in `components`.
fn shared_answers() -> [(&'static str, ResponseObject); 9] {
    let error = |description: &str| {
        ResponseBuilder::new().description(description).content(
            "application/json",
            Content::new(Some(Ref::from_schema_name(schemas::ErrorBody::name()))),
        )
    };
    [
        (
            "Unauthorized",
            error("No valid admin token or key: missing, unknown or revoked.")
                .header(
                    "www-authenticate",
                    HeaderBuilder::new()
                        .schema(Some(
                            ObjectBuilder::new().schema_type(SchemaType::Type(Type::String)),
                        ))
                        .description(Some("`Bearer`"))
                        .build(),
                )
                .build(),
        ),
        (
            "Forbidden",
            error(
                "A valid key outside its scope or tenant, or a change to a tenant whose name \
                 starts with `_` (Herald's own).",
            )
            .build(),
        ),
        (
            "BadRequest",
            error("The body is not valid JSON, or a required body is missing.").build(),
        ),
        (
            "PayloadTooLarge",
            error("The body exceeds the limit (`max_payload_bytes` and a margin).").build(),
        ),
        (
            "RequestTimeout",
            error(
                "The body did not arrive whole within `body_read_timeout`; the connection \
                 closes (`connection: close`).",
            )
            .build(),
        ),
        (
            "Overloaded",
            error(
                "`max_concurrent_writes` requests with a body are in progress; this one's body \
                 was not read. Retry after `retry-after`.",
            )
            .header(
                "retry-after",
                HeaderBuilder::new()
                    .schema(Some(
                        ObjectBuilder::new().schema_type(SchemaType::Type(Type::Integer)),
                    ))
                    .description(Some("Whole seconds to wait: 1"))
                    .build(),
            )
            .build(),
        ),
        (
            "UnsupportedMediaType",
            error("A body sent without `content-type: application/json`.").build(),
        ),
        (
            "Invalid",
            error(
                "A path, query or body value that does not fit; the message names it \
                 (`tenant: ...`, `limit: ...`, `url: ...`).",
            )
            .build(),
        ),
        (
            "Internal",
            error("Herald failed (storage); the detail is in its logs.").build(),
        ),
    ]
}

/// Adds the operations of one table entry to `document`, with what `guard` implies,
/// and gives back the handlers to route.
pub(super) fn describe(
    document: &mut OpenApi,
    (schemas, paths, handlers): UtoipaMethodRouter<AppState>,
    guard: Guard,
) -> MethodRouter<AppState> {
    for (path, mut item) in paths.paths {
        for (method, operation) in [
            (Method::GET, &mut item.get),
            (Method::PUT, &mut item.put),
            (Method::POST, &mut item.post),
            (Method::DELETE, &mut item.delete),
            (Method::PATCH, &mut item.patch),
        ] {
            if let Some(operation) = operation {
                add_layer_answers(operation, &method, &path, guard);
                no_null_body(operation);
            }
        }
        match document.paths.paths.get_mut(&path) {
            Some(existing) => existing.merge_operations(item),
            None => {
                document.paths.paths.insert(path, item);
            }
        }
    }
    document
        .components
        .get_or_insert_with(Default::default)
        .schemas
        .extend(schemas);
    handlers
}

/// The statuses and security that come from the layers around `operation`, the
/// `method` of `path`; a handler's own description of a status stays.
fn add_layer_answers(operation: &mut Operation, method: &Method, path: &str, guard: Guard) {
    let has_values = operation
        .parameters
        .as_ref()
        .is_some_and(|parameters| !parameters.is_empty())
        || operation.request_body.is_some();
    let answers = &mut operation.responses.responses;
    let mut add = |status: &str, name: &str| {
        answers
            .entry(status.to_owned())
            .or_insert_with(|| RefOr::Ref(Ref::from_response_name(name)));
    };
    if guard == Guard::Keyed {
        add("401", "Unauthorized");
        // A route any key may call (`/v1/profiles`) is outside every tenant: no 403.
        if auth::need(method, path) != auth::Need::AnyCaller {
            add("403", "Forbidden");
        }
        add("500", "Internal");
        if matches!(*method, Method::POST | Method::PUT | Method::PATCH) {
            add("400", "BadRequest");
            add("408", "RequestTimeout");
            add("413", "PayloadTooLarge");
            add("415", "UnsupportedMediaType");
            add("503", "Overloaded");
        }
        operation.security = Some(vec![
            SecurityRequirement::new(BEARER, Vec::<String>::new()),
            SecurityRequirement::new(API_KEY, Vec::<String>::new()),
        ]);
    }
    if has_values {
        add("422", "Invalid");
    }
}

/// An optional body is absent or an object, never `null` (`extract::ApiOptionalJson`
/// takes `{...}` or nothing), but utoipa writes the `Option<T>` of the annotation as
/// "T or null": keep T, the body staying optional (`required` unset).
fn no_null_body(operation: &mut Operation) {
    let Some(RefOr::T(body)) = operation.request_body.as_mut() else {
        return;
    };
    for content in body.content.values_mut() {
        let RefOr::T(content) = content else {
            continue;
        };
        let Some(RefOr::T(Schema::OneOf(one_of))) = content.schema.as_ref() else {
            continue;
        };
        let mut not_null = one_of.items.iter().filter(|item| !is_null(item));
        if let (Some(only), None) = (not_null.next(), not_null.next()) {
            content.schema = Some(only.clone());
        }
    }
}

fn is_null(schema: &RefOr<Schema>) -> bool {
    matches!(
        schema,
        RefOr::T(Schema::Object(object)) if object.schema_type == SchemaType::Type(Type::Null)
    )
}

/// The document as served: JSON, serialized once at start.
#[derive(Debug, Clone)]
pub(super) struct Served(Bytes);

impl Served {
    /// Serializes `document`.
    pub(super) fn new(document: &OpenApi) -> Self {
        let text = document
            .to_pretty_json()
            .expect("the document is plain data: strings, numbers, and maps with string keys");
        Self(Bytes::from(text))
    }
}

/// `GET /openapi.json`.
#[utoipa::path(
    get,
    path = "/openapi.json",
    operation_id = "getOpenApiDocument",
    tag = "operations",
    summary = "This document",
    description = "The OpenAPI 3.1 document of every route, generated from the code. No token.",
    responses(
        (status = 200, description = "The OpenAPI 3.1 document", body = Object,
            content_type = "application/json"),
    )
)]
pub(super) async fn serve(Extension(document): Extension<Served>) -> Response {
    let mut response = document.0.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}
