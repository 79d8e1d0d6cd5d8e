//! Notifications (RLO-6, REP-5): a tenant's settings
//! (`/tenants/{id}/notifications`), a test message on demand, and the
//! outbox (`/notifications`).

use axum::extract::State;
use axum::http::StatusCode;
use rivet_core::access::Permission;
use rivet_core::id::TenantId;
use rivet_core::notify::{DEFAULT_LEAD_HOURS, NotificationSettings, WebhookSecret};
use rivet_store::{Notification, SecretChange, TenantNotifications};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ErrorBody, ErrorKind};
use super::extract::{Caller, Json, Path, Query};
use super::{Api, Page, PageQuery, actor, random, require, visible};
use crate::notify::{self, NoticeError};

impl From<NoticeError> for ApiError {
    fn from(e: NoticeError) -> Self {
        match e {
            NoticeError::Invalid(i) => i.into(),
            NoticeError::NoTenant(_) => ApiError::not_found("tenant"),
            NoticeError::Store(s) => s.into(),
        }
    }
}

fn default_lead_hours() -> u32 {
    DEFAULT_LEAD_HOURS
}

/// `PUT /tenants/{id}/notifications`: the whole settings, replaced.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingsUpdate {
    /// Send e-mail to the recipients.
    #[serde(default)]
    pub email_enabled: bool,
    /// Up to 20 plain addresses (`ops@example.com`).
    #[serde(default)]
    pub email_recipients: Vec<String>,
    /// POST to the webhook.
    #[serde(default)]
    pub webhook_enabled: bool,
    /// `https://…`, or `http://` to a loopback address.
    #[serde(default)]
    pub webhook_url: Option<String>,
    /// Hours before a window its downtime is announced (1 to 720; 48).
    #[serde(default = "default_lead_hours")]
    pub lead_time_hours: u32,
    /// Make a new signing secret (the old one stops working).
    #[serde(default)]
    pub rotate_webhook_secret: bool,
}

/// A tenant's settings; `webhook_secret` only in the answer that made it.
#[derive(Debug, Serialize, ToSchema)]
pub struct SettingsReply {
    /// The settings.
    #[serde(flatten)]
    pub settings: TenantNotifications,
    /// The new signing secret, shown this once: keep it where the webhook's
    /// receiver checks signatures.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook_secret: Option<String>,
}

/// A tenant's notification settings (the defaults if it set none); the
/// webhook's secret is never shown.
#[utoipa::path(get, path = "/tenants/{id}/notifications", tag = "notifications",
    security(("bearer" = ["tenant:read"])),
    params(("id" = String, Path, description = "Tenant id")),
    responses((status = 200, body = TenantNotifications), (status = 404, body = ErrorBody)))]
pub async fn get_settings(
    State(api): State<Api>,
    Caller(caller): Caller,
    Path(id): Path<TenantId>,
) -> Result<Json<TenantNotifications>, ApiError> {
    require(&caller, Permission::TenantRead)?;
    visible(&caller, id, "tenant")?;
    api.store
        .get_tenant(id)
        .await?
        .ok_or_else(|| ApiError::not_found("tenant"))?;
    Ok(Json(api.store.notification_settings(id).await?))
}

/// Sets a tenant's notification settings. A webhook gets a signing secret
/// when it has none (or with `rotate_webhook_secret`), shown once in this
/// answer; removing the URL removes the secret.
#[utoipa::path(put, path = "/tenants/{id}/notifications", tag = "notifications",
    security(("bearer" = ["tenant:write"])),
    params(("id" = String, Path, description = "Tenant id")),
    request_body = SettingsUpdate,
    responses((status = 200, body = SettingsReply), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn set_settings(
    State(api): State<Api>,
    Caller(caller): Caller,
    Path(id): Path<TenantId>,
    Json(req): Json<SettingsUpdate>,
) -> Result<Json<SettingsReply>, ApiError> {
    require(&caller, Permission::TenantWrite)?;
    visible(&caller, id, "tenant")?;
    api.store
        .get_tenant(id)
        .await?
        .ok_or_else(|| ApiError::not_found("tenant"))?;
    let settings = NotificationSettings {
        email_enabled: req.email_enabled,
        email_recipients: req.email_recipients,
        webhook_enabled: req.webhook_enabled,
        webhook_url: req.webhook_url,
        lead_time_hours: req.lead_time_hours,
    };
    settings.validate()?;
    let current = api.store.notification_settings(id).await?;
    let secret = if settings.webhook_url.is_none() {
        SecretChange::Clear
    } else if req.rotate_webhook_secret || !current.webhook_secret_set {
        SecretChange::Set(WebhookSecret::new(random()))
    } else {
        SecretChange::Keep
    };
    let shown = match &secret {
        SecretChange::Set(s) => Some(s.expose().to_owned()),
        _ => None,
    };
    let stored = api
        .store
        .set_notification_settings(id, &settings, secret, &actor(&caller), api.clock.now())
        .await?;
    Ok(Json(SettingsReply {
        settings: stored,
        webhook_secret: shown,
    }))
}

/// Queues a test message to every enabled channel of the tenant, due now;
/// answers the messages queued.
#[utoipa::path(post, path = "/tenants/{id}/notifications/test", tag = "notifications",
    security(("bearer" = ["tenant:write"])),
    params(("id" = String, Path, description = "Tenant id")),
    responses((status = 202, body = Vec<Notification>), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn test(
    State(api): State<Api>,
    Caller(caller): Caller,
    Path(id): Path<TenantId>,
) -> Result<(StatusCode, Json<Vec<Notification>>), ApiError> {
    require(&caller, Permission::TenantWrite)?;
    visible(&caller, id, "tenant")?;
    let Some(ids) = notify::test_message(&api.store, id, &actor(&caller), api.clock.now()).await?
    else {
        return Err(ApiError::new(
            ErrorKind::Conflict,
            "the tenant has no notification channel enabled: set e-mail recipients or a webhook first",
        ));
    };
    let mut queued = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(n) = api.store.notification(id).await? {
            queued.push(n);
        }
    }
    Ok((StatusCode::ACCEPTED, Json(queued)))
}

/// Which notifications.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct OutboxQuery {
    /// Of this tenant.
    pub tenant: Option<TenantId>,
    /// Items per page, 1 to 1000 (default 100).
    pub limit: Option<u64>,
    /// The `next_cursor` of the previous page.
    pub after: Option<String>,
}

/// The outbox of the visible tenants: queued, sent and failed
/// notifications, newest first.
#[utoipa::path(get, path = "/notifications", tag = "notifications",
    security(("bearer" = ["tenant:read"])),
    params(OutboxQuery),
    responses((status = 200, body = Page<Notification>), (status = 403, body = ErrorBody)))]
pub async fn list(
    State(api): State<Api>,
    Caller(caller): Caller,
    Query(q): Query<OutboxQuery>,
) -> Result<Json<Page<Notification>>, ApiError> {
    require(&caller, Permission::TenantRead)?;
    let page = PageQuery {
        limit: q.limit,
        after: q.after,
    }
    .request()?;
    Ok(Json(
        api.store
            .list_notifications(&caller.visibility(), q.tenant, &page)
            .await?
            .into(),
    ))
}
