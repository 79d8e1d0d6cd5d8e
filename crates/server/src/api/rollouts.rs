//! A change's rollout (RLO-2, RLO-4): its state, each ring's promotion
//! decision with the reasons, every host's job; the controls (pause,
//! resume, abort, roll back); customers' problem reports, which halt it;
//! and `POST /rollouts/run`, a pass of the driver now.

use axum::extract::State;
use axum::http::StatusCode;
use rivet_change::ring::{ProblemReportId, Promotion};
use rivet_change::rollout::{Rollout, RolloutError};
use rivet_core::access::Permission;
use rivet_core::id::HostId;
use rivet_store::{ProblemReport, StoredChange, StoredJob, StoredRollout};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::{ApiError, ErrorBody, ErrorKind};
use super::extract::{Caller, Json, Path};
use super::{Api, actor, require, visible};
use crate::rollout::{TickSummary, tick};

/// Longest problem report or comment.
const MAX_TEXT: usize = 4000;

/// One ring of a rollout.
#[derive(Debug, Serialize, ToSchema)]
pub struct RingView {
    /// The ring.
    pub name: String,
    /// Hosts with a job in it.
    pub hosts: u32,
    /// Of them, succeeded.
    pub succeeded: u32,
    /// Failed or rolled back by their agent.
    pub failed: u32,
    /// Whether the next ring is approved now, and why or why not.
    #[schema(value_type = Object)]
    pub promotion: Option<Promotion>,
}

/// `GET /changes/{id}/rollout`.
#[derive(Debug, Serialize, ToSchema)]
pub struct RolloutView {
    /// The change.
    pub change_id: String,
    /// `running`, `paused`, `halted`, `aborted`, `completed`,
    /// `rolling_back`, `rolled_back`.
    pub state: String,
    /// The state with its reason (a halt's cause).
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
    /// The rings in order.
    pub rings: Vec<RingView>,
    /// Every job, with its report.
    pub jobs: Vec<StoredJob>,
    /// Hosts that got no job: none of their windows opens in the horizon.
    #[schema(value_type = Vec<Object>)]
    pub unscheduled: serde_json::Value,
    /// Problem reports, open and closed.
    #[schema(value_type = Vec<Object>)]
    pub problems: Vec<ProblemReport>,
}

async fn change_for(
    api: &Api,
    caller: &rivet_core::access::Principal,
    id: &str,
) -> Result<StoredChange, ApiError> {
    let change = api
        .store
        .change(id)
        .await?
        .ok_or_else(|| ApiError::not_found("change"))?;
    visible(caller, change.tenant_id, "change")?;
    Ok(change)
}

async fn rollout_for(api: &Api, change: &str) -> Result<(StoredRollout, Rollout), ApiError> {
    let stored = api
        .store
        .rollout(change)
        .await?
        .ok_or_else(|| ApiError::new(ErrorKind::NotFound, "the change has no rollout (yet)"))?;
    let rollout = serde_json::from_value(stored.body.clone()).map_err(|e| {
        ApiError::new(
            ErrorKind::Internal,
            format!("the rollout document does not read: {e}"),
        )
    })?;
    Ok((stored, rollout))
}

async fn view(api: &Api, change: &str) -> Result<RolloutView, ApiError> {
    let (stored, rollout) = rollout_for(api, change).await?;
    let now = api.clock.now();
    let rings = rollout
        .rings()
        .rings()
        .iter()
        .enumerate()
        .map(|(i, ring)| {
            let outcome = rollout.ring_outcome(i);
            RingView {
                name: ring.name.clone(),
                hosts: outcome.hosts,
                succeeded: outcome.succeeded,
                failed: (outcome.failed.len() + outcome.rolled_back.len()) as u32,
                promotion: rollout.promotion(i, now),
            }
        })
        .collect();
    Ok(RolloutView {
        change_id: stored.change_id.clone(),
        state: stored.state.clone(),
        detail: serde_json::to_value(rollout.state()).unwrap_or_default(),
        rings,
        jobs: api.store.jobs_of_change(change).await?,
        unscheduled: serde_json::to_value(rollout.unscheduled()).unwrap_or_default(),
        problems: api.store.problem_reports(change).await?,
    })
}

/// A change's rollout.
#[utoipa::path(get, path = "/changes/{id}/rollout", tag = "changes",
    security(("bearer" = ["change:read"])),
    params(("id" = String, Path, description = "Change id")),
    responses((status = 200, body = RolloutView), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(api): State<Api>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Result<Json<RolloutView>, ApiError> {
    require(&caller, Permission::ChangeRead)?;
    change_for(&api, &caller, &id).await?;
    Ok(Json(view(&api, &id).await?))
}

/// A control's comment.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Control {
    /// Why.
    #[serde(default)]
    pub comment: String,
}

/// Applies a person's control to a rollout, under the driver's lock.
async fn control(
    api: &Api,
    caller: &rivet_core::access::Principal,
    id: &str,
    action: &'static str,
    comment: &str,
    apply: impl FnOnce(&mut Rollout, rivet_core::Timestamp) -> Result<(), RolloutError>,
) -> Result<RolloutView, ApiError> {
    require(caller, Permission::ChangeOperate)?;
    text("comment", comment, false)?;
    change_for(api, caller, id).await?;
    {
        let _held = api.rollouts.lock().await;
        let now = api.clock.now();
        let (stored, mut rollout) = rollout_for(api, id).await?;
        let from = stored.state.clone();
        apply(&mut rollout, now).map_err(|e| ApiError::new(ErrorKind::Conflict, e.to_string()))?;
        let doc = StoredRollout {
            state: rollout.state().name().to_owned(),
            body: serde_json::to_value(&rollout).unwrap_or_default(),
            ..stored
        };
        let note = serde_json::json!({"from": from, "to": doc.state, "comment": comment});
        api.store
            .save_rollout(&doc, &[], Some((action, note)), &actor(caller), now)
            .await?
            .ok_or_else(|| {
                ApiError::new(
                    ErrorKind::Conflict,
                    "the rollout changed meanwhile; try again",
                )
            })?;
    }
    // Skipped or rolled-back jobs and ended changes follow at once.
    api.rollouts.wake();
    view(api, id).await
}

fn text(field: &str, value: &str, required: bool) -> Result<(), ApiError> {
    if (required && value.trim().is_empty())
        || value.len() > MAX_TEXT
        || value.chars().any(|c| c.is_control() && c != '\n')
    {
        return Err(ApiError::invalid(
            field,
            format!(
                "must be {} to {MAX_TEXT} characters without control characters",
                u8::from(required)
            ),
        ));
    }
    Ok(())
}

macro_rules! control_route {
    ($name:ident, $path:literal, $action:literal, $doc:literal, $call:expr) => {
        #[doc = $doc]
        #[utoipa::path(post, path = $path, tag = "changes",
            security(("bearer" = ["change:operate"])),
            params(("id" = String, Path, description = "Change id")),
            request_body = Control,
            responses((status = 200, body = RolloutView), (status = 404, body = ErrorBody),
                (status = 409, description = "Not allowed in the rollout's state", body = ErrorBody)))]
        pub async fn $name(
            State(api): State<Api>,
            Caller(caller): Caller,
            Path(id): Path<String>,
            Json(c): Json<Control>,
        ) -> Result<Json<RolloutView>, ApiError> {
            Ok(Json(control(&api, &caller, &id, $action, &c.comment, $call).await?))
        }
    };
}

control_route!(
    pause,
    "/changes/{id}/rollout/pause",
    "rollout.pause",
    "Pauses a running rollout: jobs in flight finish, no new ones start.",
    |r, at| r.pause(at)
);
control_route!(
    resume,
    "/changes/{id}/rollout/resume",
    "rollout.resume",
    "Resumes a paused rollout, or a halted one whose problem reports are closed.",
    |r, at| r.resume(at)
);
control_route!(
    abort,
    "/changes/{id}/rollout/abort",
    "rollout.abort",
    "Aborts a rollout: jobs not yet handed out are skipped; the change fails.",
    |r, at| r.abort(at)
);
control_route!(
    roll_back,
    "/changes/{id}/rollout/roll-back",
    "rollout.roll_back",
    "Rolls the change back: every host where it succeeded gets the versions before.",
    |r, at| r.roll_back(at)
);

/// `POST /changes/{id}/problems`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewProblem {
    /// The host of the rollout the problem shows on.
    #[schema(value_type = String)]
    pub host: HostId,
    /// What is wrong.
    pub text: String,
}

/// A customer reports a problem with a rollout (RLO-2): the rollout halts,
/// no later ring is promoted, until the report is closed and someone
/// resumes it.
#[utoipa::path(post, path = "/changes/{id}/problems", tag = "changes",
    security(("bearer" = ["change:order"])),
    params(("id" = String, Path, description = "Change id")),
    request_body = NewProblem,
    responses((status = 201, body = ProblemReport), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn report_problem(
    State(api): State<Api>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    Json(req): Json<NewProblem>,
) -> Result<(StatusCode, Json<ProblemReport>), ApiError> {
    require(&caller, Permission::ChangeOrder)?;
    text("text", &req.text, true)?;
    let change = change_for(&api, &caller, &id).await?;
    let _held = api.rollouts.lock().await;
    let now = api.clock.now();
    let (stored, mut rollout) = rollout_for(&api, &id).await?;
    let report_id = ProblemReportId(rivet_core::id::UserId::new(now, super::random()).0);
    rollout
        .report_problem(req.host, report_id, now)
        .map_err(|e| match e {
            RolloutError::UnknownHost { .. } => ApiError::invalid("host", e.to_string()),
            other => ApiError::new(ErrorKind::Conflict, other.to_string()),
        })?;
    let report = ProblemReport {
        id: report_id.0.to_string(),
        change_id: id.clone(),
        tenant_id: change.tenant_id,
        host_id: Some(req.host),
        reported_by: caller.username.clone(),
        text: req.text.trim().to_owned(),
        opened_at: now,
        closed_at: None,
        closed_by: None,
        resolution: None,
    };
    api.store
        .open_problem_report(&report, &actor(&caller))
        .await?;
    let doc = StoredRollout {
        state: rollout.state().name().to_owned(),
        body: serde_json::to_value(&rollout).unwrap_or_default(),
        ..stored
    };
    api.store
        .save_rollout(&doc, &[], None, &actor(&caller), now)
        .await?
        .ok_or_else(|| {
            ApiError::new(
                ErrorKind::Conflict,
                "the rollout changed meanwhile; try again",
            )
        })?;
    Ok((StatusCode::CREATED, Json(report)))
}

/// `POST /problems/{id}/close`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CloseProblem {
    /// How it was resolved.
    pub resolution: String,
}

/// Closes a problem report. A halted rollout still waits for someone to
/// resume it.
#[utoipa::path(post, path = "/problems/{id}/close", tag = "changes",
    security(("bearer" = ["change:operate"])),
    params(("id" = String, Path, description = "Problem report id")),
    request_body = CloseProblem,
    responses((status = 200, body = ProblemReport), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn close_problem(
    State(api): State<Api>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    Json(req): Json<CloseProblem>,
) -> Result<Json<ProblemReport>, ApiError> {
    require(&caller, Permission::ChangeOperate)?;
    text("resolution", &req.resolution, true)?;
    let report = api
        .store
        .problem_report(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("problem report"))?;
    visible(&caller, report.tenant_id, "problem report")?;
    let report_id = id
        .parse::<uuid::Uuid>()
        .map(ProblemReportId)
        .map_err(|_| ApiError::not_found("problem report"))?;
    let _held = api.rollouts.lock().await;
    let now = api.clock.now();
    let closed = api
        .store
        .close_problem_report(&id, req.resolution.trim(), &actor(&caller), now)
        .await?
        .ok_or_else(|| {
            ApiError::new(ErrorKind::Conflict, "the problem report is closed already")
        })?;
    if let Ok((stored, mut rollout)) = rollout_for(&api, &report.change_id).await
        && rollout.close_problem(report_id, now).is_ok()
    {
        let doc = StoredRollout {
            body: serde_json::to_value(&rollout).unwrap_or_default(),
            ..stored
        };
        api.store
            .save_rollout(&doc, &[], None, &actor(&caller), now)
            .await?;
    }
    Ok(Json(closed))
}

/// Runs a pass of the rollout driver now and says what it did (it also
/// runs by itself every few seconds), audited. The changes it could not
/// drive are named only to callers who see every tenant.
#[utoipa::path(post, path = "/rollouts/run", tag = "changes",
    security(("bearer" = ["change:operate"])),
    responses((status = 200, body = TickSummary)))]
pub async fn run(
    State(api): State<Api>,
    Caller(caller): Caller,
) -> Result<Json<TickSummary>, ApiError> {
    require(&caller, Permission::ChangeOperate)?;
    let mut summary = tick(&api).await?;
    if caller.visibility() != rivet_core::access::Visibility::All {
        summary.problems.clear();
    }
    api.store
        .record_audit(rivet_core::audit::AuditEvent {
            at: api.clock.now(),
            actor: actor(&caller),
            action: "rollout.run".into(),
            target_kind: "rollout".into(),
            target_id: None,
            tenant_id: None,
            before: None,
            after: serde_json::to_string(&summary).ok(),
        })
        .await?;
    Ok(Json(summary))
}
