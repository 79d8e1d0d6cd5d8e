//! Scheduling (RLO-1, RLO-2): `/windows` (maintenance windows, recurring in
//! the customer's time zone), `/freezes` (change freezes for one tenant or
//! every tenant), `/calendar` (a tenant's openings, freezes and planned
//! changes over a range), `/hosts/{id}/windows` (which windows apply to a
//! host and when it is next open) and `/tenants/{id}/ring-plan`.
//!
//! The change engine validates and expands everything; these handlers only
//! look records up, check who may see them, and show the engine's instants
//! in UTC and in the window's local time. Which windows apply to a host is
//! [`crate::schedule`]'s rule, shared with the rollout driver.

use axum::extract::State;
use axum::http::StatusCode;
use jiff::SignedDuration;
use jiff::tz::TimeZone;
use rivet_change::change::Change;
use rivet_change::ring::{Ring, RingPlan};
use rivet_change::window::{self, Freeze, FreezeSpec, HORIZON, Interval, Window, WindowSpec};
use rivet_core::Timestamp;
use rivet_core::access::{Permission, Principal, Visibility};
use rivet_core::id::{HostId, TenantId};
use rivet_core::page::PageRequest;
use rivet_store::{ChangeFilter, ChangeSetting, Host, HostFilter, StoredFreeze, StoredWindow};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ErrorBody, ErrorKind};
use super::extract::{Caller, Json, Path, Query};
use super::{Api, Page, PageQuery, actor, random, require, visible};
use crate::schedule::{self, TenantWindows};

/// The most windows a tenant may have.
pub const MAX_WINDOWS: usize = 500;
/// The longest recurrence rule accepted, in bytes.
const MAX_RRULE: usize = 1000;
/// How many occurrences `GET /windows/{id}` shows unless asked, and at most.
const DEFAULT_SHOWN: usize = 5;
const MAX_SHOWN: usize = 100;
/// The longest range a calendar shows, and the range when none is given.
const MAX_CALENDAR: SignedDuration = SignedDuration::from_hours(24 * 92);
const DEFAULT_CALENDAR: SignedDuration = SignedDuration::from_hours(24 * 31);
/// How many cancelled occurrences a host's answer lists before its next
/// opening.
const MAX_CANCELLED: usize = 20;
/// The name of the single ring of a tenant that set no ring plan.
pub const DEFAULT_RING: &str = "broad";
/// The most hosts a ring plan may name, over all its rings.
const MAX_PLAN_HOSTS: usize = 10_000;
/// How many hosts of a tenant the ring counts look at, at most.
const MAX_COUNTED_HOSTS: usize = 200_000;
/// How many of a tenant's planned changes a calendar lists, at most.
const MAX_CALENDAR_CHANGES: usize = 5_000;

/// `POST /windows`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWindow {
    /// The tenant whose hosts it is for.
    #[schema(value_type = String)]
    pub tenant: TenantId,
    /// The group of hosts it is for; when absent, a window of the tenant
    /// that hosts name in their `maintenance_window` attribute, and a
    /// default for hosts that name none and whose groups have none.
    pub group: Option<String>,
    /// The window: `name`, `time_zone` (IANA), `start` (local date and
    /// time of the first occurrence), `rrule` (RFC 5545), `duration`
    /// (`2h`, `PT2H`).
    #[schema(value_type = Object)]
    pub spec: WindowSpec,
}

/// A maintenance window.
#[derive(Debug, Serialize, ToSchema)]
pub struct WindowRecord {
    /// Its id.
    pub id: String,
    /// Its tenant.
    #[schema(value_type = String)]
    pub tenant_id: TenantId,
    /// The group it is for; none: named by hosts, or the tenant's default.
    pub group: Option<String>,
    /// Its name, unique in the tenant.
    pub name: String,
    /// The window as written.
    #[schema(value_type = Object)]
    pub spec: WindowSpec,
    /// Why the stored window no longer validates (e.g. a time zone the
    /// database dropped); it is then ignored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
    /// Who created it.
    pub created_by: String,
    /// When.
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
}

impl WindowRecord {
    fn of(stored: &StoredWindow) -> Result<WindowRecord, ApiError> {
        let spec: WindowSpec = serde_json::from_value(stored.body.clone())
            .map_err(|e| ApiError::internal(format!("window {}: {e}", stored.id)))?;
        let problem = Window::new(spec.clone()).err().map(|e| e.to_string());
        Ok(WindowRecord {
            id: stored.id.clone(),
            tenant_id: stored.tenant_id,
            group: stored.group.clone(),
            name: stored.name.clone(),
            spec,
            problem,
            created_by: stored.created_by.clone(),
            created_at: stored.created_at,
        })
    }
}

/// The freeze that cancels an occurrence.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Cancellation {
    /// The freeze.
    pub freeze_id: String,
    /// Its reason.
    pub reason: String,
}

/// One occurrence of a window.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Occurrence {
    /// When it opens (UTC).
    #[schema(value_type = String, format = DateTime)]
    pub start: Timestamp,
    /// When it closes (UTC).
    #[schema(value_type = String, format = DateTime)]
    pub end: Timestamp,
    /// When it opens in the window's time zone, with the offset that holds
    /// then (`2027-03-28T03:00:00+02:00[Europe/Berlin]`).
    pub local_start: String,
    /// When it closes in the window's time zone.
    pub local_end: String,
    /// The freeze that cancels it; none: it opens.
    pub cancelled: Option<Cancellation>,
}

/// A window with its next occurrences.
#[derive(Debug, Serialize, ToSchema)]
pub struct WindowDetail {
    /// The window.
    #[serde(flatten)]
    pub window: WindowRecord,
    /// Its next occurrences after `after`, those a freeze cancels marked.
    pub next: Vec<Occurrence>,
}

/// Which occurrences of a window.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct NextQuery {
    /// After this time (RFC 3339; default now).
    pub after: Option<String>,
    /// How many (1 to 100; default 5).
    pub count: Option<usize>,
}

/// The tenant of a listing, and its page.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TenantQuery {
    /// Of this tenant; every visible tenant when absent.
    pub tenant: Option<TenantId>,
    /// Items per page, 1 to 1000 (default 100).
    pub limit: Option<u64>,
    /// The `next_cursor` of the previous page.
    pub after: Option<String>,
}

impl TenantQuery {
    /// A page of `items`, ordered by `key`, after the cursor. The store
    /// reads a tenant's windows and freezes whole (a few hundred at most),
    /// so the keyset is applied here, on keys that sort as text.
    fn page<T>(&self, mut items: Vec<T>, key: impl Fn(&T) -> String) -> Result<Page<T>, ApiError> {
        let request = PageQuery {
            limit: self.limit,
            after: self.after.clone(),
        }
        .request()?;
        items.sort_by_cached_key(&key);
        if let Some(after) = &request.after {
            items.retain(|i| key(i).as_str() > after.as_str());
        }
        items.truncate(request.limit as usize + 1);
        Ok(rivet_core::page::Page::from_rows(items, &request, key).into())
    }
}

/// A time from a query parameter, or 422 naming it.
fn time_param(field: &str, value: Option<&str>) -> Result<Option<Timestamp>, ApiError> {
    value
        .map(|v| {
            v.parse::<Timestamp>().map_err(|e| {
                ApiError::invalid(field, format!("{v:?} is not an RFC 3339 time: {e}"))
            })
        })
        .transpose()
}

/// `at` in `tz`, with its offset and zone.
fn local(at: Timestamp, tz: &TimeZone) -> String {
    at.to_zoned_datetime(tz.clone()).to_string()
}

fn earlier(at: Timestamp, d: SignedDuration) -> Timestamp {
    at.checked_sub(d).unwrap_or(Timestamp::MIN)
}

fn later(at: Timestamp, d: SignedDuration) -> Timestamp {
    at.checked_add(d).unwrap_or(Timestamp::MAX)
}

fn interval_of(f: &StoredFreeze) -> Interval {
    Interval {
        start: f.starts_at,
        end: f.ends_at,
    }
}

/// The freezes that can cancel an occurrence overlapping `[from, …)` of a
/// tenant's window: those not ended a longest occurrence before `from`,
/// since a freeze cancels an occurrence it overlaps anywhere.
async fn freezes_of(
    api: &Api,
    tenant: TenantId,
    from: Timestamp,
) -> Result<Vec<StoredFreeze>, ApiError> {
    Ok(api
        .store
        .list_freezes(
            &Visibility::All,
            Some(tenant),
            earlier(from, window::MAX_DURATION),
        )
        .await?)
}

/// An occurrence of `w`, marked cancelled by the first freeze overlapping it.
fn occurrence(w: &Window, freezes: &[StoredFreeze], o: Interval) -> Occurrence {
    let tz = w.time_zone();
    Occurrence {
        start: o.start,
        end: o.end,
        local_start: local(o.start, tz),
        local_end: local(o.end, tz),
        cancelled: freezes
            .iter()
            .find(|f| interval_of(f).overlaps(&o))
            .map(|f| Cancellation {
                freeze_id: f.id.clone(),
                reason: f.reason.clone(),
            }),
    }
}

/// The occurrences of `w` overlapping `[from, to)`, freezes marked.
fn occurrences(
    w: &Window,
    freezes: &[StoredFreeze],
    from: Timestamp,
    to: Timestamp,
) -> Vec<Occurrence> {
    w.occurrences(from, to)
        .into_iter()
        .map(|o| occurrence(w, freezes, o))
        .collect()
}

/// A window the caller may see, or 404.
async fn find_window(api: &Api, caller: &Principal, id: &str) -> Result<StoredWindow, ApiError> {
    let w = api
        .store
        .window(id)
        .await?
        .ok_or_else(|| ApiError::not_found("window"))?;
    visible(caller, w.tenant_id, "window")?;
    Ok(w)
}

/// A tenant the caller may see and that exists, or 404.
async fn find_tenant(api: &Api, caller: &Principal, tenant: TenantId) -> Result<(), ApiError> {
    visible(caller, tenant, "tenant")?;
    api.store
        .get_tenant(tenant)
        .await?
        .ok_or_else(|| ApiError::not_found("tenant"))?;
    Ok(())
}

/// Creates a maintenance window for a tenant or one of its groups.
#[utoipa::path(post, path = "/windows", tag = "scheduling",
    security(("bearer" = ["change:write"])),
    request_body = CreateWindow,
    responses((status = 201, body = WindowRecord), (status = 404, body = ErrorBody),
        (status = 409, description = "The tenant has a window of that name", body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn create_window(
    State(api): State<Api>,
    Caller(caller): Caller,
    Json(req): Json<CreateWindow>,
) -> Result<(StatusCode, Json<WindowRecord>), ApiError> {
    require(&caller, Permission::ChangeWrite)?;
    find_tenant(&api, &caller, req.tenant).await?;
    if let Some(group) = &req.group {
        rivet_core::host::label("group", group)?;
    }
    if req.spec.rrule.len() > MAX_RRULE {
        return Err(ApiError::invalid(
            "rrule",
            format!("at most {MAX_RRULE} bytes"),
        ));
    }
    let w = Window::new(req.spec)?;
    let existing = api
        .store
        .list_windows(&Visibility::All, Some(req.tenant))
        .await?;
    if existing.len() >= MAX_WINDOWS {
        return Err(ApiError::new(
            ErrorKind::Conflict,
            format!("the tenant has {MAX_WINDOWS} windows, the most allowed; delete one first"),
        ));
    }
    let now = api.clock.now();
    let stored = StoredWindow {
        // Time first, so that ids sort by creation.
        id: format!(
            "win-{:013x}-{}",
            now.as_millisecond().max(0),
            hex::encode(random::<6>())
        ),
        tenant_id: req.tenant,
        group: req.group,
        name: w.name().to_owned(),
        body: serde_json::to_value(&w).map_err(ApiError::internal)?,
        created_by: caller.username.clone(),
        created_at: now,
    };
    let created = api
        .store
        .create_window(&stored, &actor(&caller), now)
        .await?;
    Ok((StatusCode::CREATED, Json(WindowRecord::of(&created)?)))
}

/// Maintenance windows of the visible tenants, by tenant and name.
#[utoipa::path(get, path = "/windows", tag = "scheduling",
    security(("bearer" = ["change:read"])),
    params(TenantQuery),
    responses((status = 200, body = Page<WindowRecord>), (status = 403, body = ErrorBody)))]
pub async fn list_windows(
    State(api): State<Api>,
    Caller(caller): Caller,
    Query(q): Query<TenantQuery>,
) -> Result<Json<Page<WindowRecord>>, ApiError> {
    require(&caller, Permission::ChangeRead)?;
    let items = api
        .store
        .list_windows(&caller.visibility(), q.tenant)
        .await?
        .iter()
        .map(WindowRecord::of)
        .collect::<Result<Vec<_>, _>>()?;
    // Tenant ids have one length: by tenant, then by name.
    Ok(Json(
        q.page(items, |w| format!("{}/{}", w.tenant_id, w.name))?,
    ))
}

/// One window with its next occurrences (default: the next 5 after now),
/// in UTC and in its local time, those a freeze cancels marked.
#[utoipa::path(get, path = "/windows/{id}", tag = "scheduling",
    security(("bearer" = ["change:read"])),
    params(("id" = String, Path, description = "Window id"), NextQuery),
    responses((status = 200, body = WindowDetail), (status = 404, body = ErrorBody)))]
pub async fn get_window(
    State(api): State<Api>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    Query(q): Query<NextQuery>,
) -> Result<Json<WindowDetail>, ApiError> {
    require(&caller, Permission::ChangeRead)?;
    let after = time_param("after", q.after.as_deref())?.unwrap_or_else(|| api.clock.now());
    let count = q.count.unwrap_or(DEFAULT_SHOWN);
    if !(1..=MAX_SHOWN).contains(&count) {
        return Err(ApiError::invalid(
            "count",
            format!("must be 1 to {MAX_SHOWN}"),
        ));
    }
    let stored = find_window(&api, &caller, &id).await?;
    let next = match schedule::window_of(&stored) {
        Some(w) => {
            let freezes = freezes_of(&api, stored.tenant_id, after).await?;
            let mut next = occurrences(&w, &freezes, after, later(after, HORIZON));
            next.truncate(count);
            next
        }
        None => Vec::new(),
    };
    Ok(Json(WindowDetail {
        window: WindowRecord::of(&stored)?,
        next,
    }))
}

/// Deletes a window. Hosts that name it in their `maintenance_window`
/// attribute have no window until it is set again.
#[utoipa::path(delete, path = "/windows/{id}", tag = "scheduling",
    security(("bearer" = ["change:write"])),
    params(("id" = String, Path, description = "Window id")),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn delete_window(
    State(api): State<Api>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    require(&caller, Permission::ChangeWrite)?;
    find_window(&api, &caller, &id).await?;
    if !api
        .store
        .delete_window(&id, &actor(&caller), api.clock.now())
        .await?
    {
        return Err(ApiError::not_found("window"));
    }
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /freezes`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateFreeze {
    /// The tenant it holds for; absent: every tenant, which only a
    /// provider user who sees every customer may declare.
    #[schema(value_type = Option<String>)]
    pub tenant: Option<TenantId>,
    /// When it begins (RFC 3339).
    #[schema(value_type = String, format = DateTime)]
    pub start: Timestamp,
    /// When it ends (RFC 3339), exclusive; in the future, at most 366 days
    /// after the start.
    #[schema(value_type = String, format = DateTime)]
    pub end: Timestamp,
    /// Why (1 to 500 characters).
    pub reason: String,
}

/// A change freeze.
#[derive(Debug, Serialize, ToSchema)]
pub struct FreezeRecord {
    /// Its id.
    pub id: String,
    /// The tenant it holds for; none: every tenant.
    #[schema(value_type = Option<String>)]
    pub tenant_id: Option<TenantId>,
    /// When it begins.
    #[schema(value_type = String, format = DateTime)]
    pub start: Timestamp,
    /// When it ends, exclusive.
    #[schema(value_type = String, format = DateTime)]
    pub end: Timestamp,
    /// Why.
    pub reason: String,
    /// Who declared it.
    pub created_by: String,
    /// When.
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
}

impl From<&StoredFreeze> for FreezeRecord {
    fn from(f: &StoredFreeze) -> Self {
        FreezeRecord {
            id: f.id.clone(),
            tenant_id: f.tenant_id,
            start: f.starts_at,
            end: f.ends_at,
            reason: f.reason.clone(),
            created_by: f.created_by.clone(),
            created_at: f.created_at,
        }
    }
}

/// Whether the caller sees every tenant: a provider user whose customers
/// are all customers. Only such a user acts on freezes for every tenant.
fn sees_every_tenant(caller: &Principal) -> bool {
    caller.visibility() == Visibility::All
}

/// Declares a change freeze: no window occurrence it overlaps opens.
#[utoipa::path(post, path = "/freezes", tag = "scheduling",
    security(("bearer" = ["change:write"])),
    request_body = CreateFreeze,
    responses((status = 201, body = FreezeRecord), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_freeze(
    State(api): State<Api>,
    Caller(caller): Caller,
    Json(req): Json<CreateFreeze>,
) -> Result<(StatusCode, Json<FreezeRecord>), ApiError> {
    require(&caller, Permission::ChangeWrite)?;
    match req.tenant {
        Some(tenant) => find_tenant(&api, &caller, tenant).await?,
        None if !sees_every_tenant(&caller) => {
            return Err(ApiError::forbidden(
                "a freeze for every tenant needs a provider user who sees every customer; name a tenant",
            ));
        }
        None => {}
    }
    let freeze = Freeze::new(FreezeSpec {
        start: req.start,
        end: req.end,
        reason: req.reason.trim().to_owned(),
    })?;
    let now = api.clock.now();
    if req.end <= now {
        return Err(ApiError::invalid("end", "must be in the future"));
    }
    let stored = StoredFreeze {
        id: format!(
            "frz-{:013x}-{}",
            now.as_millisecond().max(0),
            hex::encode(random::<6>())
        ),
        tenant_id: req.tenant,
        starts_at: freeze.interval().start,
        ends_at: freeze.interval().end,
        reason: freeze.reason().to_owned(),
        created_by: caller.username.clone(),
        created_at: now,
    };
    let created = api
        .store
        .create_freeze(&stored, &actor(&caller), now)
        .await?;
    Ok((StatusCode::CREATED, Json(FreezeRecord::from(&created))))
}

/// Freezes that have not ended: those of the visible tenants (or of one)
/// and those for every tenant. Earliest first.
#[utoipa::path(get, path = "/freezes", tag = "scheduling",
    security(("bearer" = ["change:read"])),
    params(TenantQuery),
    responses((status = 200, body = Page<FreezeRecord>), (status = 403, body = ErrorBody)))]
pub async fn list_freezes(
    State(api): State<Api>,
    Caller(caller): Caller,
    Query(q): Query<TenantQuery>,
) -> Result<Json<Page<FreezeRecord>>, ApiError> {
    require(&caller, Permission::ChangeRead)?;
    // A tenant the caller may not see has nothing to show, not even the
    // freezes for every tenant (which would say that it exists).
    if q.tenant.is_some_and(|t| !caller.can_see(t)) {
        return Ok(Json(q.page(Vec::new(), |f: &FreezeRecord| f.id.clone())?));
    }
    let items = api
        .store
        .list_freezes(&caller.visibility(), q.tenant, api.clock.now())
        .await?
        .iter()
        .map(FreezeRecord::from)
        .collect();
    // Earliest first: the start's microseconds, zero-padded, then the id.
    Ok(Json(q.page(items, |f| {
        format!("{:020}-{}", f.start.as_microsecond().max(0), f.id)
    })?))
}

/// Lifts a freeze. One for every tenant only a provider user who sees
/// every customer may lift.
#[utoipa::path(delete, path = "/freezes/{id}", tag = "scheduling",
    security(("bearer" = ["change:write"])),
    params(("id" = String, Path, description = "Freeze id")),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete_freeze(
    State(api): State<Api>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    require(&caller, Permission::ChangeWrite)?;
    let freeze = api
        .store
        .freeze(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("freeze"))?;
    match freeze.tenant_id {
        Some(tenant) => visible(&caller, tenant, "freeze")?,
        None if !sees_every_tenant(&caller) => {
            return Err(ApiError::forbidden(
                "a freeze for every tenant can be lifted only by a provider user who sees every customer",
            ));
        }
        None => {}
    }
    if !api
        .store
        .delete_freeze(&id, &actor(&caller), api.clock.now())
        .await?
    {
        return Err(ApiError::not_found("freeze"));
    }
    Ok(StatusCode::NO_CONTENT)
}

/// The range of a calendar.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CalendarQuery {
    /// The tenant.
    #[param(value_type = String)]
    pub tenant: TenantId,
    /// From (RFC 3339; default now).
    pub from: Option<String>,
    /// To (RFC 3339, exclusive; default 31 days after `from`, at most 92).
    pub to: Option<String>,
}

/// A window in a calendar.
#[derive(Debug, Serialize, ToSchema)]
pub struct CalendarWindow {
    /// The window's id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// The group it is for.
    pub group: Option<String>,
    /// Its time zone.
    pub time_zone: String,
    /// Why it no longer validates; it then has no occurrences.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
    /// Its occurrences in the range, those a freeze cancels marked.
    pub occurrences: Vec<Occurrence>,
}

/// A change planned or running in a calendar's range.
#[derive(Debug, Serialize, ToSchema)]
pub struct CalendarChange {
    /// The change's id.
    pub id: String,
    /// Its title.
    pub title: String,
    /// `scheduled` or `in_progress`.
    pub state: String,
    /// The start it is scheduled for.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub planned_start: Option<Timestamp>,
}

/// A tenant's calendar.
#[derive(Debug, Serialize, ToSchema)]
pub struct Calendar {
    /// The tenant.
    #[schema(value_type = String)]
    pub tenant_id: TenantId,
    /// From.
    #[schema(value_type = String, format = DateTime)]
    pub from: Timestamp,
    /// To, exclusive.
    #[schema(value_type = String, format = DateTime)]
    pub to: Timestamp,
    /// Every window of the tenant with its occurrences.
    pub windows: Vec<CalendarWindow>,
    /// The freezes that overlap the range (the tenant's and those for
    /// every tenant).
    pub freezes: Vec<FreezeRecord>,
    /// The tenant's changes scheduled to start in the range, and those in
    /// progress, by planned start.
    pub changes: Vec<CalendarChange>,
}

/// A change's planned start from its stored document: the engine's
/// [`Change`], or failing that its `planned_start` field.
fn planned_start(body: &serde_json::Value) -> Option<Timestamp> {
    match serde_json::from_value::<Change>(body.clone()) {
        Ok(change) => change.planned_start(),
        Err(_) => body
            .get("planned_start")
            .and_then(|v| serde_json::from_value(v.clone()).ok()),
    }
}

/// A tenant's calendar over a range of at most 92 days: every window's
/// occurrences (those a freeze cancels marked, with its reason), the
/// freezes, and the changes scheduled or in progress.
#[utoipa::path(get, path = "/calendar", tag = "scheduling",
    security(("bearer" = ["change:read"])),
    params(CalendarQuery),
    responses((status = 200, body = Calendar), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn calendar(
    State(api): State<Api>,
    Caller(caller): Caller,
    Query(q): Query<CalendarQuery>,
) -> Result<Json<Calendar>, ApiError> {
    require(&caller, Permission::ChangeRead)?;
    let from = time_param("from", q.from.as_deref())?.unwrap_or_else(|| api.clock.now());
    let to = time_param("to", q.to.as_deref())?.unwrap_or_else(|| later(from, DEFAULT_CALENDAR));
    if to <= from {
        return Err(ApiError::invalid("to", "must be after from"));
    }
    if from.duration_until(to) > MAX_CALENDAR {
        return Err(ApiError::invalid("to", "a calendar shows at most 92 days"));
    }
    find_tenant(&api, &caller, q.tenant).await?;
    let freezes = freezes_of(&api, q.tenant, from).await?;
    let windows = api
        .store
        .list_windows(&Visibility::All, Some(q.tenant))
        .await?
        .iter()
        .map(|stored| {
            let record = WindowRecord::of(stored)?;
            Ok(CalendarWindow {
                occurrences: schedule::window_of(stored)
                    .map(|w| occurrences(&w, &freezes, from, to))
                    .unwrap_or_default(),
                id: record.id,
                name: record.name,
                group: record.group,
                time_zone: record.spec.time_zone,
                problem: record.problem,
            })
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    let changes = calendar_changes(&api, &caller, q.tenant, from, to).await?;
    let freezes = freezes
        .iter()
        .filter(|f| {
            interval_of(f).overlaps(&Interval {
                start: from,
                end: to,
            })
        })
        .map(FreezeRecord::from)
        .collect();
    Ok(Json(Calendar {
        tenant_id: q.tenant,
        from,
        to,
        windows,
        freezes,
        changes,
    }))
}

/// The tenant's changes scheduled to start in `[from, to)`, and those in
/// progress that were planned to start before `to`.
async fn calendar_changes(
    api: &Api,
    caller: &Principal,
    tenant: TenantId,
    from: Timestamp,
    to: Timestamp,
) -> Result<Vec<CalendarChange>, ApiError> {
    let filter = ChangeFilter {
        tenant: Some(tenant),
        states: vec!["scheduled".into(), "in_progress".into()],
        review_due: false,
    };
    let mut out = Vec::new();
    let mut after = None;
    let mut seen = 0;
    loop {
        let page =
            PageRequest::new(Some(1000), after).map_err(|e| ApiError::internal(e.to_string()))?;
        let changes = api
            .store
            .list_changes(&caller.visibility(), &filter, &page)
            .await?;
        seen += changes.items.len();
        for c in changes.items {
            let planned = planned_start(&c.body);
            let shown = match c.state.as_str() {
                "scheduled" => planned.is_some_and(|p| from <= p && p < to),
                _ => planned.is_none_or(|p| p < to),
            };
            if shown {
                out.push(CalendarChange {
                    id: c.id,
                    title: c.title,
                    state: c.state,
                    planned_start: planned,
                });
            }
        }
        after = changes.next_cursor;
        if after.is_none() || seen >= MAX_CALENDAR_CHANGES {
            break;
        }
    }
    out.sort_by(|a, b| (a.planned_start, &a.id).cmp(&(b.planned_start, &b.id)));
    Ok(out)
}

/// Why a window applies to a host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AppliesBy {
    /// One of the host's groups has it.
    Group,
    /// The host's `maintenance_window` attribute names it.
    MaintenanceWindow,
    /// The host names no window and its groups have none: the tenant's
    /// default windows (those for no group).
    TenantDefault,
}

/// A window that applies to a host.
#[derive(Debug, Serialize, ToSchema)]
pub struct AppliedWindow {
    /// The window.
    #[serde(flatten)]
    pub window: WindowRecord,
    /// Why it applies.
    pub applies_by: AppliesBy,
}

/// A host's next opening: when one of its windows opens and no freeze
/// cancels it (overlapping occurrences merged).
#[derive(Debug, Serialize, ToSchema)]
pub struct Opening {
    /// When it opens (UTC); `after` itself when a window is open then,
    /// with the opening's real start.
    #[schema(value_type = String, format = DateTime)]
    pub start: Timestamp,
    /// When it closes (UTC).
    #[schema(value_type = String, format = DateTime)]
    pub end: Timestamp,
    /// The windows whose occurrences make it.
    pub windows: Vec<String>,
    /// The first of those windows' time zone.
    pub time_zone: String,
    /// When it opens there.
    pub local_start: String,
    /// When it closes there.
    pub local_end: String,
}

/// The windows of a host and its next opening.
#[derive(Debug, Serialize, ToSchema)]
pub struct HostWindows {
    /// The host.
    #[schema(value_type = String)]
    pub host_id: HostId,
    /// Its tenant.
    #[schema(value_type = String)]
    pub tenant_id: TenantId,
    /// Its `maintenance_window` attribute.
    pub maintenance_window: Option<String>,
    /// Its groups.
    pub groups: Vec<String>,
    /// The windows that apply to it.
    pub windows: Vec<AppliedWindow>,
    /// From when the next opening was looked for.
    #[schema(value_type = String, format = DateTime)]
    pub after: Timestamp,
    /// Its next opening within two years; none: see `reason`.
    pub next_opening: Option<Opening>,
    /// Why there is no next opening.
    pub reason: Option<String>,
    /// Occurrences of its windows between `after` and the next opening
    /// that freezes cancel (at most 20).
    pub cancelled: Vec<Occurrence>,
}

/// From when.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AfterQuery {
    /// After this time (RFC 3339; default now).
    pub after: Option<String>,
}

/// Which windows apply to a host (its `maintenance_window` attribute's
/// and its groups', else the tenant's default ones) and its next opening
/// after `after`, freezes applied.
#[utoipa::path(get, path = "/hosts/{id}/windows", tag = "scheduling",
    security(("bearer" = ["change:read"])),
    params(("id" = String, Path, description = "Host id"), AfterQuery),
    responses((status = 200, body = HostWindows), (status = 404, body = ErrorBody)))]
pub async fn of_host(
    State(api): State<Api>,
    Caller(caller): Caller,
    Path(id): Path<HostId>,
    Query(q): Query<AfterQuery>,
) -> Result<Json<HostWindows>, ApiError> {
    require(&caller, Permission::ChangeRead)?;
    let after = time_param("after", q.after.as_deref())?.unwrap_or_else(|| api.clock.now());
    let host = api
        .store
        .get_host(id)
        .await?
        .ok_or_else(|| ApiError::not_found("host"))?;
    visible(&caller, host.tenant_id, "host")?;
    let tenant = host.tenant_id;
    let applied = TenantWindows::read(&api.store, tenant)
        .await?
        .of_host(&host);
    let stored = api
        .store
        .list_windows(&Visibility::All, Some(tenant))
        .await?;
    let attribute = host.attributes.maintenance_window.clone();
    let windows = applied
        .iter()
        .filter_map(|w| stored.iter().find(|s| s.name == w.name()))
        .map(|s| {
            let applies_by = if s.group.is_some() {
                AppliesBy::Group
            } else if attribute.as_deref() == Some(s.name.as_str()) {
                AppliesBy::MaintenanceWindow
            } else {
                AppliesBy::TenantDefault
            };
            Ok(AppliedWindow {
                window: WindowRecord::of(s)?,
                applies_by,
            })
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    let stored_freezes = freezes_of(&api, tenant, after).await?;
    let freezes: Vec<Freeze> = stored_freezes
        .iter()
        .filter_map(schedule::freeze_of)
        .collect();
    let next = window::next_opening(&applied, &freezes, after);
    let until = next.map_or_else(|| later(after, HORIZON), |o| o.start);
    let mut cancelled: Vec<Occurrence> = applied
        .iter()
        .flat_map(|w| occurrences(w, &stored_freezes, after, until))
        .filter(|o| o.cancelled.is_some())
        .collect();
    cancelled.sort_by_key(|o| (o.start, o.end));
    cancelled.truncate(MAX_CANCELLED);
    let reason = match (&next, applied.is_empty(), &attribute) {
        (Some(_), _, _) => None,
        (None, true, Some(name)) => Some(format!(
            "its maintenance_window attribute names {name:?}, which is not a window of the tenant \
             for hosts that name it (one for no group), and none of its groups has a window"
        )),
        (None, true, None) => Some(
            "it names no maintenance window, none of its groups has one, and the tenant has no \
             default window (one for no group)"
                .to_owned(),
        ),
        (None, false, _) => Some(
            "none of its windows opens within two years: their rules end (COUNT or UNTIL) or \
             freezes cancel every occurrence"
                .to_owned(),
        ),
    };
    let next_opening = next.map(|o| {
        // The windows with an occurrence in the opening that no freeze
        // cancels: those that make it.
        let making: Vec<&Window> = applied
            .iter()
            .filter(|w| {
                occurrences(w, &stored_freezes, o.start, o.end)
                    .iter()
                    .any(|x| x.cancelled.is_none())
            })
            .collect();
        let tz = making
            .first()
            .map(|w| w.time_zone().clone())
            .unwrap_or(TimeZone::UTC);
        Opening {
            start: o.start,
            end: o.end,
            windows: making.iter().map(|w| w.name().to_owned()).collect(),
            time_zone: making
                .first()
                .map_or_else(|| "UTC".to_owned(), |w| w.spec().time_zone.clone()),
            local_start: local(o.start, &tz),
            local_end: local(o.end, &tz),
        }
    });
    Ok(Json(HostWindows {
        host_id: host.id,
        tenant_id: tenant,
        maintenance_window: attribute,
        groups: host.attributes.groups.iter().cloned().collect(),
        windows,
        after,
        next_opening,
        reason,
        cancelled,
    }))
}

/// Where a host stands in a ring plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Placement<'a> {
    /// In this ring of the plan.
    Ring(&'a str),
    /// Its `ring` attribute names a ring the plan does not have.
    Unknown(&'a str),
}

/// The ring of `host` in `plan`: the ring that names the host; else the
/// ring its `ring` attribute names (a ring the plan lacks places it
/// nowhere); else the first ring holding one of its groups; else the last
/// ring, the broad one.
pub(crate) fn ring_of<'a>(plan: &'a RingPlan, host: &'a Host) -> Placement<'a> {
    let rings = plan.rings();
    if let Some(r) = rings.iter().find(|r| r.hosts.contains(&host.id)) {
        return Placement::Ring(&r.name);
    }
    if let Some(name) = host.attributes.ring.as_deref() {
        return match plan.find(name) {
            Some((_, r)) => Placement::Ring(&r.name),
            None => Placement::Unknown(name),
        };
    }
    let by_group = rings
        .iter()
        .find(|r| r.groups.iter().any(|g| host.attributes.groups.contains(g)));
    match by_group.or(rings.last()) {
        Some(r) => Placement::Ring(&r.name),
        // A plan has at least one ring; this is not reached.
        None => Placement::Unknown(""),
    }
}

/// How many of the tenant's hosts a ring holds.
#[derive(Debug, Serialize, ToSchema)]
pub struct RingCount {
    /// The ring.
    pub ring: String,
    /// Its hosts.
    pub hosts: u64,
}

/// A host whose `ring` attribute names no ring of the plan: no rollout
/// can place it until the attribute or the plan changes.
#[derive(Debug, Serialize, ToSchema)]
pub struct UnplacedHost {
    /// The host.
    #[schema(value_type = String)]
    pub host_id: HostId,
    /// Its name.
    pub name: String,
    /// The ring it names.
    pub ring: String,
}

/// A tenant's ring plan and where its hosts stand in it.
#[derive(Debug, Serialize, ToSchema)]
pub struct RingPlanView {
    /// The tenant.
    #[schema(value_type = String)]
    pub tenant_id: TenantId,
    /// Whether the tenant set none and this is the default: a single ring
    /// holding every host.
    pub default: bool,
    /// The rings, pilot first (what `PUT` takes).
    #[schema(value_type = Vec<Object>)]
    pub plan: RingPlan,
    /// The tenant's hosts per ring, in the plan's order.
    pub hosts_per_ring: Vec<RingCount>,
    /// Hosts whose `ring` attribute names no ring of the plan.
    pub unknown_ring: Vec<UnplacedHost>,
}

/// Every host of a tenant (up to [`MAX_COUNTED_HOSTS`]).
async fn tenant_hosts(api: &Api, tenant: TenantId) -> Result<Vec<Host>, ApiError> {
    let filter = HostFilter {
        tenant: Some(tenant),
        ..HostFilter::default()
    };
    let mut hosts = Vec::new();
    let mut after = None;
    loop {
        let page =
            PageRequest::new(Some(1000), after).map_err(|e| ApiError::internal(e.to_string()))?;
        let listed = api
            .store
            .list_hosts(&Visibility::All, &filter, &page)
            .await?;
        hosts.extend(listed.items);
        after = listed.next_cursor;
        if after.is_none() || hosts.len() >= MAX_COUNTED_HOSTS {
            return Ok(hosts);
        }
    }
}

/// The tenant's plan, or the default single ring.
async fn plan_of(api: &Api, tenant: TenantId) -> Result<(RingPlan, bool), ApiError> {
    match api
        .store
        .change_setting(tenant, ChangeSetting::RingPlan)
        .await?
    {
        Some(body) => serde_json::from_value(body)
            .map(|plan| (plan, false))
            .map_err(|e| ApiError::internal(format!("tenant {tenant}'s stored ring plan: {e}"))),
        None => Ok((RingPlan::single(DEFAULT_RING), true)),
    }
}

fn view(tenant: TenantId, plan: RingPlan, default: bool, hosts: &[Host]) -> RingPlanView {
    let mut counts: Vec<RingCount> = plan
        .rings()
        .iter()
        .map(|r| RingCount {
            ring: r.name.clone(),
            hosts: 0,
        })
        .collect();
    let mut unknown_ring = Vec::new();
    for host in hosts {
        match ring_of(&plan, host) {
            Placement::Ring(name) => {
                if let Some(c) = counts.iter_mut().find(|c| c.ring == name) {
                    c.hosts += 1;
                }
            }
            Placement::Unknown(name) => unknown_ring.push(UnplacedHost {
                host_id: host.id,
                name: host.name.clone(),
                ring: name.to_owned(),
            }),
        }
    }
    RingPlanView {
        tenant_id: tenant,
        default,
        plan,
        hosts_per_ring: counts,
        unknown_ring,
    }
}

/// A tenant's ring plan (a single ring `broad` when it set none), its
/// hosts per ring, and hosts whose `ring` attribute names no ring of it.
#[utoipa::path(get, path = "/tenants/{id}/ring-plan", tag = "scheduling",
    security(("bearer" = ["change:read"])),
    params(("id" = String, Path, description = "Tenant id")),
    responses((status = 200, body = RingPlanView), (status = 404, body = ErrorBody)))]
pub async fn get_ring_plan(
    State(api): State<Api>,
    Caller(caller): Caller,
    Path(id): Path<TenantId>,
) -> Result<Json<RingPlanView>, ApiError> {
    require(&caller, Permission::ChangeRead)?;
    find_tenant(&api, &caller, id).await?;
    let (plan, default) = plan_of(&api, id).await?;
    let hosts = tenant_hosts(&api, id).await?;
    Ok(Json(view(id, plan, default, &hosts)))
}

/// Sets a tenant's ring plan: 1 to 16 rings, pilot first, with unique
/// names; the hosts it names must be the tenant's.
#[utoipa::path(put, path = "/tenants/{id}/ring-plan", tag = "scheduling",
    security(("bearer" = ["change:write"])),
    params(("id" = String, Path, description = "Tenant id")),
    request_body(content = Vec<Object>, description = "The rings, pilot first: name, hosts, groups, soak, failure_threshold, max_in_flight"),
    responses((status = 200, body = RingPlanView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn set_ring_plan(
    State(api): State<Api>,
    Caller(caller): Caller,
    Path(id): Path<TenantId>,
    Json(rings): Json<Vec<Ring>>,
) -> Result<Json<RingPlanView>, ApiError> {
    require(&caller, Permission::ChangeWrite)?;
    find_tenant(&api, &caller, id).await?;
    if rings.iter().map(|r| r.hosts.len()).sum::<usize>() > MAX_PLAN_HOSTS {
        return Err(ApiError::invalid(
            "hosts",
            format!("a plan names at most {MAX_PLAN_HOSTS} hosts; name groups instead"),
        ));
    }
    if let Some(r) = rings
        .iter()
        .find(|r| r.groups.len() > rivet_core::host::MAX_LABELS)
    {
        return Err(ApiError::invalid(
            "groups",
            format!(
                "ring {:?}: at most {} groups",
                r.name,
                rivet_core::host::MAX_LABELS
            ),
        ));
    }
    let plan = RingPlan::new(rings)?;
    let hosts = tenant_hosts(&api, id).await?;
    for ring in plan.rings() {
        if let Some(stranger) = ring
            .hosts
            .iter()
            .find(|h| !hosts.iter().any(|host| host.id == **h))
        {
            return Err(ApiError::invalid(
                "hosts",
                format!(
                    "ring {:?}: host {stranger} is not a host of this tenant",
                    ring.name
                ),
            ));
        }
    }
    let body = serde_json::to_value(&plan).map_err(ApiError::internal)?;
    api.store
        .set_change_setting(
            id,
            ChangeSetting::RingPlan,
            &body,
            &actor(&caller),
            api.clock.now(),
        )
        .await?;
    Ok(Json(view(id, plan, false, &hosts)))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    fn host(id: u8, ring: Option<&str>, groups: &[&str]) -> Host {
        let at = Timestamp::from_second(1).unwrap();
        Host {
            id: HostId::new(at, [id; 10]),
            tenant_id: TenantId::new(at, [0; 10]),
            name: format!("h{id}"),
            source: rivet_store::HostSource::Import,
            os_id: None,
            os_version: None,
            os_name: None,
            architecture: None,
            reboot_required: false,
            package_count: 0,
            agent_version: None,
            enrolled_at: None,
            revoked_at: None,
            inventory_digest: None,
            inventory_at: None,
            last_seen_at: None,
            collect_requested_at: None,
            attributes: rivet_core::host::HostAttributes {
                ring: ring.map(str::to_owned),
                groups: groups.iter().map(|g| (*g).to_owned()).collect(),
                ..Default::default()
            },
            created_at: at,
            updated_at: at,
        }
    }

    #[test]
    fn rings_place_named_hosts_then_attributes_then_groups_then_broad() {
        let named = host(1, Some("broad"), &[]);
        let mut pilot = Ring::new("pilot");
        pilot.hosts = BTreeSet::from([named.id]);
        let mut web = Ring::new("web");
        web.groups = BTreeSet::from(["web".to_owned()]);
        let plan = RingPlan::new(vec![pilot, web, Ring::new("broad")]).unwrap();
        assert_eq!(ring_of(&plan, &named), Placement::Ring("pilot"));
        assert_eq!(
            ring_of(&plan, &host(2, Some("web"), &[])),
            Placement::Ring("web")
        );
        assert_eq!(
            ring_of(&plan, &host(3, Some("canary"), &["web"])),
            Placement::Unknown("canary")
        );
        assert_eq!(
            ring_of(&plan, &host(4, None, &["db", "web"])),
            Placement::Ring("web")
        );
        assert_eq!(
            ring_of(&plan, &host(5, None, &["db"])),
            Placement::Ring("broad")
        );
    }
}
