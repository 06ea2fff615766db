//! The OpenAPI document served at `/openapi.json`, generated from the code:
//! each handler's `#[utoipa::path]` names its route, parameters, body and
//! answers, and the bodies' `ToSchema` derives give their schemas, so the
//! document changes with the types it describes. A hand-written document
//! drifted (a route missing, answers without schemas, no 503s); the test
//! `every_route_is_documented` reads the router's registrations and fails
//! when one is not in the document.
//!
//! What a middleware answers for every route behind it (the maintenance
//! fault's 503, the admin token's 401, the body limit's 413, the JSON
//! extractor's 400/415/422, an internal failure's 500) is added here once,
//! by [`Layers`], mirroring the layers of [`super::router`].
//!
//! The HTML console under `/admin` (not `/admin/v1`) is for a person at a
//! browser, not an API, and is left out on purpose.

use std::borrow::Cow;
use std::sync::LazyLock;

use axum::http::header;
use axum::response::IntoResponse;
use utoipa::openapi::path::Operation;
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Schema, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
use utoipa::{Modify, OpenApi, PartialSchema, ToSchema};

use super::error::ApiError;
use crate::model::ConfirmationOutcome;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "kazasu mock eligibility confirmation service",
        description = "A mock of the online eligibility confirmation service (オンライン資格確認等システム). \
Business outcomes (revoked or expired certificate, unregistered card, no qualification) are 200 responses \
whose XmlMsg-shaped body says so; requests that cannot be a card's answer are 4xx with the one error shape \
`{\"error\": {\"code\", \"message\"}}`. Result codes are the simulator's own (prefix KZ): the real ones are \
not public. The admin console (HTML under /admin) is not part of this API."
    ),
    paths(
        super::api::issue_challenge,
        super::api::confirm,
        super::api::confirm_by_insurance_card,
        super::api::register,
        super::api::registration_status,
        super::api::history,
        super::after_confirmation::register_reference_number,
        super::after_confirmation::receipt_login,
        super::after_confirmation::receipt_logout,
        super::after_confirmation::receipt_results,
        super::after_confirmation::receipt_result,
        super::after_confirmation::enrol_receipt_computer,
        super::facility::system_login,
        super::facility::register_device,
        super::facility::deregister_device,
        super::facility::login,
        super::facility::logout,
        super::facility::change_password,
        super::facility::unread_notices,
        super::facility::read_notice,
        super::facility::list_facilities,
        super::facility::get_environment,
        super::facility::put_environment,
        super::facility::list_codes,
        super::facility::issue_code,
        super::facility::invalidate_code,
        super::facility::list_accounts,
        super::facility::register_account,
        super::facility::update_account,
        super::facility::list_notices,
        super::facility::publish_notice,
        super::admin::get_clock,
        super::admin::set_clock,
        super::admin::reset_clock,
        super::admin::advance_clock,
        super::admin::get_faults,
        super::admin::set_faults,
        super::admin::clear_faults,
        super::admin::list_fixtures,
        super::admin::load_fixtures,
        super::admin::reset_state,
        super::admin::add_phone,
        super::admin::revoke_certificate,
        super::console::trace_api::put_apdu_trace,
        super::console::trace_api::get_trace,
        super::health,
        serve,
    ),
    modifiers(&Layers),
    tags(
        (name = "client", description = "The client API: what a confirmation terminal or an app calls. \
With `Authorization: Bearer <session token>` a request is on the app channel, where the facility's rules apply."),
        (name = "app", description = "マイナ資格確認アプリ's own calls"),
        (name = "facility", description = "The confirmation terminal's system login"),
        (name = "receipt computer", description = "The receipt computer's result download"),
        (name = "admin", description = "The admin API: clock, faults, fixtures, state, facilities, notices, traces"),
        (name = "service", description = "The service itself"),
    )
)]
struct ApiDoc;

/// The document, built once: it depends on nothing but the code.
static DOCUMENT: LazyLock<String> = LazyLock::new(|| {
    ApiDoc::openapi()
        .to_json()
        .expect("an OpenAPI document serializes")
});

/// The API description as a value, for tests and tools.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// This document.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "service",
    responses((status = 200, description = "The OpenAPI document of this API", content_type = "application/json"))
)]
pub(super) async fn serve() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        DOCUMENT.as_str(),
    )
}

/// The one error shape, on the type every handler answers errors with.
impl PartialSchema for ApiError {
    fn schema() -> RefOr<Schema> {
        let text = |description: &str| {
            ObjectBuilder::new()
                .schema_type(Type::String)
                .description(Some(description))
        };
        ObjectBuilder::new()
            .description(Some(
                "An error: a stable machine-readable code and a sentence a person can act on",
            ))
            .property(
                "error",
                ObjectBuilder::new()
                    .property(
                        "code",
                        text("Stable, machine-readable (e.g. `challenge_expired`)"),
                    )
                    .property("message", text("What went wrong and what to do"))
                    .required("code")
                    .required("message"),
            )
            .required("error")
            .into()
    }
}

impl ToSchema for ApiError {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Error")
    }
}

/// XmlMsg as JSON. The outcome's model follows the official element names
/// (see [`crate::model`]); its schema is given at the level a client
/// branches on rather than derived field by field through the code lists.
impl PartialSchema for ConfirmationOutcome {
    fn schema() -> RefOr<Schema> {
        let text = || ObjectBuilder::new().schema_type(Type::String);
        let header = ObjectBuilder::new()
            .description(Some("MessageHeader"))
            .property(
                "ProcessExecutionTime",
                text().description(Some("YYYYMMDDHHMMSS, JST")),
            )
            .property(
                "QualificationConfirmationDate",
                text().description(Some("YYYYMMDD")),
            )
            .property("MedicalInstitutionCode", text())
            .property("ArbitraryFileIdentifier", text())
            .property("ReferenceClassification", text())
            .property("SegmentOfResult", text())
            .property("ErrorCode", text())
            .property("ErrorMessage", text())
            .property(
                "CharacterCodeIdentifier",
                text().description(Some("0 UTF-8, 1 Shift_JIS")),
            )
            .required("ProcessExecutionTime")
            .required("QualificationConfirmationDate")
            .required("MedicalInstitutionCode")
            .required("ReferenceClassification")
            .required("SegmentOfResult")
            .required("CharacterCodeIdentifier");
        let body = ObjectBuilder::new()
            .description(Some("MessageBody"))
            .property("ProcessingResultStatus", text())
            .property("ProcessingResultCode", text())
            .property("ProcessingResultMessage", text())
            .property(
                "QualificationValidity",
                text().description(Some("1 有効, 2/3 無効, 5 複数該当, 6")),
            )
            .property(
                "ResultList",
                ArrayBuilder::new().items(ObjectBuilder::new().description(Some(
                    "ResultOfQualificationConfirmation: the qualification's fields by their official names",
                ))),
            )
            .property(
                "QualificationConfirmSearchInfo",
                ObjectBuilder::new().description(Some("The search key, as the request gave it")),
            );
        ObjectBuilder::new()
            .description(Some(
                "The outcome of a confirmation, with the official element names; Accept: application/xml gives the XmlMsg itself",
            ))
            .property("MessageHeader", header)
            .property("MessageBody", body)
            .required("MessageHeader")
            .required("MessageBody")
            .into()
    }
}

impl ToSchema for ConfirmationOutcome {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("XmlMsg")
    }
}

/// Adds what the layers of [`super::router`] answer for every route behind
/// them, and the bearer schemes.
struct Layers;

impl Modify for Layers {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let bearer = |description: &str| {
            let mut http = HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build();
            http.description = Some(description.to_string());
            SecurityScheme::Http(http)
        };
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "admin_token",
            bearer("The admin token printed when the service started (none on an open loopback service)"),
        );
        components.add_security_scheme(
            "app_session",
            bearer("A session token from POST /v1/app/sessions"),
        );
        components.add_security_scheme(
            "receipt_session",
            bearer("A token from POST /v1/receipt-computer/sessions"),
        );
        for (path, item) in openapi.paths.paths.iter_mut() {
            for (operation, changes_state) in [
                (&mut item.get, false),
                (&mut item.put, true),
                (&mut item.post, true),
                (&mut item.delete, false),
                (&mut item.patch, true),
            ] {
                if let Some(operation) = operation {
                    apply_layers(path, operation, changes_state);
                }
            }
        }
    }
}

/// The error answers an operation at `path` gets from the layers around its
/// handler (`changes_state`: a POST, PUT or PATCH); an answer the handler
/// documents itself is kept.
fn apply_layers(path: &str, operation: &mut Operation, changes_state: bool) {
    let mut add = |status: &str, description: &str| {
        operation
            .responses
            .responses
            .entry(status.to_string())
            .or_insert_with(|| error_response(description));
    };
    // Without an admin token (on loopback), every route refuses a Host
    // name that is not loopback or allowed (`http::guard`).
    add(
        "403",
        "`host_not_allowed`: without an admin token the service answers to loopback names only; `cross_origin_refused` (admin API, console): a page of another origin sent it",
    );
    if path == "/health" || path == "/openapi.json" {
        return;
    }
    add(
        "500",
        "`internal_error`: the service failed; the request was not carried out",
    );
    if path.starts_with("/v1/") {
        add(
            "503",
            "`maintenance`: the whole client API is down for maintenance (admin fault)",
        );
    }
    if path.starts_with("/admin/v1/") {
        add(
            "401",
            "`admin_token_required`: the admin API needs `Authorization: Bearer <token>`; `malformed_authorization`: the header is there but not `Bearer <token>`",
        );
        if changes_state {
            add(
                "415",
                "`content_type_required`: without an admin token a POST or PUT must say `Content-Type: application/json` (`application/toml` for the fixtures), body-less ones too",
            );
        }
        operation.security = Some(vec![SecurityRequirement::new(
            "admin_token",
            Vec::<String>::new(),
        )]);
    }
    let Some(body) = &operation.request_body else {
        return;
    };
    let json_only = match body {
        RefOr::T(body) => body.content.keys().all(|t| t == "application/json"),
        RefOr::Ref(_) => false,
    };
    add(
        "413",
        "`body_too_large`: the body is over the service's limit",
    );
    if json_only {
        add("400", "`malformed_json`");
        add("415", "`not_json`: send Content-Type: application/json");
        add(
            "422",
            "`invalid_field`: a field is missing, unknown or of the wrong type",
        );
    }
}

fn error_response(description: &str) -> RefOr<utoipa::openapi::Response> {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name(ApiError::name())))
                .build(),
        )
        .build()
        .into()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::Path;

    use super::*;

    const METHODS: [&str; 5] = ["get", "put", "post", "delete", "patch"];

    /// Every `.route("path", <method router>)` in the sources under `dir`,
    /// as (path, method) pairs: what the router answers, read from the
    /// registrations themselves.
    fn registrations(dir: &Path, found: &mut BTreeSet<(String, String)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                registrations(&path, found);
            } else if path.extension().is_some_and(|e| e == "rs")
                // This reader's own source names `.route(` without routing.
                && !path.ends_with("http/openapi.rs")
            {
                let text = std::fs::read_to_string(&path).unwrap();
                for (at, _) in text.match_indices(".route(") {
                    let (route, methods) = parse_route(&text[at + ".route(".len()..]);
                    assert!(!methods.is_empty(), "no method for {route} in {path:?}");
                    for method in methods {
                        found.insert((route.clone(), method));
                    }
                }
            }
        }
    }

    /// The path literal and the methods of one `.route(` call's arguments.
    fn parse_route(rest: &str) -> (String, Vec<String>) {
        let rest = rest.trim_start().strip_prefix('"').expect("a path literal");
        let end = rest.find('"').unwrap();
        let route = rest[..end].to_string();
        // The method router: up to the `)` closing `.route(`.
        let mut depth = 1;
        let mut close = rest.len();
        for (i, c) in rest[end + 1..].char_indices() {
            match c {
                '(' => depth += 1,
                ')' => depth -= 1,
                _ => {}
            }
            if depth == 0 {
                close = end + 1 + i;
                break;
            }
        }
        let router = &rest[end + 1..close];
        let mut methods = Vec::new();
        for method in METHODS {
            for (at, _) in router.match_indices(&format!("{method}(")) {
                let before = router[..at].chars().next_back();
                if matches!(before, Some(':' | '.' | ' ' | '\n')) {
                    methods.push(method.to_string());
                }
            }
        }
        (route, methods)
    }

    /// What the document describes, as (path, method) pairs.
    fn documented() -> BTreeSet<(String, String)> {
        let json = serde_json::to_value(document()).unwrap();
        let mut found = BTreeSet::new();
        for (path, item) in json["paths"].as_object().unwrap() {
            for method in METHODS {
                if item.get(method).is_some() {
                    found.insert((path.clone(), method.to_string()));
                }
            }
        }
        found
    }

    /// The console is HTML for a person at a browser: its routes under
    /// `/admin` (not the admin API under `/admin/v1/`) are left out of the
    /// API description on purpose.
    fn is_console(path: &str) -> bool {
        path == "/admin" || (path.starts_with("/admin/") && !path.starts_with("/admin/v1/"))
    }

    #[test]
    fn every_route_is_documented() {
        let mut registered = BTreeSet::new();
        registrations(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("src/http"),
            &mut registered,
        );
        // The reader finds the routes it should, the console included.
        for known in [
            ("/v1/insurance-card-confirmations", "post"),
            ("/admin/v1/clock", "delete"),
            ("/admin/v1/confirmations/{id}/apdu-trace", "put"),
            ("/admin/login", "post"),
            ("/health", "get"),
        ] {
            let known = (known.0.to_string(), known.1.to_string());
            assert!(registered.contains(&known), "the reader missed {known:?}");
        }
        let (console, api): (BTreeSet<_>, BTreeSet<_>) =
            registered.into_iter().partition(|(p, _)| is_console(p));
        assert!(!console.is_empty());
        let documented = documented();
        let missing: Vec<_> = api.difference(&documented).collect();
        assert!(
            missing.is_empty(),
            "routes not in /openapi.json: {missing:?}"
        );
        let stray: Vec<_> = documented.difference(&api).collect();
        assert!(stray.is_empty(), "documented but not routed: {stray:?}");
    }

    #[test]
    fn every_operation_documents_its_errors_with_the_one_shape() {
        let json = serde_json::to_value(document()).unwrap();
        let error = &json["components"]["schemas"]["Error"];
        assert_eq!(error["required"], serde_json::json!(["error"]));
        assert_eq!(
            error["properties"]["error"]["required"],
            serde_json::json!(["code", "message"])
        );
        for (path, item) in json["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                let responses = operation["responses"].as_object().unwrap();
                assert!(
                    responses.keys().any(|s| s.starts_with('2')),
                    "{method} {path}: no success answer"
                );
                if path.starts_with("/v1/") {
                    assert!(responses.contains_key("503"), "{method} {path}: no 503");
                }
                for (status, response) in responses {
                    if status.starts_with('4') || status.starts_with('5') {
                        assert_eq!(
                            response["content"]["application/json"]["schema"]["$ref"],
                            "#/components/schemas/Error",
                            "{method} {path} {status}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn every_referenced_schema_is_in_the_document() {
        let json = serde_json::to_value(document()).unwrap();
        let schemas = json["components"]["schemas"].as_object().unwrap();
        let text = json.to_string();
        for (at, _) in text.match_indices("#/components/schemas/") {
            let name: String = text[at + "#/components/schemas/".len()..]
                .chars()
                .take_while(|c| *c != '"')
                .collect();
            assert!(schemas.contains_key(&name), "no schema {name}");
        }
    }

    #[tokio::test]
    async fn the_error_schema_matches_what_an_error_serializes_to() {
        let response = ApiError::bad_request("malformed_json", "m").into_response();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        let json = serde_json::to_value(document()).unwrap();
        let schema = &json["components"]["schemas"]["Error"];
        let keys = |v: &serde_json::Value| {
            v.as_object()
                .unwrap()
                .keys()
                .cloned()
                .collect::<BTreeSet<_>>()
        };
        assert_eq!(keys(&schema["properties"]), keys(&body));
        assert_eq!(
            keys(&schema["properties"]["error"]["properties"]),
            keys(&body["error"])
        );
    }
}
