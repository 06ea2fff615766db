//! A JSON body extractor whose rejections are [`ApiError`]s, so a malformed
//! body gets the same error shape as every other mistake.

use axum::extract::{FromRequest, Request};

use super::error::ApiError;

/// Like `axum::Json`, with our error shape.
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    axum::Json<T>: FromRequest<S, Rejection = axum::extract::rejection::JsonRejection>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let axum::Json(value) = axum::Json::<T>::from_request(request, state).await?;
        Ok(ApiJson(value))
    }
}
