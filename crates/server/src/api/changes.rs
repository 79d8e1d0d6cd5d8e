//! `/changes` (CHG-1 to CHG-7, RLO-3, RLO-5): change requests from draft to
//! scheduled, cancelled and reviewed; the votes of the CAB and the
//! customer's approvers; a customer's orders; and the tenants' change
//! settings (approval policy, update policy, standard-change templates,
//! patch cycle). The engine (`rivet-change`) decides every transition and
//! vote; this module reads what the engine needs (the tenant's settings, the
//! targets' windows), calls it, and stores the result under the change's
//! revision, reading again and retrying when another request wrote the
//! change meanwhile, so that two approvers voting at once both count.
//!
//! A stored change's body is the engine's [`Change`] with one more field,
//! `approvals`: the votes cast on it. A reader that wants only the change
//! deserialises the body as a `Change` (unknown fields are ignored); a
//! writer goes through [`Record`], which keeps the votes.
//!
//! Status codes: a transition the state does not allow, or a refusal by a
//! rule (template, update policy, window) is 409; a vote or review refused
//! because of who the caller is (the requester, a role that does not vote,
//! the one who expedited) is 403; a missing or malformed comment, planned
//! start or field is 422.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::StatusCode;
use rivet_change::approval::{
    self, Approval, ApprovalContext, ApprovalPolicy, ApprovalStatus, CustomerApproval,
    Requirements, Verdict, VoteError,
};
use rivet_change::change::{
    AmendError, Change, ChangeId, ChangeKind, ChangeState, ChangeTemplate, InvalidChange,
    NewChange, Order, Patch, Refusal, Risk, Schedule, TEXT_MAX, TITLE_MAX, Target, TransitionError,
};
use rivet_change::policy::{ChangeDecision, Decision, UpdatePolicy, decide_change};
use rivet_change::window::is_open;
use rivet_core::Timestamp;
use rivet_core::access::{Permission, Principal, Role, Visibility};
use rivet_core::id::{HostId, TenantId, UserId};
use rivet_core::page::PageRequest;
use rivet_core::tenant::TenantKind;
use rivet_core::update::UpdateClass;
use rivet_store::{ChangeFilter, ChangeSetting, Host, HostFilter, Store, StoreError, StoredChange};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ErrorBody, ErrorKind};
use super::extract::{Caller, Json, Path, Query};
use super::{Api, Page, PageQuery, actor, require, visible};
use crate::patch_cycle::{self, CycleRun, PatchCycle, PatchCycleSpec};
use crate::schedule::{TenantWindows, freezes_for};

/// How often a write is tried again after another request wrote the same
/// change between our read and our write.
const ATTEMPTS: usize = 8;
/// The most templates a tenant may keep.
const TEMPLATES_MAX: usize = 100;
/// How many hosts outside their windows a change's view names.
const OUTSIDE_NAMED: usize = 20;

/// The backout plan a change made from a customer's order or a patch cycle
/// starts with; the provider completes it before submitting. It describes
/// what Rivet itself does on a failed installation (AGT-4, AGT-7).
pub const DEFAULT_BACKOUT: &str = "Roll back to the package versions the agent recorded before \
     the installation (Rivet keeps them in the patch store). To be completed by the provider \
     before submission.";

/// A change as stored and read back: the engine's change, the votes cast
/// on it, and the store's bookkeeping (revision, times).
#[derive(Debug, Clone)]
pub struct Record {
    /// The row as read.
    pub stored: StoredChange,
    /// The engine's change.
    pub change: Change,
    /// Every vote cast on it, in the order they were cast.
    pub approvals: Vec<Approval>,
}

impl Record {
    /// Reads a stored change.
    pub fn read(stored: StoredChange) -> Result<Record, ApiError> {
        let corrupt =
            |e: serde_json::Error| ApiError::internal(format!("change {}: {e}", stored.id));
        let change: Change = serde_json::from_value(stored.body.clone()).map_err(corrupt)?;
        let approvals = match stored.body.get("approvals") {
            Some(votes) => serde_json::from_value(votes.clone()).map_err(corrupt)?,
            None => Vec::new(),
        };
        Ok(Record {
            stored,
            change,
            approvals,
        })
    }

    /// The row to write for this record, at the revision it was read.
    pub fn to_stored(&self) -> Result<StoredChange, ApiError> {
        stored_change(
            &self.change,
            &self.approvals,
            self.stored.revision,
            self.stored.created_at,
            self.stored.updated_at,
        )
    }
}

/// The body a change is stored with: the change's fields and `approvals`.
pub fn change_body(change: &Change, approvals: &[Approval]) -> Result<Value, serde_json::Error> {
    let mut body = serde_json::to_value(change)?;
    if let Value::Object(map) = &mut body {
        map.insert("approvals".into(), serde_json::to_value(approvals)?);
    }
    Ok(body)
}

/// A change and its votes as a row, the columns taken from the change.
pub fn stored_change(
    change: &Change,
    approvals: &[Approval],
    revision: i64,
    created_at: Timestamp,
    updated_at: Timestamp,
) -> Result<StoredChange, ApiError> {
    Ok(StoredChange {
        id: change.id().to_string(),
        tenant_id: change.tenant(),
        kind: change.kind().name().into(),
        state: change.state().as_str().into(),
        title: change.title().into(),
        review_due: change.needs_review(),
        created_at,
        updated_at,
        revision,
        body: change_body(change, approvals).map_err(ApiError::internal)?,
    })
}

/// Parses a JSON value as `T`, naming the place of the first error
/// (`patches[1].version: invalid type …`) as a 422.
pub(crate) fn parse_value<T: DeserializeOwned>(value: Value) -> Result<T, ApiError> {
    serde_path_to_error::deserialize::<_, T>(value).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path == "." {
            ApiError::new(ErrorKind::Invalid, inner.to_string())
        } else {
            ApiError::new(ErrorKind::Invalid, format!("{path}: {inner}"))
        }
    })
}

/// A change request that failed validation: every field, joined.
pub(crate) fn invalid_change(e: InvalidChange) -> ApiError {
    ApiError::new(ErrorKind::Invalid, e.to_string())
}

/// A transition the engine refused, as the API answers it; `comment_field`
/// names the field a comment problem is about (`comment`, `notes`).
fn transition_error(e: TransitionError, comment_field: &str) -> ApiError {
    let message = e.to_string();
    match &e {
        TransitionError::NotAllowed { .. } => ApiError::new(ErrorKind::Conflict, message),
        TransitionError::Refused { reason, .. } => match reason {
            Refusal::CommentRequired | Refusal::Comment(_) => {
                ApiError::invalid(comment_field, message)
            }
            Refusal::PlannedStart { .. } => ApiError::invalid("planned_start", message),
            Refusal::OwnReview => ApiError::forbidden(message),
            Refusal::Template(_) | Refusal::TooEarly(_) => {
                ApiError::new(ErrorKind::Conflict, message)
            }
        },
    }
}

/// A vote the engine refused.
fn vote_error(e: VoteError) -> ApiError {
    let message = e.to_string();
    match e {
        VoteError::WrongRole(_) | VoteError::OwnChange | VoteError::WrongTenant => {
            ApiError::forbidden(message)
        }
        VoteError::NotAwaitingApproval(_) => ApiError::new(ErrorKind::Conflict, message),
        VoteError::CommentRequired | VoteError::BadComment => ApiError::invalid("comment", message),
        VoteError::Transition(t) => transition_error(t, "comment"),
    }
}

/// A tenant's change setting, or its default when it set none.
pub(crate) async fn setting<T: DeserializeOwned + Default>(
    store: &Store,
    tenant: TenantId,
    which: ChangeSetting,
) -> Result<T, ApiError> {
    match store.change_setting(tenant, which).await? {
        Some(body) => serde_json::from_value(body)
            .map_err(|e| ApiError::internal(format!("tenant {tenant}: {}: {e}", which.name()))),
        None => Ok(T::default()),
    }
}

/// Every host a listing selects, page by page.
async fn all_hosts(store: &Store, filter: &HostFilter) -> Result<Vec<Host>, StoreError> {
    let mut hosts = Vec::new();
    let mut after = None;
    loop {
        let page = PageRequest {
            limit: rivet_core::page::MAX_LIMIT,
            after,
        };
        let found = store.list_hosts(&Visibility::All, filter, &page).await?;
        hosts.extend(found.items);
        match found.next_cursor {
            Some(c) => after = Some(c),
            None => return Ok(hosts),
        }
    }
}

/// The hosts a change's targets name now: hosts by id, the hosts of its
/// groups and rings, or every host of its tenant; only its tenant's. The
/// rollout driver plans its jobs from the same hosts.
pub async fn target_hosts(store: &Store, change: &Change) -> Result<Vec<Host>, StoreError> {
    let tenant = change.tenant();
    let mut hosts: BTreeMap<HostId, Host> = BTreeMap::new();
    for target in change.targets() {
        let filter = HostFilter {
            tenant: Some(tenant),
            ..HostFilter::default()
        };
        let found = match target {
            Target::Host(id) => match id.parse::<HostId>() {
                Ok(id) => store
                    .get_host(id)
                    .await?
                    .filter(|h| h.tenant_id == tenant)
                    .into_iter()
                    .collect(),
                Err(_) => Vec::new(),
            },
            Target::Group(group) => {
                let filter = HostFilter {
                    group: Some(group.clone()),
                    ..filter
                };
                all_hosts(store, &filter).await?
            }
            Target::Ring(ring) => {
                let filter = HostFilter {
                    ring: Some(ring.clone()),
                    ..filter
                };
                all_hosts(store, &filter).await?
            }
            Target::Tenant(_) => all_hosts(store, &filter).await?,
        };
        for host in found {
            hosts.insert(host.id, host);
        }
    }
    Ok(hosts.into_values().collect())
}

/// Refuses targets that name hosts which are not the tenant's. Groups and
/// rings may be empty today and filled later, so they are not checked.
async fn check_target_hosts(store: &Store, change: &Change) -> Result<(), ApiError> {
    for (i, target) in change.targets().iter().enumerate() {
        if let Target::Host(id) = target {
            let found = match id.parse::<HostId>() {
                Ok(id) => store.get_host(id).await?,
                Err(_) => None,
            };
            if found.is_none_or(|h| h.tenant_id != change.tenant()) {
                return Err(ApiError::invalid(
                    &format!("targets[{i}].host"),
                    format!("{id} is not a host of the change's tenant"),
                ));
            }
        }
    }
    Ok(())
}

/// Where a change's work falls against its targets' maintenance windows
/// (RLO-5).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WindowCheck {
    /// The instant checked: the planned start, else the earliest start.
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    /// How many hosts the targets name now.
    pub hosts: usize,
    /// How many of them have no open window then (none defined, none open,
    /// or a change freeze).
    pub hosts_outside: usize,
    /// The first few of those, by name.
    pub outside: Vec<String>,
    /// Whether the work is outside a window for any target host.
    pub outside_window: bool,
}

/// Checks `at` against the windows and freezes of the change's target
/// hosts: the work is outside a window when any target host has no window
/// open at `at`.
pub async fn window_check(
    store: &Store,
    change: &Change,
    at: Timestamp,
) -> Result<WindowCheck, ApiError> {
    let hosts = target_hosts(store, change).await?;
    let windows = TenantWindows::read(store, change.tenant()).await?;
    // An occurrence lasts at most a week, and a freeze that overlaps any of
    // it cancels it whole: freezes that ended up to a week before matter.
    let since = at
        .checked_sub(jiff::SignedDuration::from_hours(7 * 24 + 1))
        .unwrap_or(at);
    let freezes = freezes_for(store, change.tenant(), since).await?;
    let outside: Vec<&Host> = hosts
        .iter()
        .filter(|h| !is_open(&windows.of_host(h), &freezes, at))
        .collect();
    Ok(WindowCheck {
        at,
        hosts: hosts.len(),
        hosts_outside: outside.len(),
        outside: outside
            .iter()
            .take(OUTSIDE_NAMED)
            .map(|h| h.name.clone())
            .collect(),
        outside_window: !outside.is_empty(),
    })
}

/// What the approval rules need to know about a change beyond itself.
struct Context {
    policy: ApprovalPolicy,
    approval: ApprovalContext,
    window: WindowCheck,
}

async fn context(store: &Store, change: &Change) -> Result<Context, ApiError> {
    let tenant = store
        .get_tenant(change.tenant())
        .await?
        .ok_or_else(|| ApiError::not_found("tenant"))?;
    let at = change
        .planned_start()
        .unwrap_or(change.timeframe().earliest_start);
    let window = window_check(store, change, at).await?;
    Ok(Context {
        policy: setting(store, change.tenant(), ChangeSetting::ApprovalPolicy).await?,
        approval: ApprovalContext {
            outside_window: window.outside_window,
            tenant_kind: tenant.kind,
        },
        window,
    })
}

/// A change as the API shows it: the change with its history, the votes,
/// what approvals it needs and where they stand, its window check, and the
/// update policy's decision with the patches that made it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChangeView {
    /// Its id.
    pub id: String,
    /// Its tenant.
    #[schema(value_type = String)]
    pub tenant_id: TenantId,
    /// Raised by every write.
    pub revision: i64,
    /// When it was last written.
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
    /// The change: kind, title, patches, targets, schedule, risk, impact,
    /// downtime, backout plan, test evidence, order, state, history, review.
    #[schema(value_type = Object)]
    pub change: Change,
    /// Every vote cast, oldest first.
    #[schema(value_type = Vec<Object>)]
    pub approvals: Vec<Approval>,
    /// The approvals it needs under its tenant's approval policy.
    #[schema(value_type = Object)]
    pub requirements: Requirements,
    /// Where they stand: pending (with what is missing), approved or
    /// rejected.
    #[schema(value_type = Object)]
    pub approval_status: ApprovalStatus,
    /// Its start against the target hosts' windows.
    pub window: WindowCheck,
    /// What the tenant's update policy allows for its patches, and why.
    #[schema(value_type = Object)]
    pub update_policy: ChangeDecision,
    /// An expedited emergency change not yet reviewed.
    pub review_due: bool,
}

async fn view(store: &Store, record: Record) -> Result<ChangeView, ApiError> {
    let ctx = context(store, &record.change).await?;
    let requirements = approval::requirements(&record.change, &ctx.policy, &ctx.approval);
    let approval_status = approval::status(&requirements, &record.approvals);
    let policy: UpdatePolicy =
        setting(store, record.change.tenant(), ChangeSetting::UpdatePolicy).await?;
    Ok(ChangeView {
        id: record.stored.id,
        tenant_id: record.stored.tenant_id,
        revision: record.stored.revision,
        updated_at: record.stored.updated_at,
        update_policy: decide_change(&policy, &record.change),
        review_due: record.change.needs_review(),
        change: record.change,
        approvals: record.approvals,
        requirements,
        approval_status,
        window: ctx.window,
    })
}

/// A change the caller may see, or 404.
async fn load(api: &Api, caller: &Principal, id: &str) -> Result<Record, ApiError> {
    let missing = || ApiError::not_found("change");
    id.parse::<ChangeId>().map_err(|_| missing())?;
    let stored = api.store.change(id).await?.ok_or_else(missing)?;
    visible(caller, stored.tenant_id, "change")?;
    Record::read(stored)
}

/// Writes a change read at its revision, with the audit note (to which
/// the states before and after are added); the change as written, or
/// `None` when another request wrote it meanwhile.
async fn commit(
    api: &Api,
    caller: &Principal,
    record: &Record,
    from: ChangeState,
    action: &str,
    mut note: Value,
    now: Timestamp,
) -> Result<Option<ChangeView>, ApiError> {
    if let Value::Object(map) = &mut note {
        map.insert("from".into(), json!(from));
        map.insert("to".into(), json!(record.change.state()));
    }
    let row = record.to_stored()?;
    match api
        .store
        .save_change(&row, action, note, &actor(caller), now)
        .await?
    {
        Some(saved) => Ok(Some(view(&api.store, Record::read(saved)?).await?)),
        None => Ok(None),
    }
}

/// Reads the change the caller may see as `$r` at time `$now`, runs
/// `$body` on it (which changes `$r` in memory and gives the audit note, or
/// returns an error from the handler), and writes it under the revision
/// read; when another request wrote the change meanwhile, reads it again
/// and runs the body again. The change as written, or a conflict after
/// [`ATTEMPTS`]. A macro rather than a function taking a closure, so that
/// the body may await and the handler's future stays `Send`.
macro_rules! rewrite {
    ($api:expr, $caller:expr, $id:expr, $action:expr, |$r:ident, $now:ident| $body:block) => {{
        let mut written = None;
        for _ in 0..ATTEMPTS {
            #[allow(unused_mut)]
            let mut $r = load($api, $caller, $id).await?;
            let $now = $api.clock.now();
            let from = $r.change.state();
            let note: Value = $body;
            written = commit($api, $caller, &$r, from, $action, note, $now).await?;
            if written.is_some() {
                break;
            }
        }
        written.ok_or_else(|| {
            ApiError::new(
                ErrorKind::Conflict,
                "the change was written by others while this request tried; try again",
            )
        })
    }};
}

/// Creates a draft change, as the engine validated it, of a tenant the
/// caller may see.
pub(crate) async fn create_draft(
    api: &Api,
    caller: &Principal,
    tenant: TenantId,
    new: NewChange,
    now: Timestamp,
) -> Result<ChangeView, ApiError> {
    visible(caller, tenant, "tenant")?;
    api.store
        .get_tenant(tenant)
        .await?
        .ok_or_else(|| ApiError::not_found("tenant"))?;
    let id = ChangeId::new(now, super::random());
    let change = new
        .validate(id, tenant, caller.user_id, now)
        .map_err(invalid_change)?;
    check_target_hosts(&api.store, &change).await?;
    let row = stored_change(&change, &[], 1, now, now)?;
    let created = api.store.create_change(&row, &actor(caller), now).await?;
    view(&api.store, Record::read(created)?).await
}

/// `POST /changes`: a change request for one tenant. The body is the
/// change's fields and `tenant`.
#[utoipa::path(post, path = "/changes", tag = "changes",
    security(("bearer" = ["change:write"])),
    request_body(content = Object, description = "A change request: tenant, kind ({\"type\":\"normal\"}, {\"type\":\"emergency\"}, {\"type\":\"standard\",\"template\":\"…\"}), title, description, patches, targets, schedule {earliest_start, deadline}, risk, impact, expected_downtime, backout_plan, test_evidence, order, requested_by_customer"),
    responses((status = 201, body = ChangeView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create(
    State(api): State<Api>,
    Caller(caller): Caller,
    Json(body): Json<Value>,
) -> Result<(StatusCode, Json<ChangeView>), ApiError> {
    require(&caller, Permission::ChangeWrite)?;
    let Value::Object(mut fields) = body else {
        return Err(ApiError::new(
            ErrorKind::Invalid,
            "the change request must be a JSON object",
        ));
    };
    let tenant = fields
        .remove("tenant")
        .ok_or_else(|| ApiError::invalid("tenant", "is required"))?;
    let tenant: TenantId = serde_json::from_value(tenant)
        .map_err(|e| ApiError::invalid("tenant", format!("not a tenant id ({e})")))?;
    let new: NewChange = parse_value(Value::Object(fields))?;
    let created = create_draft(&api, &caller, tenant, new, api.clock.now()).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// A package a customer orders.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderedPackage {
    /// The package's name (`php8.3`).
    pub name: String,
    /// The exact version wanted.
    pub version: String,
    /// The architecture; the hosts' own when absent.
    #[serde(default)]
    pub arch: Option<String>,
    /// The update class, where the customer knows it (`middleware`).
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub class: Option<UpdateClass>,
}

/// `POST /changes/order`: what a customer orders (CHG-6).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeOrder {
    /// The customer; a customer's user orders for its own tenant and may
    /// leave this out.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub tenant: Option<TenantId>,
    /// A title; made from the packages when absent.
    #[serde(default)]
    pub title: Option<String>,
    /// What to install, at exact versions.
    pub packages: Vec<OrderedPackage>,
    /// What the customer wants and why, in their words.
    pub text: String,
    /// Where; every host of the tenant when absent.
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    pub targets: Vec<Target>,
    /// Not before; now when absent.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub earliest_start: Option<Timestamp>,
}

/// A customer orders an update (CHG-6): it becomes a draft change of the
/// customer's tenant, marked as ordered by the customer, for the provider
/// to complete (risk, downtime, backout plan) and submit.
#[utoipa::path(post, path = "/changes/order", tag = "changes",
    security(("bearer" = ["change:order"])),
    request_body = ChangeOrder,
    responses((status = 201, body = ChangeView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn order(
    State(api): State<Api>,
    Caller(caller): Caller,
    Json(req): Json<ChangeOrder>,
) -> Result<(StatusCode, Json<ChangeView>), ApiError> {
    require(&caller, Permission::ChangeOrder)?;
    let tenant = match (caller.tenant_kind, req.tenant) {
        (TenantKind::Customer, None) => caller.tenant_id,
        (_, Some(t)) => t,
        (TenantKind::Provider, None) => {
            return Err(ApiError::invalid(
                "tenant",
                "is required: the customer who ordered",
            ));
        }
    };
    visible(&caller, tenant, "tenant")?;
    let text = req.text.trim();
    if text.is_empty() {
        return Err(ApiError::invalid("text", "must say what is wanted and why"));
    }
    if req.packages.is_empty() {
        return Err(ApiError::invalid(
            "packages",
            "at least one package is required",
        ));
    }
    let title = match &req.title {
        Some(t) => t.clone(),
        None => {
            let wanted: Vec<String> = req
                .packages
                .iter()
                .map(|p| format!("{} {}", p.name, p.version))
                .collect();
            let mut title = format!("Customer order: {}", wanted.join(", "));
            if title.chars().count() > TITLE_MAX {
                title = title.chars().take(TITLE_MAX - 1).collect::<String>() + "…";
            }
            title
        }
    };
    let now = api.clock.now();
    let new = NewChange {
        kind: ChangeKind::Normal,
        title,
        description: text.chars().take(TEXT_MAX).collect(),
        patches: req
            .packages
            .into_iter()
            .map(|p| Patch::Package {
                name: p.name,
                version: p.version,
                arch: p.arch,
                class: p.class,
            })
            .collect(),
        targets: if req.targets.is_empty() {
            vec![Target::Tenant(tenant)]
        } else {
            req.targets
        },
        schedule: Schedule {
            earliest_start: req.earliest_start.unwrap_or(now),
            deadline: None,
        },
        risk: Risk::Medium,
        impact: String::new(),
        expected_downtime: jiff::SignedDuration::ZERO,
        backout_plan: DEFAULT_BACKOUT.into(),
        test_evidence: String::new(),
        order: Order::default(),
        requested_by_customer: true,
    };
    let created = create_draft(&api, &caller, tenant, new, now).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// Which changes.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ChangeQuery {
    /// Of this tenant.
    pub tenant: Option<TenantId>,
    /// In these states, comma-separated (`submitted,approved`).
    pub state: Option<String>,
    /// Only expedited emergency changes waiting for their review.
    pub review_due: Option<bool>,
    /// Items per page, 1 to 1000 (default 100).
    pub limit: Option<u64>,
    /// The `next_cursor` of the previous page.
    pub after: Option<String>,
}

/// A change in a listing.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChangeSummary {
    /// Its id.
    pub id: String,
    /// Its tenant.
    #[schema(value_type = String)]
    pub tenant_id: TenantId,
    /// `standard`, `normal` or `emergency`.
    pub kind: String,
    /// Its state.
    pub state: String,
    /// Its title.
    pub title: String,
    /// Ordered by the customer.
    pub requested_by_customer: bool,
    /// The start it is scheduled for.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub planned_start: Option<Timestamp>,
    /// An expedited emergency change not yet reviewed.
    pub review_due: bool,
    /// When it was created.
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    /// When it was last written.
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
}

/// Changes of the visible tenants, newest first.
#[utoipa::path(get, path = "/changes", tag = "changes",
    security(("bearer" = ["change:read"])),
    params(ChangeQuery),
    responses((status = 200, body = Page<ChangeSummary>), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn list(
    State(api): State<Api>,
    Caller(caller): Caller,
    Query(q): Query<ChangeQuery>,
) -> Result<Json<Page<ChangeSummary>>, ApiError> {
    require(&caller, Permission::ChangeRead)?;
    let page = PageQuery {
        limit: q.limit,
        after: q.after.clone(),
    }
    .request()?;
    let mut states = Vec::new();
    for name in q.state.as_deref().unwrap_or("").split(',').map(str::trim) {
        if name.is_empty() {
            continue;
        }
        let state = ChangeState::parse(name).ok_or_else(|| {
            let names: Vec<&str> = ChangeState::ALL.iter().map(|s| s.as_str()).collect();
            ApiError::invalid(
                "state",
                format!("{name:?} is not one of {}", names.join(", ")),
            )
        })?;
        states.push(state.as_str().to_owned());
    }
    let filter = ChangeFilter {
        tenant: q.tenant,
        states,
        review_due: q.review_due == Some(true),
    };
    let found = api
        .store
        .list_changes(&caller.visibility(), &filter, &page)
        .await?;
    let items = found
        .items
        .into_iter()
        .map(|stored| {
            let record = Record::read(stored)?;
            Ok(ChangeSummary {
                id: record.stored.id,
                tenant_id: record.stored.tenant_id,
                kind: record.stored.kind,
                state: record.stored.state,
                title: record.stored.title,
                requested_by_customer: record.change.requested_by_customer(),
                planned_start: record.change.planned_start(),
                review_due: record.stored.review_due,
                created_at: record.stored.created_at,
                updated_at: record.stored.updated_at,
            })
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    Ok(Json(Page {
        items,
        next_cursor: found.next_cursor,
    }))
}

/// One change with its votes, approval requirements and status, window
/// check, update-policy decision and history.
#[utoipa::path(get, path = "/changes/{id}", tag = "changes",
    security(("bearer" = ["change:read"])),
    params(("id" = String, Path, description = "Change id")),
    responses((status = 200, body = ChangeView), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(api): State<Api>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Result<Json<ChangeView>, ApiError> {
    require(&caller, Permission::ChangeRead)?;
    let record = load(&api, &caller, &id).await?;
    Ok(Json(view(&api.store, record).await?))
}

/// Amends a draft: the body replaces its content (the change request's
/// fields, without `tenant`). A customer's order stays one.
#[utoipa::path(put, path = "/changes/{id}", tag = "changes",
    security(("bearer" = ["change:write"])),
    params(("id" = String, Path, description = "Change id")),
    request_body(content = Object, description = "The change request's fields, as for POST /changes without tenant"),
    responses((status = 200, body = ChangeView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn amend(
    State(api): State<Api>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    Json(body): Json<Value>,
) -> Result<Json<ChangeView>, ApiError> {
    require(&caller, Permission::ChangeWrite)?;
    let new: NewChange = parse_value(body)?;
    let store = api.store.clone();
    let view = rewrite!(&api, &caller, &id, "change.amend", |r, _now| {
        let mut new = new.clone();
        new.requested_by_customer |= r.change.requested_by_customer();
        r.change.amend(new).map_err(|e| match e {
            AmendError::NotDraft(_) => ApiError::new(ErrorKind::Conflict, e.to_string()),
            AmendError::Invalid(invalid) => invalid_change(invalid),
        })?;
        check_target_hosts(&store, &r.change).await?;
        json!({"title": r.change.title()})
    })?;
    Ok(Json(view))
}

/// A transition's optional comment.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CommentBody {
    /// Why; required to expedite or reject.
    #[serde(default)]
    pub comment: String,
}

/// `POST /changes/{id}/schedule`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleBody {
    /// When the work starts (RFC 3339).
    #[schema(value_type = String, format = DateTime)]
    pub planned_start: Timestamp,
    /// A comment.
    #[serde(default)]
    pub comment: String,
}

/// `POST /changes/{id}/review`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewBody {
    /// What the post-implementation review found; required for an
    /// emergency change.
    pub notes: String,
}

/// Refuses a change the tenant's update policy does not let through
/// (RLO-3): a class it never installs, or a middleware upgrade the
/// customer did not order.
fn check_update_policy(policy: &UpdatePolicy, change: &Change) -> Result<(), ApiError> {
    let decision = decide_change(policy, change);
    let why = |d: &ChangeDecision| {
        d.reasons
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ")
    };
    match decision.decision {
        Decision::Refused => Err(ApiError::new(
            ErrorKind::Conflict,
            format!(
                "the tenant's update policy never installs this: {}",
                why(&decision)
            ),
        )),
        Decision::NeedsOrder => Err(ApiError::new(
            ErrorKind::Conflict,
            format!(
                "the tenant's update policy installs this only on the customer's order: {}",
                why(&decision)
            ),
        )),
        Decision::Automatic | Decision::NeedsApproval => Ok(()),
    }
}

/// Submits a draft for approval. A standard change fitting its template is
/// approved at once; a normal change that needs no approval under the
/// policy too.
#[utoipa::path(post, path = "/changes/{id}/submit", tag = "changes",
    security(("bearer" = ["change:write"])),
    params(("id" = String, Path, description = "Change id")),
    request_body = CommentBody,
    responses((status = 200, body = ChangeView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn submit(
    State(api): State<Api>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    Json(body): Json<CommentBody>,
) -> Result<Json<ChangeView>, ApiError> {
    require(&caller, Permission::ChangeWrite)?;
    let store = api.store.clone();
    let by = caller.user_id;
    let view = rewrite!(&api, &caller, &id, "change.submit", |r, now| {
        let tenant = r.change.tenant();
        let policy: UpdatePolicy = setting(&store, tenant, ChangeSetting::UpdatePolicy).await?;
        if r.change.state() == ChangeState::Draft {
            check_update_policy(&policy, &r.change)?;
        }
        let template = match r.change.kind() {
            ChangeKind::Standard { template } => {
                let templates: Vec<ChangeTemplate> =
                    setting(&store, tenant, ChangeSetting::ChangeTemplates).await?;
                let found = templates.into_iter().find(|t| t.id == *template);
                if found.is_none() && r.change.state() == ChangeState::Draft {
                    return Err(ApiError::new(
                        ErrorKind::Conflict,
                        format!("the tenant has no standard change template {template:?}"),
                    ));
                }
                found
            }
            _ => None,
        };
        r.change
            .submit(now, by, template.as_ref(), &body.comment)
            .map_err(|e| transition_error(e, "comment"))?;
        let mut status = None;
        if r.change.state() == ChangeState::Submitted {
            let ctx = context(&store, &r.change).await?;
            let requirements = approval::requirements(&r.change, &ctx.policy, &ctx.approval);
            status = Some(
                approval::settle(&mut r.change, &requirements, &r.approvals, now, by)
                    .map_err(|e| transition_error(e, "comment"))?,
            );
        }
        json!({"comment": body.comment, "approval_status": status})
    })?;
    Ok(Json(view))
}

/// Expedites an emergency change: approved at once, past the CAB and the
/// customer (CHG-1), with a review owed afterwards. The comment must
/// justify the emergency.
#[utoipa::path(post, path = "/changes/{id}/expedite", tag = "changes",
    security(("bearer" = ["change:write"])),
    params(("id" = String, Path, description = "Change id")),
    request_body = CommentBody,
    responses((status = 200, body = ChangeView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn expedite(
    State(api): State<Api>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    Json(body): Json<CommentBody>,
) -> Result<Json<ChangeView>, ApiError> {
    require(&caller, Permission::ChangeWrite)?;
    let by = caller.user_id;
    let store = api.store.clone();
    let view = rewrite!(&api, &caller, &id, "change.expedite", |r, now| {
        let policy: UpdatePolicy =
            setting(&store, r.change.tenant(), ChangeSetting::UpdatePolicy).await?;
        if r.change.state() == ChangeState::Draft {
            check_update_policy(&policy, &r.change)?;
        }
        r.change
            .expedite(now, by, &body.comment)
            .map_err(|e| transition_error(e, "comment"))?;
        json!({"comment": body.comment})
    })?;
    Ok(Json(view))
}

/// Returns a rejected change to a draft, to be amended and submitted again.
#[utoipa::path(post, path = "/changes/{id}/revise", tag = "changes",
    security(("bearer" = ["change:write"])),
    params(("id" = String, Path, description = "Change id")),
    request_body = CommentBody,
    responses((status = 200, body = ChangeView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn revise(
    State(api): State<Api>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    Json(body): Json<CommentBody>,
) -> Result<Json<ChangeView>, ApiError> {
    require(&caller, Permission::ChangeWrite)?;
    let by = caller.user_id;
    let view = rewrite!(&api, &caller, &id, "change.revise", |r, now| {
        r.change
            .revise(now, by, &body.comment)
            .map_err(|e| transition_error(e, "comment"))?;
        json!({"comment": body.comment})
    })?;
    Ok(Json(view))
}

/// Calls off a change before its work starts.
#[utoipa::path(post, path = "/changes/{id}/cancel", tag = "changes",
    security(("bearer" = ["change:write"])),
    params(("id" = String, Path, description = "Change id")),
    request_body = CommentBody,
    responses((status = 200, body = ChangeView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn cancel(
    State(api): State<Api>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    Json(body): Json<CommentBody>,
) -> Result<Json<ChangeView>, ApiError> {
    require(&caller, Permission::ChangeWrite)?;
    let by = caller.user_id;
    let view = rewrite!(&api, &caller, &id, "change.cancel", |r, now| {
        r.change
            .cancel(now, by, &body.comment)
            .map_err(|e| transition_error(e, "comment"))?;
        json!({"comment": body.comment})
    })?;
    Ok(Json(view))
}

/// Whether a customer approver of the change's tenant approved it in the
/// current round (their latest vote).
fn customer_approved(change: &Change, approvals: &[Approval]) -> bool {
    let since = change.submitted_at();
    let mut latest: BTreeMap<UserId, &Approval> = BTreeMap::new();
    for vote in approvals.iter().filter(|v| {
        v.role == Role::CustomerApprover
            && v.tenant == change.tenant()
            && v.by != change.requested_by()
            && since.is_none_or(|s| v.at >= s)
    }) {
        latest.insert(vote.by, vote);
    }
    latest.values().any(|v| v.decision == Verdict::Approve)
}

/// Plans (or re-plans) an approved change's start. Work outside the target
/// hosts' windows needs the customer's recorded approval (RLO-5), except
/// for an emergency change or a tenant whose policy never asks the
/// customer.
#[utoipa::path(post, path = "/changes/{id}/schedule", tag = "changes",
    security(("bearer" = ["change:write"])),
    params(("id" = String, Path, description = "Change id")),
    request_body = ScheduleBody,
    responses((status = 200, body = ChangeView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn schedule(
    State(api): State<Api>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    Json(body): Json<ScheduleBody>,
) -> Result<Json<ChangeView>, ApiError> {
    require(&caller, Permission::ChangeWrite)?;
    let by = caller.user_id;
    let store = api.store.clone();
    let view = rewrite!(&api, &caller, &id, "change.schedule", |r, now| {
        r.change
            .schedule(now, by, body.planned_start, &body.comment)
            .map_err(|e| transition_error(e, "comment"))?;
        if r.change.kind() != &ChangeKind::Emergency {
            let ctx = context(&store, &r.change).await?;
            let ask = ctx.policy.customer != CustomerApproval::Never
                && ctx.approval.tenant_kind == TenantKind::Customer;
            if ask && ctx.window.outside_window && !customer_approved(&r.change, &r.approvals) {
                return Err(ApiError::new(
                    ErrorKind::Conflict,
                    format!(
                        "planned start {} is outside the maintenance windows of {} of {} target \
                         hosts ({}); work outside a window needs the customer's approval (RLO-5)",
                        body.planned_start,
                        ctx.window.hosts_outside,
                        ctx.window.hosts,
                        ctx.window.outside.join(", ")
                    ),
                ));
            }
        }
        json!({"planned_start": body.planned_start, "comment": body.comment})
    })?;
    Ok(Json(view))
}

/// Records the post-implementation review of a finished change; an
/// emergency change is reviewed by someone other than who expedited it.
#[utoipa::path(post, path = "/changes/{id}/review", tag = "changes",
    security(("bearer" = ["change:write"])),
    params(("id" = String, Path, description = "Change id")),
    request_body = ReviewBody,
    responses((status = 200, body = ChangeView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn review(
    State(api): State<Api>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    Json(body): Json<ReviewBody>,
) -> Result<Json<ChangeView>, ApiError> {
    require(&caller, Permission::ChangeWrite)?;
    let by = caller.user_id;
    let view = rewrite!(&api, &caller, &id, "change.review", |r, now| {
        r.change
            .review(now, by, &body.notes)
            .map_err(|e| transition_error(e, "notes"))?;
        json!({"notes": body.notes})
    })?;
    Ok(Json(view))
}

/// Casts the caller's vote; the change moves once the votes settle it.
async fn vote(
    api: &Api,
    caller: &Principal,
    id: &str,
    decision: Verdict,
    comment: &str,
) -> Result<ChangeView, ApiError> {
    let action = match decision {
        Verdict::Approve => "change.approve",
        Verdict::Reject => "change.reject",
    };
    let store = api.store.clone();
    rewrite!(api, caller, id, action, |r, now| {
        let ctx = context(&store, &r.change).await?;
        let ballot = Approval {
            by: caller.user_id,
            role: caller.role,
            tenant: caller.tenant_id,
            decision,
            comment: comment.trim().to_owned(),
            at: now,
        };
        let status = approval::cast(
            &mut r.change,
            &ctx.policy,
            &ctx.approval,
            &mut r.approvals,
            ballot,
        )
        .map_err(vote_error)?;
        json!({"vote": decision, "role": caller.role, "comment": comment, "approval_status": status})
    })
}

/// Approves a submitted change as a CAB member or a customer approver of
/// its tenant; never one's own change.
#[utoipa::path(post, path = "/changes/{id}/approve", tag = "changes",
    security(("bearer" = ["change:approve"])),
    params(("id" = String, Path, description = "Change id")),
    request_body = CommentBody,
    responses((status = 200, body = ChangeView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn approve(
    State(api): State<Api>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    Json(body): Json<CommentBody>,
) -> Result<Json<ChangeView>, ApiError> {
    require(&caller, Permission::ChangeApprove)?;
    Ok(Json(
        vote(&api, &caller, &id, Verdict::Approve, &body.comment).await?,
    ))
}

/// Rejects a submitted change, saying why.
#[utoipa::path(post, path = "/changes/{id}/reject", tag = "changes",
    security(("bearer" = ["change:approve"])),
    params(("id" = String, Path, description = "Change id")),
    request_body = CommentBody,
    responses((status = 200, body = ChangeView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn reject(
    State(api): State<Api>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    Json(body): Json<CommentBody>,
) -> Result<Json<ChangeView>, ApiError> {
    require(&caller, Permission::ChangeApprove)?;
    Ok(Json(
        vote(&api, &caller, &id, Verdict::Reject, &body.comment).await?,
    ))
}

/// Checks the caller may see and read or write a tenant that exists.
async fn tenant_for(
    api: &Api,
    caller: &Principal,
    tenant: TenantId,
    permission: Permission,
) -> Result<(), ApiError> {
    require(caller, permission)?;
    visible(caller, tenant, "tenant")?;
    api.store
        .get_tenant(tenant)
        .await?
        .ok_or_else(|| ApiError::not_found("tenant"))?;
    Ok(())
}

async fn put_setting<T: Serialize>(
    api: &Api,
    caller: &Principal,
    tenant: TenantId,
    which: ChangeSetting,
    value: &T,
) -> Result<(), ApiError> {
    let body = serde_json::to_value(value).map_err(ApiError::internal)?;
    api.store
        .set_change_setting(tenant, which, &body, &actor(caller), api.clock.now())
        .await?;
    Ok(())
}

/// A tenant's approval policy (its own or the default: one CAB member, and
/// the customer when affected).
#[utoipa::path(get, path = "/tenants/{id}/approval-policy", tag = "changes",
    security(("bearer" = ["change:read"])),
    params(("id" = String, Path, description = "Tenant id")),
    responses((status = 200, body = Object), (status = 404, body = ErrorBody)))]
pub async fn get_approval_policy(
    State(api): State<Api>,
    Caller(caller): Caller,
    Path(id): Path<TenantId>,
) -> Result<Json<ApprovalPolicy>, ApiError> {
    tenant_for(&api, &caller, id, Permission::ChangeRead).await?;
    Ok(Json(
        setting(&api.store, id, ChangeSetting::ApprovalPolicy).await?,
    ))
}

/// Sets a tenant's approval policy: `{"cab_quorum": 1, "customer":
/// "when_affected"}` (or `always`, `never`).
#[utoipa::path(put, path = "/tenants/{id}/approval-policy", tag = "changes",
    security(("bearer" = ["change:write"])),
    params(("id" = String, Path, description = "Tenant id")),
    request_body(content = Object, description = "{\"cab_quorum\": 1, \"customer\": \"when_affected\"}"),
    responses((status = 200, body = Object), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn set_approval_policy(
    State(api): State<Api>,
    Caller(caller): Caller,
    Path(id): Path<TenantId>,
    Json(body): Json<Value>,
) -> Result<Json<ApprovalPolicy>, ApiError> {
    tenant_for(&api, &caller, id, Permission::ChangeWrite).await?;
    let policy: ApprovalPolicy = parse_value(body)?;
    policy
        .validate()
        .map_err(|e| ApiError::invalid(&e.field, e.message))?;
    put_setting(&api, &caller, id, ChangeSetting::ApprovalPolicy, &policy).await?;
    Ok(Json(policy))
}

/// A tenant's update-class policy (its own or the default: security
/// automatic, bug fixes and enhancements on approval, middleware on order,
/// major versions never).
#[utoipa::path(get, path = "/tenants/{id}/update-policy", tag = "changes",
    security(("bearer" = ["change:read"])),
    params(("id" = String, Path, description = "Tenant id")),
    responses((status = 200, body = Object), (status = 404, body = ErrorBody)))]
pub async fn get_update_policy(
    State(api): State<Api>,
    Caller(caller): Caller,
    Path(id): Path<TenantId>,
) -> Result<Json<UpdatePolicy>, ApiError> {
    tenant_for(&api, &caller, id, Permission::ChangeRead).await?;
    Ok(Json(
        setting(&api.store, id, ChangeSetting::UpdatePolicy).await?,
    ))
}

/// Sets a tenant's update-class policy: a handling (`automatic`,
/// `approval`, `on_order`, `never`) for each of `security`, `bugfix`,
/// `enhancement`, `middleware` and `major`. Major versions and middleware
/// upgrades are never automatic.
#[utoipa::path(put, path = "/tenants/{id}/update-policy", tag = "changes",
    security(("bearer" = ["change:write"])),
    params(("id" = String, Path, description = "Tenant id")),
    request_body(content = Object, description = "{\"security\": \"automatic\", \"bugfix\": \"approval\", \"enhancement\": \"approval\", \"middleware\": \"on_order\", \"major\": \"never\"}"),
    responses((status = 200, body = Object), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn set_update_policy(
    State(api): State<Api>,
    Caller(caller): Caller,
    Path(id): Path<TenantId>,
    Json(body): Json<Value>,
) -> Result<Json<UpdatePolicy>, ApiError> {
    tenant_for(&api, &caller, id, Permission::ChangeWrite).await?;
    let policy: UpdatePolicy = parse_value(body)?;
    policy
        .validate()
        .map_err(|e| ApiError::invalid(&e.field, e.message))?;
    put_setting(&api, &caller, id, ChangeSetting::UpdatePolicy, &policy).await?;
    Ok(Json(policy))
}

/// A tenant's standard-change templates.
#[utoipa::path(get, path = "/tenants/{id}/change-templates", tag = "changes",
    security(("bearer" = ["change:read"])),
    params(("id" = String, Path, description = "Tenant id")),
    responses((status = 200, body = Vec<Object>), (status = 404, body = ErrorBody)))]
pub async fn get_templates(
    State(api): State<Api>,
    Caller(caller): Caller,
    Path(id): Path<TenantId>,
) -> Result<Json<Vec<ChangeTemplate>>, ApiError> {
    tenant_for(&api, &caller, id, Permission::ChangeRead).await?;
    Ok(Json(
        setting(&api.store, id, ChangeSetting::ChangeTemplates).await?,
    ))
}

/// Replaces a tenant's standard-change templates: a list of `{"id",
/// "name", "allowed_classes": [...], "max_risk"}`, ids unique. Major
/// versions and middleware upgrades are never pre-approved.
#[utoipa::path(put, path = "/tenants/{id}/change-templates", tag = "changes",
    security(("bearer" = ["change:write"])),
    params(("id" = String, Path, description = "Tenant id")),
    request_body(content = Vec<Object>, description = "[{\"id\": \"monthly-security\", \"name\": \"…\", \"allowed_classes\": [\"security\"], \"max_risk\": \"low\"}]"),
    responses((status = 200, body = Vec<Object>), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn set_templates(
    State(api): State<Api>,
    Caller(caller): Caller,
    Path(id): Path<TenantId>,
    Json(body): Json<Value>,
) -> Result<Json<Vec<ChangeTemplate>>, ApiError> {
    tenant_for(&api, &caller, id, Permission::ChangeWrite).await?;
    let templates: Vec<ChangeTemplate> = parse_value(body)?;
    if templates.len() > TEMPLATES_MAX {
        return Err(ApiError::invalid(
            "templates",
            format!("at most {TEMPLATES_MAX}"),
        ));
    }
    let mut errors = Vec::new();
    for (i, t) in templates.iter().enumerate() {
        if let Err(invalid) = t.validate() {
            errors.extend(
                invalid
                    .errors
                    .into_iter()
                    .map(|e| format!("[{i}].{}: {}", e.field, e.message)),
            );
        }
        if let Some(j) = templates[..i].iter().position(|o| o.id == t.id) {
            errors.push(format!("[{i}].id: duplicates [{j}].id {:?}", t.id));
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::new(ErrorKind::Invalid, errors.join("; ")));
    }
    put_setting(
        &api,
        &caller,
        id,
        ChangeSetting::ChangeTemplates,
        &templates,
    )
    .await?;
    Ok(Json(templates))
}

/// A tenant's patch cycle: what it does (`spec`, none when the tenant has
/// none), when it runs next, when it last ran and the change it made.
#[utoipa::path(get, path = "/tenants/{id}/patch-cycle", tag = "changes",
    security(("bearer" = ["change:read"])),
    params(("id" = String, Path, description = "Tenant id")),
    responses((status = 200, body = PatchCycle), (status = 404, body = ErrorBody)))]
pub async fn get_patch_cycle(
    State(api): State<Api>,
    Caller(caller): Caller,
    Path(id): Path<TenantId>,
) -> Result<Json<PatchCycle>, ApiError> {
    tenant_for(&api, &caller, id, Permission::ChangeRead).await?;
    Ok(Json(patch_cycle::read(&api.store, id).await?))
}

/// Sets a tenant's patch cycle: `{"every_days": 30, "severities":
/// ["critical", "high"], "kev": true, "ring": "pilot", "template":
/// "monthly-security"}` (`enabled`, `template` and `first_run` optional).
/// It runs first at `first_run`, else after its last run's period, else at
/// once.
#[utoipa::path(put, path = "/tenants/{id}/patch-cycle", tag = "changes",
    security(("bearer" = ["change:write"])),
    params(("id" = String, Path, description = "Tenant id")),
    request_body = PatchCycleSpec,
    responses((status = 200, body = PatchCycle), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn set_patch_cycle(
    State(api): State<Api>,
    Caller(caller): Caller,
    Path(id): Path<TenantId>,
    Json(body): Json<Value>,
) -> Result<Json<PatchCycle>, ApiError> {
    tenant_for(&api, &caller, id, Permission::ChangeWrite).await?;
    let spec: PatchCycleSpec = parse_value(body)?;
    spec.validate()?;
    if let Some(template) = &spec.template {
        let templates: Vec<ChangeTemplate> =
            setting(&api.store, id, ChangeSetting::ChangeTemplates).await?;
        if !templates.iter().any(|t| t.id == *template) {
            return Err(ApiError::invalid(
                "template",
                format!("the tenant has no standard change template {template:?}"),
            ));
        }
    }
    let mut cycle = patch_cycle::read(&api.store, id).await?;
    cycle.set(spec, api.clock.now());
    put_setting(&api, &caller, id, ChangeSetting::PatchCycle, &cycle).await?;
    Ok(Json(cycle))
}

/// Runs a tenant's patch cycle now: its open findings on the ring's hosts
/// become one change (a draft, or a standard change submitted through the
/// cycle's template), one package patch per package and architecture at
/// the highest fixed version. The next scheduled run moves one period on.
#[utoipa::path(post, path = "/tenants/{id}/patch-cycle/run", tag = "changes",
    security(("bearer" = ["change:write"])),
    params(("id" = String, Path, description = "Tenant id")),
    responses((status = 200, body = CycleRun), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn run_patch_cycle(
    State(api): State<Api>,
    Caller(caller): Caller,
    Path(id): Path<TenantId>,
) -> Result<Json<CycleRun>, ApiError> {
    tenant_for(&api, &caller, id, Permission::ChangeWrite).await?;
    let now = api.clock.now();
    let run = patch_cycle::run_now(
        &api.store,
        id,
        patch_cycle::Runner {
            user: caller.user_id,
            actor: actor(&caller),
        },
        ChangeId::new(now, super::random()),
        now,
    )
    .await?;
    Ok(Json(run))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(at: Timestamp) -> Change {
        let new: NewChange = serde_json::from_value(json!({
            "kind": {"type": "normal"}, "title": "t",
            "patches": [{"type": "advisory", "id": "DSA-1"}],
            "targets": [{"group": "web"}],
            "schedule": {"earliest_start": at.to_string()},
            "risk": "low", "backout_plan": "b"
        }))
        .unwrap();
        new.validate(
            ChangeId::new(at, [1; 10]),
            TenantId::new(at, [2; 10]),
            UserId::new(at, [3; 10]),
            at,
        )
        .unwrap()
    }

    #[test]
    fn a_stored_change_keeps_its_votes() {
        let at: Timestamp = "2026-11-23T10:00:00Z".parse().unwrap();
        let mut c = change(at);
        c.submit(at, c.requested_by(), None, "").unwrap();
        let vote = Approval {
            by: UserId::new(at, [4; 10]),
            role: Role::CustomerApprover,
            tenant: c.tenant(),
            decision: Verdict::Approve,
            comment: String::new(),
            at,
        };
        let row = stored_change(&c, std::slice::from_ref(&vote), 3, at, at).unwrap();
        assert_eq!(row.state, "submitted");
        assert_eq!(row.kind, "normal");
        // A reader that wants only the change ignores the votes.
        let plain: Change = serde_json::from_value(row.body.clone()).unwrap();
        assert_eq!(plain, c);
        let record = Record::read(row).unwrap();
        assert_eq!(record.approvals, std::slice::from_ref(&vote));
        assert_eq!(record.to_stored().unwrap().revision, 3);
        assert!(customer_approved(&c, &record.approvals));
        // A later rejection by the same approver replaces the approval; a
        // vote from before the submission does not count.
        let mut later = vote.clone();
        later.decision = Verdict::Reject;
        later.at = at + jiff::SignedDuration::from_secs(1);
        assert!(!customer_approved(&c, &[vote.clone(), later]));
        let mut early = vote;
        early.at = at - jiff::SignedDuration::from_secs(1);
        assert!(!customer_approved(&c, &[early]));
    }
}
