//! Request extractors that answer bad input with an [`ApiError`] saying what
//! and where, instead of axum's plain-text rejections, and the extractor
//! that authenticates the caller.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use rivet_core::access::{CustomerScope, Principal};
use rivet_core::user::TokenSecret;
use serde::de::DeserializeOwned;

use super::Api;
use super::error::{ApiError, ErrorKind};

/// A JSON body. Syntax errors are 400, a wrong field or type is 422 (with
/// the field, line and column), a missing JSON content type is 415 and an
/// oversized body 413.
pub struct Json<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(Json(value)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

impl<T: serde::Serialize> axum::response::IntoResponse for Json<T> {
    fn into_response(self) -> axum::response::Response {
        axum::Json(self.0).into_response()
    }
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    let kind = match &rejection {
        JsonRejection::JsonDataError(_) => ErrorKind::Invalid,
        JsonRejection::JsonSyntaxError(_) => ErrorKind::BadRequest,
        JsonRejection::MissingJsonContentType(_) => ErrorKind::UnsupportedMediaType,
        other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => ErrorKind::PayloadTooLarge,
        _ => ErrorKind::BadRequest,
    };
    let message = match kind {
        ErrorKind::PayloadTooLarge => {
            "the request body is larger than the server accepts".to_owned()
        }
        ErrorKind::UnsupportedMediaType => {
            "send the body as JSON with Content-Type: application/json".to_owned()
        }
        _ => rejection.body_text(),
    };
    ApiError::new(kind, message)
}

/// Path parameters; a malformed one is a 400 naming it.
pub struct Path<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| Path(p.0))
            .map_err(|e: PathRejection| ApiError::bad_request(e.body_text()))
    }
}

/// Query parameters; unknown or malformed ones are a 400 naming them.
pub struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| Query(q.0))
            .map_err(|e: QueryRejection| ApiError::bad_request(e.body_text()))
    }
}

/// The authenticated caller: `Authorization: Bearer rvt_…` with a token
/// that exists, matches, has not expired or been revoked, and belongs to an
/// enabled user.
pub struct Caller(pub Principal);

impl FromRequestParts<Api> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, api: &Api) -> Result<Self, ApiError> {
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .ok_or_else(|| {
                ApiError::unauthenticated(
                    "authentication required: send Authorization: Bearer <token>",
                )
            })?;
        let presented = header
            .to_str()
            .ok()
            .and_then(|h| h.strip_prefix("Bearer "))
            .ok_or_else(|| {
                ApiError::unauthenticated("the Authorization header must be Bearer <token>")
            })?;
        let secret = TokenSecret::parse(presented.trim()).ok_or_else(|| {
            ApiError::unauthenticated("the bearer token is not a Rivet token (rvt_…)")
        })?;
        let invalid = || ApiError::unauthenticated("the token is not valid");
        let (token, hash) = api.store.get_token(secret.id).await?.ok_or_else(invalid)?;
        if !secret.matches(&hash) {
            return Err(invalid());
        }
        let now = api.clock.now();
        token
            .check_usable(now)
            .map_err(|why| ApiError::unauthenticated(why.to_string()))?;
        let user = api
            .store
            .get_user(token.user_id)
            .await?
            .ok_or_else(invalid)?;
        if user.disabled {
            return Err(ApiError::unauthenticated("the user is disabled"));
        }
        let tenant = api
            .store
            .get_tenant(user.tenant_id)
            .await?
            .ok_or_else(|| ApiError::internal(format!("user {} has no tenant", user.id)))?;
        api.store.touch_token(token.id, now).await?;
        Ok(Caller(Principal {
            user_id: user.id,
            username: user.username,
            tenant_id: tenant.id,
            tenant_kind: tenant.kind,
            role: user.role,
            customers: match tenant.kind {
                rivet_core::tenant::TenantKind::Provider => user.customers,
                rivet_core::tenant::TenantKind::Customer => CustomerScope::All,
            },
            token_id: token.id,
            scopes: token.scopes,
        }))
    }
}
