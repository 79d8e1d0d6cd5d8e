//! Logging in (a password for a token), who am I, and changing one's own
//! password. Failed logins are counted per user name and throttled.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use rivet_core::Timestamp;
use rivet_core::access::Permission;
use rivet_core::audit::{Actor, ActorKind};
use rivet_core::id::TokenId;
use rivet_core::tenant::Tenant;
use rivet_core::user::{ApiToken, TokenSecret, User};
use rivet_core::validate;
use rivet_store::NewToken;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::{ApiError, ErrorBody, ErrorKind};
use super::extract::{Caller, Json};
use super::{Api, actor, random};

/// Counts failed logins per user name within a sliding window.
#[derive(Debug)]
pub struct LoginThrottle {
    max_failures: u32,
    window: Duration,
    failures: Mutex<HashMap<String, Vec<Timestamp>>>,
}

/// Beyond this many tracked names, names whose failures are all outside the
/// window are forgotten, so that a flood of made-up names cannot exhaust
/// memory.
const MAX_TRACKED_NAMES: usize = 10_000;

impl LoginThrottle {
    /// A throttle allowing `max_failures` per `window`.
    pub fn new(max_failures: u32, window: Duration) -> Self {
        Self {
            max_failures,
            window,
            failures: Mutex::new(HashMap::new()),
        }
    }

    fn recent(&self, failures: &[Timestamp], now: Timestamp) -> usize {
        let window =
            jiff::SignedDuration::try_from(self.window).unwrap_or(jiff::SignedDuration::MAX);
        failures
            .iter()
            .filter(|t| now.duration_since(**t) < window)
            .count()
    }

    /// `Err(seconds to wait)` if `name` has failed too often recently.
    pub fn check(&self, name: &str, now: Timestamp) -> Result<(), u64> {
        let map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        match map.get(name) {
            Some(f) if self.recent(f, now) >= self.max_failures as usize => {
                let oldest = f.iter().min().copied().unwrap_or(now);
                let waited = now.duration_since(oldest).as_secs().max(0) as u64;
                Err(self.window.as_secs().saturating_sub(waited).max(1))
            }
            _ => Ok(()),
        }
    }

    /// Records a failed attempt.
    pub fn fail(&self, name: &str, now: Timestamp) {
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= MAX_TRACKED_NAMES {
            map.retain(|_, f| self.recent(f, now) > 0);
        }
        let entry = map.entry(name.to_owned()).or_default();
        let keep = self.max_failures as usize;
        entry.push(now);
        if entry.len() > keep {
            entry.drain(..entry.len() - keep);
        }
    }

    /// Forgets the failures of a name that logged in.
    pub fn succeed(&self, name: &str) {
        self.failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(name);
    }
}

/// A login.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// The user name.
    pub username: String,
    /// The password.
    pub password: String,
    /// A name for the token (default: "login").
    pub token_name: Option<String>,
}

/// A new token and what it belongs to.
#[derive(Serialize, ToSchema)]
pub struct IssuedToken {
    /// The secret token: shown this once, never again.
    pub token: String,
    /// The token's record.
    pub info: ApiToken,
}

/// Trades a user name and password for an API token with all of the user's
/// permissions, valid for `auth.login_token_hours`.
#[utoipa::path(post, path = "/auth/login", tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 201, description = "Logged in", body = IssuedToken),
        (status = 401, description = "Wrong user name or password", body = ErrorBody),
        (status = 429, description = "Too many failed attempts", body = ErrorBody),
    ))]
pub async fn login(
    State(api): State<Api>,
    Json(req): Json<LoginRequest>,
) -> Result<(StatusCode, Json<IssuedToken>), ApiError> {
    let now = api.clock.now();
    let name = req.username.trim().to_ascii_lowercase();
    if name.len() > 64 || req.password.len() > validate::MAX_PASSWORD_BYTES {
        return Err(ApiError::unauthenticated("wrong user name or password"));
    }
    if let Err(wait) = api.logins.check(&name, now) {
        return Err(ApiError::new(
            ErrorKind::RateLimited,
            format!("too many failed logins for this user; try again in {wait} seconds"),
        ));
    }
    let found = api.store.user_credentials(&name).await?;
    let stored = found
        .as_ref()
        .map_or(crate::password::DECOY_HASH.to_owned(), |(_, h)| h.clone());
    let password = req.password.clone();
    let matches = tokio::task::spawn_blocking(move || crate::password::verify(&password, &stored))
        .await
        .map_err(ApiError::internal)?;
    let user = match found {
        Some((user, _)) if matches && !user.disabled => user,
        _ => {
            api.logins.fail(&name, now);
            tracing::warn!(username = %name, "failed login");
            return Err(ApiError::unauthenticated("wrong user name or password"));
        }
    };
    api.logins.succeed(&name);
    let token_name = req.token_name.unwrap_or_else(|| "login".into());
    validate::display_name("token_name", &token_name, 100)?;
    let issued = issue_token(
        &api,
        &user,
        token_name,
        user.role.permissions().iter().copied().collect(),
        now + jiff::SignedDuration::from_hours(i64::from(api.config.auth.login_token_hours)),
        &Actor {
            kind: ActorKind::User,
            id: Some(user.id.to_string()),
            name: user.username.clone(),
            token_id: None,
        },
    )
    .await?;
    Ok((StatusCode::CREATED, Json(issued)))
}

/// Creates a token for `user` and returns its secret.
pub(crate) async fn issue_token(
    api: &Api,
    user: &User,
    name: String,
    scopes: BTreeSet<Permission>,
    expires_at: Timestamp,
    actor: &Actor,
) -> Result<IssuedToken, ApiError> {
    let now = api.clock.now();
    let secret = TokenSecret::new(TokenId::new(now, random()), random());
    let new = NewToken {
        id: secret.id,
        user_id: user.id,
        tenant_id: user.tenant_id,
        name,
        secret_hash: secret.hash(),
        scopes,
        expires_at,
    };
    let info = api.store.create_token(&new, actor, now).await?;
    Ok(IssuedToken {
        token: secret.expose(),
        info,
    })
}

/// The caller, their tenant and what they may do.
#[derive(Serialize, ToSchema)]
pub struct WhoAmI {
    /// The user.
    pub user: User,
    /// The user's tenant.
    pub tenant: Tenant,
    /// The permissions of the role, narrowed by the token.
    pub permissions: Vec<Permission>,
    /// The token in use.
    pub token: ApiToken,
}

/// Who the caller is.
#[utoipa::path(get, path = "/auth/whoami", tag = "auth",
    security(("bearer" = [])),
    responses((status = 200, body = WhoAmI), (status = 401, body = ErrorBody)))]
pub async fn whoami(
    State(api): State<Api>,
    Caller(caller): Caller,
) -> Result<Json<WhoAmI>, ApiError> {
    let user = api
        .store
        .get_user(caller.user_id)
        .await?
        .ok_or_else(|| ApiError::not_found("user"))?;
    let tenant = api
        .store
        .get_tenant(caller.tenant_id)
        .await?
        .ok_or_else(|| ApiError::not_found("tenant"))?;
    let (token, _) = api
        .store
        .get_token(caller.token_id)
        .await?
        .ok_or_else(|| ApiError::not_found("token"))?;
    Ok(Json(WhoAmI {
        user,
        tenant,
        permissions: caller.effective_permissions().into_iter().collect(),
        token,
    }))
}

/// A change of one's own password.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    /// The password now.
    pub current_password: String,
    /// The new password (at least 12 characters).
    pub new_password: String,
}

/// Changes the caller's own password. Every token of the caller, this one
/// included, is revoked: log in again afterwards.
#[utoipa::path(put, path = "/auth/password", tag = "auth",
    security(("bearer" = [])),
    request_body = PasswordChange,
    responses((status = 204), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn change_password(
    State(api): State<Api>,
    Caller(caller): Caller,
    Json(req): Json<PasswordChange>,
) -> Result<StatusCode, ApiError> {
    validate::password(&req.new_password, &caller.username)?;
    let (_, stored) = api
        .store
        .user_credentials(&caller.username)
        .await?
        .ok_or_else(|| ApiError::not_found("user"))?;
    let current = req.current_password.clone();
    let new = req.new_password.clone();
    let (matches, hash) = tokio::task::spawn_blocking(move || {
        if crate::password::verify(&current, &stored) {
            (true, crate::password::hash(&new))
        } else {
            (false, Err(String::new()))
        }
    })
    .await
    .map_err(ApiError::internal)?;
    if !matches {
        return Err(ApiError::invalid(
            "current_password",
            "is not your current password",
        ));
    }
    let hash = hash.map_err(ApiError::internal)?;
    api.store
        .set_password(caller.user_id, &hash, &actor(&caller), api.clock.now())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttle_counts_within_the_window() {
        let t = LoginThrottle::new(3, Duration::from_secs(60));
        let at = |s: i64| Timestamp::from_second(1_000 + s).unwrap();
        for s in 0..3 {
            assert_eq!(t.check("jane", at(s)), Ok(()));
            t.fail("jane", at(s));
        }
        assert_eq!(t.check("jane", at(3)), Err(57));
        assert_eq!(t.check("john", at(3)), Ok(()));
        assert_eq!(
            t.check("jane", at(61)),
            Ok(()),
            "the oldest failure left the window"
        );
        t.succeed("jane");
        assert_eq!(t.check("jane", at(4)), Ok(()));
    }
}
