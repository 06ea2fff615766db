//! Injected faults: what a scenario sets to see how a client copes with a
//! slow, failing or unreachable service.
//!
//! Faults are set per endpoint (`challenges`, `confirmations`,
//! `registrations`, `history`) or for all of them (`*`), through the admin
//! API. They apply to the client API only, never to the admin API, so a test
//! can always undo what it did.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::error::ApiError;

/// What to do to requests of one endpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Fault {
    /// Wait this long before handling the request.
    #[serde(default)]
    pub latency_ms: u64,
    /// Answer with this status (and an `injected_fault` error) instead of handling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Send the response headers, then break the connection mid-body.
    #[serde(default)]
    pub drop_connection: bool,
}

/// The whole fault configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FaultSet {
    /// Faults by endpoint name; `*` applies to every endpoint without its own.
    #[serde(default)]
    pub endpoints: BTreeMap<String, Fault>,
    /// The whole client API answers 503 `maintenance`, as during the
    /// service's outages; raising it publishes an outage notice (お知らせ)
    /// that the app shows at the next login.
    #[serde(default)]
    pub maintenance: bool,
}

/// The endpoints faults can name.
pub const ENDPOINTS: &[&str] = &[
    "challenges",
    "confirmations",
    "insurance-card-confirmations",
    "registrations",
    "history",
];

impl FaultSet {
    /// A fault set from a JSON body: an object, checked. serde would also
    /// take an array (`[]`, fields in order) as a fault set, which would
    /// clear every fault; no client means that.
    pub fn from_json(value: serde_json::Value) -> Result<FaultSet, String> {
        if !value.is_object() {
            return Err(
                "a fault set is a JSON object: {\"endpoints\": {…}, \"maintenance\": …}".into(),
            );
        }
        let set: FaultSet = serde_json::from_value(value).map_err(|e| e.to_string())?;
        set.validate()?;
        Ok(set)
    }

    /// Checks that every endpoint named exists and every status is an error status.
    pub fn validate(&self) -> Result<(), String> {
        for (name, fault) in &self.endpoints {
            if name != "*" && !ENDPOINTS.contains(&name.as_str()) {
                return Err(format!(
                    "unknown endpoint {name:?}; one of {ENDPOINTS:?} or \"*\""
                ));
            }
            if let Some(status) = fault.status
                && !(400..=599).contains(&status)
            {
                return Err(format!(
                    "{name}: status {status} is not an error status (400-599)"
                ));
            }
            if fault.latency_ms > 600_000 {
                return Err(format!("{name}: latency_ms over 10 minutes"));
            }
        }
        Ok(())
    }

    fn for_endpoint(&self, name: &str) -> Option<&Fault> {
        self.endpoints.get(name).or_else(|| self.endpoints.get("*"))
    }
}

/// The faults in force, shared by the admin API and the middleware.
#[derive(Debug, Clone, Default)]
pub struct Faults(Arc<RwLock<FaultSet>>);

impl Faults {
    pub fn get(&self) -> FaultSet {
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn set(&self, faults: FaultSet) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = faults;
    }
}

/// The endpoint name of a client API path: `/v1/confirmations` → `confirmations`.
fn endpoint_of(path: &str) -> Option<&str> {
    let name = path.strip_prefix("/v1/")?.split('/').next()?;
    ENDPOINTS.contains(&name).then_some(name)
}

/// Middleware applying the faults to the client API.
pub async fn apply(State(faults): State<Faults>, request: Request, next: Next) -> Response {
    let path = request.extensions().get::<MatchedPath>().map_or_else(
        || request.uri().path().to_string(),
        |p| p.as_str().to_string(),
    );
    let set = faults.get();
    if set.maintenance {
        return ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "maintenance",
            "the service is under maintenance; confirm with the other means the manual lists",
        )
        .into_response();
    }
    let Some(fault) = endpoint_of(&path)
        .and_then(|name| set.for_endpoint(name))
        .cloned()
    else {
        return next.run(request).await;
    };
    if fault.latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(fault.latency_ms)).await;
    }
    if let Some(status) = fault.status {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return ApiError::new(
            status,
            "injected_fault",
            format!("injected fault: {status}"),
        )
        .into_response();
    }
    if fault.drop_connection {
        // Headers go out, then the body stream fails: the client sees the
        // connection end in the middle of a response.
        let broken = futures_util::stream::once(async {
            Err::<axum::body::Bytes, _>(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "injected fault: connection dropped",
            ))
        });
        return Response::builder()
            .status(StatusCode::OK)
            .header("content-type", "application/json")
            .header("content-length", "1024")
            .body(Body::from_stream(broken))
            .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response());
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_by_path() {
        assert_eq!(endpoint_of("/v1/confirmations"), Some("confirmations"));
        assert_eq!(endpoint_of("/v1/registrations/{id}"), Some("registrations"));
        assert_eq!(endpoint_of("/admin/v1/clock"), None);
        assert_eq!(endpoint_of("/v1/unknown"), None);
    }

    #[test]
    fn validation_names_the_problem() {
        let mut set = FaultSet::default();
        set.endpoints
            .insert("confirmation".into(), Fault::default());
        assert!(set.validate().unwrap_err().contains("unknown endpoint"));
        let mut set = FaultSet::default();
        set.endpoints.insert(
            "*".into(),
            Fault {
                status: Some(200),
                ..Fault::default()
            },
        );
        assert!(set.validate().unwrap_err().contains("not an error status"));
    }

    #[test]
    fn star_applies_where_no_endpoint_fault_is_set() {
        let mut set = FaultSet::default();
        set.endpoints.insert(
            "*".into(),
            Fault {
                latency_ms: 5,
                ..Fault::default()
            },
        );
        set.endpoints.insert(
            "history".into(),
            Fault {
                status: Some(500),
                ..Fault::default()
            },
        );
        assert_eq!(set.for_endpoint("challenges").unwrap().latency_ms, 5);
        assert_eq!(set.for_endpoint("history").unwrap().status, Some(500));
    }
}
