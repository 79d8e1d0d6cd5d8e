//! The API's one error type. Every failure a handler can meet becomes an
//! [`ApiError`] with a stable machine-readable `kind`; the HTTP status is
//! decided here and nowhere else. The body is always
//! `{"error":{"kind":"…","message":"…"}}`.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use rivet_core::access::Permission;
use rivet_core::validate::Invalid;
use rivet_store::StoreError;
use serde::Serialize;
use utoipa::ToSchema;

/// An error answered to an API caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The stable kind.
    pub kind: ErrorKind,
    /// What went wrong, for people.
    pub message: String,
}

/// The kinds of API errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// 401: no usable credentials.
    Unauthenticated,
    /// 401: an agent's request time is too far from the server's.
    ClockSkew,
    /// 403: authenticated, but not allowed.
    Forbidden,
    /// 404: no such thing, or not visible to the caller.
    NotFound,
    /// 405: the path exists, the method does not.
    MethodNotAllowed,
    /// 400: the request is malformed (syntax, query, path).
    BadRequest,
    /// 422: well-formed, but a field is invalid.
    Invalid,
    /// 409: conflicts with what exists (e.g. a duplicate name).
    Conflict,
    /// 413: the body is larger than allowed.
    PayloadTooLarge,
    /// 415: the body is not JSON.
    UnsupportedMediaType,
    /// 429: too many attempts.
    RateLimited,
    /// 503: the server cannot serve now (e.g. the database is down).
    Unavailable,
    /// 500: a fault of the server.
    Internal,
}

impl ErrorKind {
    /// The HTTP status of this kind.
    pub fn status(self) -> StatusCode {
        match self {
            ErrorKind::Unauthenticated | ErrorKind::ClockSkew => StatusCode::UNAUTHORIZED,
            ErrorKind::Forbidden => StatusCode::FORBIDDEN,
            ErrorKind::NotFound => StatusCode::NOT_FOUND,
            ErrorKind::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ErrorKind::BadRequest => StatusCode::BAD_REQUEST,
            ErrorKind::Invalid => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorKind::Conflict => StatusCode::CONFLICT,
            ErrorKind::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorKind::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorKind::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl ApiError {
    /// An error of `kind` with `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        ApiError {
            kind,
            message: message.into(),
        }
    }

    /// 401 with a reason.
    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unauthenticated, message)
    }

    /// 403 for a permission the caller lacks.
    pub fn lacks(permission: Permission) -> Self {
        Self::new(
            ErrorKind::Forbidden,
            format!(
                "this needs the {permission} permission, which your role or token does not grant"
            ),
        )
    }

    /// 403 with a reason.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Forbidden, message)
    }

    /// 404 for a record of `what` that does not exist or is not visible.
    pub fn not_found(what: &str) -> Self {
        Self::new(ErrorKind::NotFound, format!("{what} not found"))
    }

    /// 400 with a reason.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::BadRequest, message)
    }

    /// 422 for a field with a reason.
    pub fn invalid(field: &str, reason: impl std::fmt::Display) -> Self {
        Self::new(ErrorKind::Invalid, format!("{field}: {reason}"))
    }

    /// 500, logging the detail and telling the caller only that it happened.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "internal error");
        Self::new(
            ErrorKind::Internal,
            "internal error; the server log has the details",
        )
    }
}

impl From<Invalid> for ApiError {
    fn from(e: Invalid) -> Self {
        ApiError::invalid(e.field, e.reason)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(m) | StoreError::Refused(m) => {
                ApiError::new(ErrorKind::Conflict, m)
            }
            StoreError::BadCursor(_) => ApiError::bad_request(e.to_string()),
            e if e.is_unavailable() => {
                tracing::error!(error = %e, "database unavailable");
                ApiError::new(
                    ErrorKind::Unavailable,
                    "the database is unavailable; try again later",
                )
            }
            other => ApiError::internal(other),
        }
    }
}

/// The error body.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// The error inside the body.
#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    /// The stable kind.
    pub kind: ErrorKind,
    /// What went wrong.
    pub message: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                kind: self.kind,
                message: self.message,
            },
        };
        let mut response = (self.kind.status(), Json(body)).into_response();
        if self.kind == ErrorKind::Unauthenticated {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer realm=\"rivet\""),
            );
        }
        response
    }
}
