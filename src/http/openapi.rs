//! The OpenAPI 3.1 document of the public API, built from the handlers'
//! `#[utoipa::path]` annotations and their body types (`routes.rs` registers
//! every route through utoipa-axum, so a route cannot exist undocumented), with
//! the configured limits (max quantity, page size) written into it at start.
//! The admin and service ports' routes are in it too, each path on its port's
//! server entry. Served at `GET /api/openapi.json`.

use serde::Serialize;
use utoipa::{
    OpenApi, ToSchema,
    openapi::{
        OpenApi as Document, PathItem, RefOr,
        path::Operation,
        schema::{Object, Schema},
    },
};

use crate::cart::owner::OWNER_KINDS;

/// Fields of `POST /api/cart/add` (parsed by hand for API.md's exact messages;
/// this type describes them).
#[derive(serde::Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = AddItem, example = json!({"productId": 42, "quantity": 2}))]
#[allow(dead_code)]
pub(crate) struct AddItemDoc {
    #[schema(minimum = 1)]
    product_id: i64,
    /// At least 1; the line may not pass `TROLLEY_MAX_QUANTITY` (the
    /// document's maximum, written in at start).
    #[schema(minimum = 1)]
    quantity: i64,
}

/// Fields of `POST /cart/items`.
#[derive(ToSchema)]
#[schema(as = MinimalAddItem, example = json!({"sku": "apple", "quantity": 1}))]
#[allow(dead_code)]
pub(crate) struct MinimalAddDoc {
    #[schema(min_length = 1, example = "apple")]
    sku: String,
    /// Default 1.
    #[schema(minimum = 1)]
    quantity: Option<i64>,
}

/// Fields of `POST /api/auth/login`.
#[derive(ToSchema)]
#[schema(as = LoginRequest, example = json!({"username": "alice", "password": "correct horse battery"}))]
#[allow(dead_code)]
pub(crate) struct LoginDoc {
    username: String,
    password: String,
}

/// The headers every cart change takes (API.md v1.1 "Safe retries").
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)]
pub(crate) struct WriteHeaders {
    /// 1-255 visible ASCII characters: a retry with the same key is applied once
    #[param(
        rename = "Idempotency-Key",
        nullable = false,
        pattern = r#"^[!-~]{1,255}$"#
    )]
    idempotency_key: Option<String>,
    /// apply only at this cart version (ETag), or * for an existing cart
    // Its pattern is written in by `entity_tag_patterns`.
    #[param(rename = "If-Match", nullable = false)]
    if_match: Option<String>,
}

/// Every error body: `{"error": "…"}`.
#[derive(Serialize, ToSchema)]
#[schema(as = Error, example = json!({"error": "Product not found: 999"}))]
pub(crate) struct ErrorDoc {
    error: String,
}

/// What every cart change can be answered by its write gate and the store
/// (API.md "Safe retries"), documented once and listed in each change's
/// responses: `If-Match` no longer holds, an `Idempotency-Key` reused for
/// another request, storage unavailable.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)] // documentation only: never built
pub(crate) enum WriteGateAnswers {
    #[response(status = 412, description = "The cart has changed")]
    Stale(ErrorDoc),
    #[response(
        status = 422,
        description = "Idempotency-Key reused with a different request"
    )]
    KeyReused(ErrorDoc),
    #[response(
        status = 503,
        description = "Cart storage unavailable (with Retry-After)"
    )]
    Unavailable(ErrorDoc),
}

/// A 400 naming each invalid field of an add.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = FieldErrors, example = json!({"quantity": "Quantity must be at least 1"}))]
pub(crate) struct FieldErrorsDoc {
    product_id: Option<String>,
    quantity: Option<String>,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "trolley",
        description = "Session-backed shopping cart (API.md v1.1). Two route sets share one cart per session.",
        version = env!("CARGO_PKG_VERSION")
    ),
    paths(openapi_json),
    components(schemas(ErrorDoc, FieldErrorsDoc, AddItemDoc, MinimalAddDoc, LoginDoc))
)]
pub(crate) struct ApiDoc;

/// The configured max quantity, written into the document's schemas: the
/// `quantity` parameters and the add bodies' `quantity`.
fn write_limits(document: &mut Document, max_quantity: u32) {
    let maximum = Some(f64::from(max_quantity).into());
    each_parameter(document, |name, schema| {
        if name == "quantity" {
            schema.maximum = maximum.clone();
        }
    });
    let Some(components) = document.components.as_mut() else {
        return;
    };
    for name in [
        "AddItem",
        "MinimalAddItem",
        "ServiceAddById",
        "ServiceAddBySku",
    ] {
        if let Some(RefOr::T(Schema::Object(object))) = components.schemas.get_mut(name)
            && let Some(RefOr::T(Schema::Object(quantity))) = object.properties.get_mut("quantity")
        {
            quantity.maximum = maximum.clone();
        }
    }
}

/// Calls `change` with every operation parameter's name and schema.
fn each_parameter(document: &mut Document, mut change: impl FnMut(&str, &mut Object)) {
    for item in document.paths.paths.values_mut() {
        for operation in operations(item) {
            for parameter in operation.parameters.iter_mut().flatten() {
                if let RefOr::T(parameter) = parameter
                    && let Some(RefOr::T(Schema::Object(schema))) = parameter.schema.as_mut()
                {
                    change(&parameter.name, schema);
                }
            }
        }
    }
}

/// The operations of a path (the methods the API uses).
fn operations(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
    ]
    .into_iter()
    .flatten()
}

/// The routes of the other ports, each on its own server entry.
pub(crate) struct OtherPorts {
    /// The admin port (`TROLLEY_ADMIN_LISTEN`).
    pub(crate) admin: u16,
    /// The service port (`TROLLEY_SERVICE_LISTEN`) and its routes' paths.
    pub(crate) service: u16,
    pub(crate) service_paths: Document,
}

/// The document for these settings: the public routes, and the admin and
/// service ports' (on their own server entries).
pub(crate) fn document(paths: Document, max_quantity: u32, ports: OtherPorts) -> Document {
    let mut document = ApiDoc::openapi();
    document.merge(paths);
    on_port(
        &mut document,
        super::admin::AdminDoc::openapi(),
        "The admin port (TROLLEY_ADMIN_LISTEN), never the public one",
        ports.admin,
    );
    service_routes(&mut document, ports.service_paths, ports.service);
    write_limits(&mut document, max_quantity);
    entity_tag_patterns(&mut document);
    link_lines(&mut document);
    document
}

/// `If-Match` and `If-None-Match` follow one grammar, the one the edge parses
/// (`preconditions::ENTITY_TAGS_PATTERN`), written here into every operation that takes them.
fn entity_tag_patterns(document: &mut Document) {
    each_parameter(document, |name, schema| {
        if matches!(name, "If-Match" | "If-None-Match") {
            schema.pattern = Some(super::preconditions::ENTITY_TAGS_PATTERN.to_string());
        }
    });
}

/// Routes served on another port than the public one, each path with that
/// port's server entry (`http://{host}:{port}`, the port's default the bound one).
fn on_port(document: &mut Document, mut paths: Document, description: &str, port: u16) {
    use utoipa::openapi::server::{ServerBuilder, ServerVariableBuilder};
    let server = ServerBuilder::new()
        .url("http://{host}:{port}")
        .description(Some(description))
        .parameter(
            "host",
            ServerVariableBuilder::new().default_value("localhost"),
        )
        .parameter(
            "port",
            ServerVariableBuilder::new().default_value(port.to_string()),
        )
        .build();
    for item in paths.paths.paths.values_mut() {
        item.servers = Some(vec![server.clone()]);
    }
    document.merge(paths);
}

/// The service port's routes (API.md v1.2), which every caller reaches with a
/// bearer token (`TROLLEY_SERVICE_TOKENS`).
fn service_routes(document: &mut Document, mut paths: Document, port: u16) {
    owner_kinds(&mut paths);
    use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityRequirement, SecurityScheme};
    const SCHEME: &str = "serviceToken";
    let required = SecurityRequirement::new(SCHEME, Vec::<String>::new());
    for item in paths.paths.paths.values_mut() {
        for operation in operations(item) {
            operation.security = Some(vec![required.clone()]);
        }
    }
    on_port(
        document,
        paths,
        "The service port (TROLLEY_SERVICE_LISTEN), for other services; never the public one",
        port,
    );
    document
        .components
        .get_or_insert_with(Default::default)
        .add_security_scheme(
            SCHEME,
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
}

/// The service routes name a cart `{kind}/{id}`, and what an id may be depends
/// on its kind: each templated path becomes one path per kind
/// (`/v1/carts/user/{id}`, …), its `id` with that kind's pattern
/// (`cart::owner::OWNER_KINDS`), so every id the document allows is one the
/// route takes.
fn owner_kinds(paths: &mut Document) {
    use utoipa::openapi::{
        Type,
        schema::{ObjectBuilder, Schema},
    };
    let templated: Vec<String> = paths
        .paths
        .paths
        .keys()
        .filter(|path| path.contains("{kind}"))
        .cloned()
        .collect();
    for path in templated {
        let Some(item) = paths.paths.paths.remove(&path) else {
            continue;
        };
        for (kind, pattern) in OWNER_KINDS {
            let mut item = item.clone();
            for operation in operations(&mut item) {
                if let Some(id) = operation.operation_id.as_mut() {
                    id.push('_');
                    id.push_str(kind);
                }
                let parameters = operation.parameters.get_or_insert_with(Vec::new);
                parameters
                    .retain(|parameter| !matches!(parameter, RefOr::T(p) if p.name == "kind"));
                for parameter in parameters.iter_mut() {
                    if let RefOr::T(parameter) = parameter
                        && parameter.name == "id"
                    {
                        let schema = ObjectBuilder::new()
                            .schema_type(Type::String)
                            .pattern(Some(pattern))
                            .build();
                        parameter.schema = Some(RefOr::T(Schema::Object(schema)));
                    }
                }
            }
            paths.paths.paths.insert(path.replace("{kind}", kind), item);
        }
    }
}

/// An add's line id leads to updating and removing that line: OpenAPI links, so
/// a client generator (and schemathesis' stateful phase) can follow
/// add → put → delete.
fn link_lines(document: &mut Document) {
    use utoipa::openapi::link::LinkBuilder;
    let Some(RefOr::T(added)) = document
        .paths
        .paths
        .get_mut("/api/cart/add")
        .and_then(|item| item.post.as_mut())
        .and_then(|post| post.responses.responses.get_mut("200"))
    else {
        return;
    };
    for (name, operation) in [
        ("UpdateCartItem", "update_item"),
        ("RemoveCartItem", "remove_item"),
    ] {
        let link = LinkBuilder::new()
            .operation_id(operation)
            .parameter("id", "$response.body#/cartItem/id")
            .build();
        added.links.insert(name.to_string(), RefOr::T(link));
    }
}

/// `GET /api/openapi.json`: this document.
#[utoipa::path(get, path = "/api/openapi.json", tag = "meta",
    responses((status = 200, description = "The OpenAPI 3.1 document of this API", content_type = "application/json")))]
#[allow(dead_code)]
fn openapi_json() {}
