//! Change requests (CHG-1, CHG-2, CHG-4 to CHG-6, RLO-7): what a change
//! installs where and when, validated from the raw [`NewChange`] a user sends,
//! and the state machine it then goes through, one function per transition,
//! each appended to the change's history. Standard changes are pre-approved
//! by their [`ChangeTemplate`]; emergency changes are expedited past the CAB
//! and stay open for review until someone has reviewed them. Pure: the time
//! and the acting user are parameters.
//!
//! Decisions an administrator should know: a rejected change is not dead, it
//! can be revised back to a draft and submitted again (the rejection stays in
//! the history); a completed change cannot be rolled back (undoing it is a
//! change of its own), a failed one can; an emergency change may start as
//! soon as it is approved, every other change is scheduled first.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use jiff::{SignedDuration, Timestamp};
use rivet_core::id::{TenantId, UserId};
use rivet_core::update::UpdateClass;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A change request's id: a UUIDv7, so that changes sort by creation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ChangeId(pub Uuid);

impl ChangeId {
    /// A new id for a change created at `at`; `random` supplies the 74
    /// random bits, so that the caller owns the source of randomness.
    pub fn new(at: Timestamp, random: [u8; 10]) -> ChangeId {
        let millis = u64::try_from(at.as_millisecond()).unwrap_or(0);
        ChangeId(uuid::Builder::from_unix_timestamp_millis(millis, &random).into_uuid())
    }
}

impl fmt::Display for ChangeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for ChangeId {
    type Err = FieldError;
    fn from_str(s: &str) -> Result<ChangeId, FieldError> {
        Uuid::parse_str(s)
            .map(ChangeId)
            .map_err(|_| FieldError::new("change id", "is not a UUID"))
    }
}

/// The longest title, in characters.
pub const TITLE_MAX: usize = 200;
/// The longest free text (description, impact, backout plan, test
/// evidence), in characters.
pub const TEXT_MAX: usize = 10_000;
/// The longest comment on a transition, in characters.
pub const COMMENT_MAX: usize = 4_000;
/// The longest name or version (package, advisory id, host, group, ring).
pub const NAME_MAX: usize = 200;
/// The most patches, and the most targets, one change may hold.
pub const ITEMS_MAX: usize = 10_000;
/// The longest expected downtime: a week.
pub const DOWNTIME_MAX: SignedDuration = SignedDuration::from_hours(7 * 24);

/// The kind of a change (CHG-1). In JSON: `{"type": "standard", "template":
/// "monthly-security"}`, `{"type": "normal"}`, `{"type": "emergency"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ChangeKind {
    /// Pre-approved by a template, e.g. the monthly security patches of a ring.
    Standard {
        /// The [`ChangeTemplate`]'s id.
        template: String,
    },
    /// Needs the approvals its policy asks for.
    Normal,
    /// Bypasses the CAB and the customer coordination; reviewed afterwards.
    Emergency,
}

impl ChangeKind {
    /// `standard`, `normal` or `emergency`.
    pub fn name(&self) -> &'static str {
        match self {
            ChangeKind::Standard { .. } => "standard",
            ChangeKind::Normal => "normal",
            ChangeKind::Emergency => "emergency",
        }
    }
}

/// What a change installs (CHG-2): an advisory's fixes, or one package at an
/// exact version. The class is the update class where it is known.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Patch {
    /// An advisory (`RHSA-2024:1234`, `DSA-5678-1`, `CVE-2024-3094`); the
    /// assessment resolves it to packages before installation.
    Advisory {
        /// The advisory's id.
        id: String,
        /// The update class, where known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        class: Option<UpdateClass>,
    },
    /// A package at an exact version.
    Package {
        /// The package name as its package manager spells it.
        name: String,
        /// The exact version to install, epoch and release included.
        version: String,
        /// The architecture; none means the host's own.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        arch: Option<String>,
        /// The update class, where known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        class: Option<UpdateClass>,
    },
}

impl Patch {
    /// The update class, where known.
    pub fn class(&self) -> Option<UpdateClass> {
        match self {
            Patch::Advisory { class, .. } | Patch::Package { class, .. } => *class,
        }
    }

    /// The package name of a package patch.
    pub fn package_name(&self) -> Option<&str> {
        match self {
            Patch::Package { name, .. } => Some(name),
            Patch::Advisory { .. } => None,
        }
    }
}

impl fmt::Display for Patch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Patch::Advisory { id, .. } => f.write_str(id),
            Patch::Package {
                name,
                version,
                arch: Some(arch),
                ..
            } => write!(f, "{name}:{arch} {version}"),
            Patch::Package { name, version, .. } => write!(f, "{name} {version}"),
        }
    }
}

/// Where a change applies. In JSON: `{"host": "…"}`, `{"group": "web"}`,
/// `{"ring": "pilot"}`, `{"tenant": "<tenant id>"}`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// One host, by its id.
    Host(String),
    /// The hosts of a group.
    Group(String),
    /// The hosts of a ring.
    Ring(String),
    /// Every host of the tenant; only the change's own tenant.
    Tenant(TenantId),
}

/// How risky the change is, as its requester assesses it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Risk {
    /// Routine.
    Low,
    /// Could disturb a service.
    Medium,
    /// Could take a service down for longer than planned.
    High,
}

/// When the work may happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schedule {
    /// Not before this.
    pub earliest_start: Timestamp,
    /// The latest the work may start (for example an advisory's remediation
    /// deadline); none means open.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline: Option<Timestamp>,
}

/// The order the packages are installed in (CHG-5). In JSON:
/// `"dependencies_first"` or `{"steps": ["libssl3", "openssl"]}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Order {
    /// Each package after the packages of this change it depends on.
    #[default]
    DependenciesFirst,
    /// Exactly these package names, in this order, each once.
    Steps(Vec<String>),
}

/// A change request as a user sends it, before validation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewChange {
    /// Standard, normal or emergency.
    pub kind: ChangeKind,
    /// A short title, 1 to [`TITLE_MAX`] characters.
    pub title: String,
    /// What the change is for.
    #[serde(default)]
    pub description: String,
    /// What it installs; at least one.
    pub patches: Vec<Patch>,
    /// Where; at least one.
    pub targets: Vec<Target>,
    /// When.
    pub schedule: Schedule,
    /// How risky.
    pub risk: Risk,
    /// What the change affects while it runs.
    #[serde(default)]
    pub impact: String,
    /// How long the targets' services are expected to be down; zero for none.
    #[serde(default)]
    pub expected_downtime: SignedDuration,
    /// How to undo it; required for normal and emergency changes.
    #[serde(default)]
    pub backout_plan: String,
    /// How it was tested (pilot results, a test system).
    #[serde(default)]
    pub test_evidence: String,
    /// The installation order.
    #[serde(default)]
    pub order: Order,
    /// Whether the customer ordered this change (CHG-6). The server sets it
    /// for a customer's user; a provider user may record an order received
    /// otherwise, and the audit log says who did.
    #[serde(default)]
    pub requested_by_customer: bool,
}

/// One field that failed validation. The field is spelled as in the API,
/// with indexes: `patches[2].version`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    /// The field.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

impl FieldError {
    /// A field error.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> FieldError {
        FieldError {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// A change request that failed validation: every field that is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid change request: {}", join(.errors))]
pub struct InvalidChange {
    /// The fields, in the order of the request.
    pub errors: Vec<FieldError>,
}

impl InvalidChange {
    /// The error for `field`, if that field is wrong.
    pub fn field(&self, field: &str) -> Option<&FieldError> {
        self.errors.iter().find(|e| e.field == field)
    }
}

fn join(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// Collects field errors, so that a user learns everything wrong at once.
#[derive(Default)]
struct Check {
    errors: Vec<FieldError>,
}

impl Check {
    fn fail(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.errors.push(FieldError::new(field, message));
    }

    /// An identifier: a package name, version, architecture, advisory or
    /// host id. These go to package managers verbatim, so no whitespace.
    fn token(&mut self, field: impl Into<String>, value: &str) {
        let field = field.into();
        if value.is_empty() {
            self.fail(field, "must not be empty");
        } else if value.chars().count() > NAME_MAX {
            self.fail(field, format!("must be at most {NAME_MAX} characters"));
        } else if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
            self.fail(field, "must not contain whitespace or control characters");
        }
    }

    /// A name people type (group, ring): trimmed, one line.
    fn name(&mut self, field: impl Into<String>, value: &str, max: usize) -> String {
        let field = field.into();
        let value = value.trim();
        if value.is_empty() {
            self.fail(field, "must not be empty");
        } else if value.chars().count() > max {
            self.fail(field, format!("must be at most {max} characters"));
        } else if value.chars().any(char::is_control) {
            self.fail(field, "must not contain control characters");
        }
        value.to_owned()
    }

    /// Free text: trimmed, line breaks and tabs allowed.
    fn text(&mut self, field: &str, value: &str, max: usize, required: bool) -> String {
        let value = value.trim();
        if let Some(message) = text_problem(value, max, required) {
            self.fail(field, message);
        }
        value.to_owned()
    }
}

fn text_problem(value: &str, max: usize, required: bool) -> Option<String> {
    if required && value.trim().is_empty() {
        Some("must not be empty".into())
    } else if value.chars().count() > max {
        Some(format!("must be at most {max} characters"))
    } else if value
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        Some("must not contain control characters".into())
    } else {
        None
    }
}

impl NewChange {
    /// Validates the request into a draft change of `tenant`, requested by
    /// `requested_by` at `at`. Titles and texts are trimmed; identifiers
    /// must not contain whitespace. Every wrong field is reported.
    pub fn validate(
        self,
        id: ChangeId,
        tenant: TenantId,
        requested_by: UserId,
        at: Timestamp,
    ) -> Result<Change, InvalidChange> {
        let mut check = Check::default();
        if let ChangeKind::Standard { template } = &self.kind {
            check.token("kind.template", template);
        }
        let title = check.name("title", &self.title, TITLE_MAX);
        let description = check.text("description", &self.description, TEXT_MAX, false);
        check_patches(&mut check, &self.patches);
        let targets = check_targets(&mut check, self.targets, tenant);
        if let Some(deadline) = self.schedule.deadline
            && deadline <= self.schedule.earliest_start
        {
            check.fail("schedule.deadline", "must be after the earliest start");
        }
        let impact = check.text("impact", &self.impact, TEXT_MAX, false);
        if self.expected_downtime.is_negative() {
            check.fail("expected_downtime", "must not be negative");
        } else if self.expected_downtime > DOWNTIME_MAX {
            check.fail("expected_downtime", "must be at most 7 days");
        }
        let backout_required = !matches!(self.kind, ChangeKind::Standard { .. });
        let backout_plan = check.text("backout_plan", &self.backout_plan, TEXT_MAX, false);
        if backout_required && backout_plan.is_empty() {
            check.fail(
                "backout_plan",
                "is required for normal and emergency changes",
            );
        }
        let test_evidence = check.text("test_evidence", &self.test_evidence, TEXT_MAX, false);
        if let Order::Steps(steps) = &self.order {
            for (field, message) in step_problems(&self.patches, steps) {
                check.fail(field, message);
            }
        }
        if !check.errors.is_empty() {
            return Err(InvalidChange {
                errors: check.errors,
            });
        }
        Ok(Change {
            id,
            tenant,
            kind: self.kind,
            title,
            description,
            patches: self.patches,
            targets,
            schedule: self.schedule,
            risk: self.risk,
            impact,
            expected_downtime: self.expected_downtime,
            backout_plan,
            test_evidence,
            order: self.order,
            requested_by,
            requested_by_customer: self.requested_by_customer,
            created_at: at,
            state: ChangeState::Draft,
            planned_start: None,
            history: Vec::new(),
            review: None,
        })
    }
}

fn check_patches(check: &mut Check, patches: &[Patch]) {
    if patches.is_empty() {
        check.fail("patches", "at least one patch is required");
    } else if patches.len() > ITEMS_MAX {
        check.fail("patches", format!("at most {ITEMS_MAX} patches"));
        return;
    }
    for (i, patch) in patches.iter().enumerate() {
        match patch {
            Patch::Advisory { id, .. } => check.token(format!("patches[{i}].id"), id),
            Patch::Package {
                name,
                version,
                arch,
                ..
            } => {
                check.token(format!("patches[{i}].name"), name);
                check.token(format!("patches[{i}].version"), version);
                if let Some(arch) = arch {
                    check.token(format!("patches[{i}].arch"), arch);
                }
            }
        }
        if let Some(j) = patches[..i].iter().position(|p| same_patch(p, patch)) {
            check.fail(
                format!("patches[{i}]"),
                format!("duplicates patches[{j}] ({})", patches[j]),
            );
        }
    }
}

/// Whether two patches install the same thing: the same advisory, or the
/// same package for an overlapping architecture (whatever the versions,
/// since a host cannot have two).
fn same_patch(a: &Patch, b: &Patch) -> bool {
    match (a, b) {
        (Patch::Advisory { id: x, .. }, Patch::Advisory { id: y, .. }) => x.eq_ignore_ascii_case(y),
        (
            Patch::Package {
                name: x, arch: ax, ..
            },
            Patch::Package {
                name: y, arch: ay, ..
            },
        ) => x == y && (ax.is_none() || ay.is_none() || ax == ay),
        _ => false,
    }
}

fn check_targets(check: &mut Check, targets: Vec<Target>, tenant: TenantId) -> Vec<Target> {
    if targets.is_empty() {
        check.fail("targets", "at least one target is required");
    } else if targets.len() > ITEMS_MAX {
        check.fail("targets", format!("at most {ITEMS_MAX} targets"));
        return targets;
    }
    let mut seen = BTreeMap::new();
    let mut out = Vec::with_capacity(targets.len());
    for (i, target) in targets.into_iter().enumerate() {
        let field = format!("targets[{i}]");
        let target = match target {
            Target::Host(id) => {
                check.token(format!("{field}.host"), &id);
                Target::Host(id)
            }
            Target::Group(name) => {
                Target::Group(check.name(format!("{field}.group"), &name, NAME_MAX))
            }
            Target::Ring(name) => {
                Target::Ring(check.name(format!("{field}.ring"), &name, NAME_MAX))
            }
            Target::Tenant(other) => {
                // Tenants are strictly separated: a change belongs to one
                // tenant and can reach only that tenant's hosts.
                if other != tenant {
                    check.fail(format!("{field}.tenant"), "must be the change's own tenant");
                }
                Target::Tenant(other)
            }
        };
        if let Some(j) = seen.insert(target.clone(), i) {
            check.fail(field, format!("duplicates targets[{j}]"));
        }
        out.push(target);
    }
    out
}

/// What is wrong with explicit steps: each must name a package of the
/// change, and together they must name every package exactly once.
fn step_problems(patches: &[Patch], steps: &[String]) -> Vec<(String, String)> {
    let packages: BTreeSet<&str> = patches.iter().filter_map(Patch::package_name).collect();
    let mut problems = Vec::new();
    let mut seen = BTreeMap::new();
    for (i, step) in steps.iter().enumerate() {
        if !packages.contains(step.as_str()) {
            problems.push((
                format!("order.steps[{i}]"),
                format!("{step:?} is not a package of this change"),
            ));
        } else if let Some(j) = seen.insert(step.as_str(), i) {
            problems.push((
                format!("order.steps[{i}]"),
                format!("{step:?} is already order.steps[{j}]"),
            ));
        }
    }
    let missing: Vec<&str> = packages
        .into_iter()
        .filter(|p| !seen.contains_key(p))
        .collect();
    if !missing.is_empty() {
        problems.push((
            "order.steps".into(),
            format!("must name every package; missing {}", missing.join(", ")),
        ));
    }
    problems
}

/// Where a change stands (CHG-4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeState {
    /// Being written; may be amended.
    Draft,
    /// Waiting for its approvals.
    Submitted,
    /// Approved (or pre-approved, or expedited), not yet scheduled.
    Approved,
    /// Refused by an approver; may be revised back to a draft.
    Rejected,
    /// Planned for a start time.
    Scheduled,
    /// Being installed.
    InProgress,
    /// Installed and verified.
    Completed,
    /// The installation failed.
    Failed,
    /// Undone (during the installation, or after it failed).
    RolledBack,
    /// Called off before any work started.
    Cancelled,
    /// Closed by its post-implementation review.
    Reviewed,
}

impl ChangeState {
    /// Every state, in the order of a change's life.
    pub const ALL: [ChangeState; 11] = [
        ChangeState::Draft,
        ChangeState::Submitted,
        ChangeState::Approved,
        ChangeState::Rejected,
        ChangeState::Scheduled,
        ChangeState::InProgress,
        ChangeState::Completed,
        ChangeState::Failed,
        ChangeState::RolledBack,
        ChangeState::Cancelled,
        ChangeState::Reviewed,
    ];

    /// The name used in the API and the database (`in_progress`).
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeState::Draft => "draft",
            ChangeState::Submitted => "submitted",
            ChangeState::Approved => "approved",
            ChangeState::Rejected => "rejected",
            ChangeState::Scheduled => "scheduled",
            ChangeState::InProgress => "in_progress",
            ChangeState::Completed => "completed",
            ChangeState::Failed => "failed",
            ChangeState::RolledBack => "rolled_back",
            ChangeState::Cancelled => "cancelled",
            ChangeState::Reviewed => "reviewed",
        }
    }

    /// The state of its name, or `None`.
    pub fn parse(name: &str) -> Option<ChangeState> {
        ChangeState::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// Whether the change's work is over (it may still be reviewed).
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            ChangeState::Completed
                | ChangeState::Failed
                | ChangeState::RolledBack
                | ChangeState::Cancelled
                | ChangeState::Reviewed
        )
    }
}

impl fmt::Display for ChangeState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A step in a change's life: each is one transition function of [`Change`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Ask for approval ([`Change::submit`]).
    Submit,
    /// Approve an emergency change at once ([`Change::expedite`]).
    Expedite,
    /// Approve ([`Change::approve`]).
    Approve,
    /// Refuse ([`Change::reject`]).
    Reject,
    /// Return a rejected change to a draft ([`Change::revise`]).
    Revise,
    /// Plan or re-plan the start ([`Change::schedule`]).
    Schedule,
    /// Begin the installation ([`Change::start`]).
    Start,
    /// Finish it successfully ([`Change::complete`]).
    Complete,
    /// Record that it failed ([`Change::fail`]).
    Fail,
    /// Record that it was undone ([`Change::roll_back`]).
    RollBack,
    /// Call it off ([`Change::cancel`]).
    Cancel,
    /// Close it with the post-implementation review ([`Change::review`]).
    Review,
}

impl Action {
    /// Every action.
    pub const ALL: [Action; 12] = [
        Action::Submit,
        Action::Expedite,
        Action::Approve,
        Action::Reject,
        Action::Revise,
        Action::Schedule,
        Action::Start,
        Action::Complete,
        Action::Fail,
        Action::RollBack,
        Action::Cancel,
        Action::Review,
    ];

    /// The name used in the API (`roll_back`).
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Submit => "submit",
            Action::Expedite => "expedite",
            Action::Approve => "approve",
            Action::Reject => "reject",
            Action::Revise => "revise",
            Action::Schedule => "schedule",
            Action::Start => "start",
            Action::Complete => "complete",
            Action::Fail => "fail",
            Action::RollBack => "roll_back",
            Action::Cancel => "cancel",
            Action::Review => "review",
        }
    }
}

impl Action {
    /// The action of its name, or `None`.
    pub fn parse(name: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.as_str() == name)
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The transition table: the state `action` leads to from `state` for a
/// change of `kind`, or `None` when the action is not allowed there.
pub fn next_state(kind: &ChangeKind, state: ChangeState, action: Action) -> Option<ChangeState> {
    use ChangeState::*;
    let emergency = matches!(kind, ChangeKind::Emergency);
    Some(match (state, action) {
        // An emergency change bypasses the CAB: it is expedited, never
        // submitted; a standard one is pre-approved by its template.
        (Draft, Action::Submit) => match kind {
            ChangeKind::Normal => Submitted,
            ChangeKind::Standard { .. } => Approved,
            ChangeKind::Emergency => return None,
        },
        (Draft, Action::Expedite) if emergency => Approved,
        (Submitted, Action::Approve) => Approved,
        (Submitted, Action::Reject) => Rejected,
        (Rejected, Action::Revise) => Draft,
        (Approved | Scheduled, Action::Schedule) => Scheduled,
        (Scheduled, Action::Start) => InProgress,
        // RLO-7: an emergency patch goes out at once.
        (Approved, Action::Start) if emergency => InProgress,
        (InProgress, Action::Complete) => Completed,
        (InProgress, Action::Fail) => Failed,
        (InProgress | Failed, Action::RollBack) => RolledBack,
        (Draft | Submitted | Approved | Scheduled, Action::Cancel) => Cancelled,
        (Completed | Failed | RolledBack | Cancelled, Action::Review) => Reviewed,
        _ => return None,
    })
}

/// One transition in a change's history: who moved it from where to where,
/// when, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transition {
    /// When.
    pub at: Timestamp,
    /// Who.
    pub by: UserId,
    /// What they did.
    pub action: Action,
    /// The state before.
    pub from: ChangeState,
    /// The state after.
    pub to: ChangeState,
    /// Their comment; may be empty where none is required.
    pub comment: String,
}

/// The post-implementation review.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Review {
    /// Who reviewed.
    pub by: UserId,
    /// When.
    pub at: Timestamp,
    /// What the review found.
    pub notes: String,
}

/// Why a transition that the state allows was still refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The action needs a comment saying why.
    #[error("a comment saying why is required")]
    CommentRequired,
    /// The comment is too long or holds control characters.
    #[error("comment {0}")]
    Comment(String),
    /// A standard change does not fit its template.
    #[error(transparent)]
    Template(#[from] TemplateMismatch),
    /// The one who expedited an emergency change cannot review it: the
    /// review is the check the CAB did not make beforehand.
    #[error("the user who expedited an emergency change cannot review it")]
    OwnReview,
    /// The planned start lies outside the change's schedule or in the past.
    #[error("planned start {planned} {problem}")]
    PlannedStart {
        /// The start asked for.
        planned: Timestamp,
        /// What is wrong with it.
        problem: String,
    },
    /// The change may not start yet.
    #[error("the change may not start before {0}")]
    TooEarly(Timestamp),
}

/// A transition that was not made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    /// The action is not allowed in the change's state.
    #[error("cannot {action} a change that is {state} ({kind} change)")]
    NotAllowed {
        /// The change's state.
        state: ChangeState,
        /// The action refused.
        action: Action,
        /// The change's kind (`normal`).
        kind: &'static str,
    },
    /// The state allows the action, but this one was refused.
    #[error("cannot {action} the change ({state}): {reason}")]
    Refused {
        /// The change's state.
        state: ChangeState,
        /// The action refused.
        action: Action,
        /// Why.
        reason: Refusal,
    },
}

/// A change request (CHG-2) with its state and history. Built by
/// [`NewChange::validate`]; its content can change only as a draft
/// ([`Change::amend`]) and its state only through the transition functions,
/// so that what was approved is what gets installed (AGT-5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    id: ChangeId,
    tenant: TenantId,
    kind: ChangeKind,
    title: String,
    description: String,
    patches: Vec<Patch>,
    targets: Vec<Target>,
    schedule: Schedule,
    risk: Risk,
    impact: String,
    expected_downtime: SignedDuration,
    backout_plan: String,
    test_evidence: String,
    order: Order,
    requested_by: UserId,
    requested_by_customer: bool,
    created_at: Timestamp,
    state: ChangeState,
    planned_start: Option<Timestamp>,
    history: Vec<Transition>,
    review: Option<Review>,
}

/// Amending a change failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmendError {
    /// Only a draft can be amended.
    #[error("only a draft can be amended; this change is {0}")]
    NotDraft(ChangeState),
    /// The new content is invalid.
    #[error(transparent)]
    Invalid(#[from] InvalidChange),
}

impl Change {
    /// The change's id.
    pub fn id(&self) -> ChangeId {
        self.id
    }
    /// The tenant whose hosts it changes.
    pub fn tenant(&self) -> TenantId {
        self.tenant
    }
    /// Standard, normal or emergency.
    pub fn kind(&self) -> &ChangeKind {
        &self.kind
    }
    /// The title.
    pub fn title(&self) -> &str {
        &self.title
    }
    /// The description.
    pub fn description(&self) -> &str {
        &self.description
    }
    /// What it installs.
    pub fn patches(&self) -> &[Patch] {
        &self.patches
    }
    /// Where.
    pub fn targets(&self) -> &[Target] {
        &self.targets
    }
    /// When it may happen: the earliest start and the deadline.
    pub fn timeframe(&self) -> &Schedule {
        &self.schedule
    }
    /// The start it is scheduled for, once scheduled.
    pub fn planned_start(&self) -> Option<Timestamp> {
        self.planned_start
    }
    /// How risky.
    pub fn risk(&self) -> Risk {
        self.risk
    }
    /// What it affects.
    pub fn impact(&self) -> &str {
        &self.impact
    }
    /// The expected downtime; zero for none.
    pub fn expected_downtime(&self) -> SignedDuration {
        self.expected_downtime
    }
    /// How to undo it.
    pub fn backout_plan(&self) -> &str {
        &self.backout_plan
    }
    /// How it was tested.
    pub fn test_evidence(&self) -> &str {
        &self.test_evidence
    }
    /// The installation order.
    pub fn order(&self) -> &Order {
        &self.order
    }
    /// Who asked for it.
    pub fn requested_by(&self) -> UserId {
        self.requested_by
    }
    /// Whether the customer ordered it (CHG-6).
    pub fn requested_by_customer(&self) -> bool {
        self.requested_by_customer
    }
    /// When it was created.
    pub fn created_at(&self) -> Timestamp {
        self.created_at
    }
    /// Where it stands.
    pub fn state(&self) -> ChangeState {
        self.state
    }
    /// Every transition, oldest first.
    pub fn history(&self) -> &[Transition] {
        &self.history
    }
    /// The post-implementation review, once held.
    pub fn post_implementation_review(&self) -> Option<&Review> {
        self.review.as_ref()
    }

    /// Replaces the content of a draft with a new request, validated as
    /// [`NewChange::validate`] does; id, tenant, requester and history stay.
    pub fn amend(&mut self, new: NewChange) -> Result<(), AmendError> {
        if self.state != ChangeState::Draft {
            return Err(AmendError::NotDraft(self.state));
        }
        let mut amended = new.validate(self.id, self.tenant, self.requested_by, self.created_at)?;
        amended.history = std::mem::take(&mut self.history);
        *self = amended;
        Ok(())
    }

    /// Whether `action` is allowed in the change's state.
    pub fn allows(&self, action: Action) -> bool {
        next_state(&self.kind, self.state, action).is_some()
    }

    /// When the current approval round began: the latest submission. Votes
    /// from before it (on an earlier, rejected version) do not count.
    pub fn submitted_at(&self) -> Option<Timestamp> {
        self.history
            .iter()
            .rev()
            .find(|t| t.action == Action::Submit)
            .map(|t| t.at)
    }

    /// The transition that expedited this emergency change, if it was.
    pub fn expedited(&self) -> Option<&Transition> {
        self.history.iter().find(|t| t.action == Action::Expedite)
    }

    /// Whether a post-implementation review is owed: an expedited emergency
    /// change stays open for review until someone has reviewed it, even when
    /// it was cancelled (the CAB never saw it beforehand).
    pub fn needs_review(&self) -> bool {
        self.expedited().is_some() && self.review.is_none()
    }

    /// When the owed review falls due: `within` after the change was
    /// expedited; `None` when no review is owed.
    pub fn review_due(&self, within: SignedDuration) -> Option<Timestamp> {
        if !self.needs_review() {
            return None;
        }
        self.expedited()
            .map(|t| t.at.checked_add(within).unwrap_or(Timestamp::MAX))
    }

    fn target(&self, action: Action) -> Result<ChangeState, TransitionError> {
        next_state(&self.kind, self.state, action).ok_or(TransitionError::NotAllowed {
            state: self.state,
            action,
            kind: self.kind.name(),
        })
    }

    fn refused(&self, action: Action, reason: impl Into<Refusal>) -> TransitionError {
        TransitionError::Refused {
            state: self.state,
            action,
            reason: reason.into(),
        }
    }

    fn check_comment(
        &self,
        action: Action,
        comment: &str,
        required: bool,
    ) -> Result<(), TransitionError> {
        if required && comment.trim().is_empty() {
            return Err(self.refused(action, Refusal::CommentRequired));
        }
        match text_problem(comment, COMMENT_MAX, false) {
            Some(problem) => Err(self.refused(action, Refusal::Comment(problem))),
            None => Ok(()),
        }
    }

    /// Checks the action and its comment, then records the transition.
    fn apply(
        &mut self,
        at: Timestamp,
        by: UserId,
        action: Action,
        comment: &str,
        comment_required: bool,
    ) -> Result<(), TransitionError> {
        let to = self.target(action)?;
        self.check_comment(action, comment, comment_required)?;
        self.record(at, by, action, to, comment);
        Ok(())
    }

    fn record(
        &mut self,
        at: Timestamp,
        by: UserId,
        action: Action,
        to: ChangeState,
        comment: &str,
    ) {
        self.history.push(Transition {
            at,
            by,
            action,
            from: self.state,
            to,
            comment: comment.trim().to_owned(),
        });
        self.state = to;
    }

    /// Draft → submitted, for approval. A standard change goes straight to
    /// approved when it fits `template` (its own template, which the caller
    /// looks up); the history records the pre-approval. An emergency change
    /// is expedited instead. `template` is ignored for a normal change.
    pub fn submit(
        &mut self,
        at: Timestamp,
        by: UserId,
        template: Option<&ChangeTemplate>,
        comment: &str,
    ) -> Result<(), TransitionError> {
        let action = Action::Submit;
        let to = self.target(action)?;
        self.check_comment(action, comment, false)?;
        if let ChangeKind::Standard { .. } = self.kind {
            let template =
                template.ok_or_else(|| self.refused(action, TemplateMismatch::Missing))?;
            template
                .fits(self)
                .map_err(|mismatch| self.refused(action, mismatch))?;
            let why = format!(
                "pre-approved by standard change template {} ({})",
                template.id, template.name
            );
            let comment = match comment.trim() {
                "" => why,
                given => format!("{why}: {given}"),
            };
            self.record(at, by, action, to, &comment);
        } else {
            self.record(at, by, action, to, comment);
        }
        Ok(())
    }

    /// Draft → approved at once, for an emergency change only: no CAB, no
    /// customer coordination (CHG-1), and a review owed afterwards. The
    /// comment must justify the emergency.
    pub fn expedite(
        &mut self,
        at: Timestamp,
        by: UserId,
        comment: &str,
    ) -> Result<(), TransitionError> {
        self.apply(at, by, Action::Expedite, comment, true)
    }

    /// Submitted → approved, once the approvals are complete (see
    /// [`crate::approval::settle`], which calls this).
    pub fn approve(
        &mut self,
        at: Timestamp,
        by: UserId,
        comment: &str,
    ) -> Result<(), TransitionError> {
        self.apply(at, by, Action::Approve, comment, false)
    }

    /// Submitted → rejected; the comment saying why is required.
    pub fn reject(
        &mut self,
        at: Timestamp,
        by: UserId,
        comment: &str,
    ) -> Result<(), TransitionError> {
        self.apply(at, by, Action::Reject, comment, true)
    }

    /// Rejected → draft, to be amended and submitted again. Votes of the
    /// earlier round no longer count after the next submission.
    pub fn revise(
        &mut self,
        at: Timestamp,
        by: UserId,
        comment: &str,
    ) -> Result<(), TransitionError> {
        self.apply(at, by, Action::Revise, comment, false)
    }

    /// Approved → scheduled for `planned_start`, or a scheduled change
    /// re-planned. The start must lie within the change's schedule and not
    /// before `at`.
    pub fn schedule(
        &mut self,
        at: Timestamp,
        by: UserId,
        planned_start: Timestamp,
        comment: &str,
    ) -> Result<(), TransitionError> {
        let action = Action::Schedule;
        let to = self.target(action)?;
        self.check_comment(action, comment, false)?;
        let problem = if planned_start < at {
            Some("is in the past".to_owned())
        } else if planned_start < self.schedule.earliest_start {
            Some(format!(
                "is before the earliest start {}",
                self.schedule.earliest_start
            ))
        } else {
            match self.schedule.deadline {
                Some(deadline) if planned_start > deadline => {
                    Some(format!("is after the deadline {deadline}"))
                }
                _ => None,
            }
        };
        if let Some(problem) = problem {
            return Err(self.refused(
                action,
                Refusal::PlannedStart {
                    planned: planned_start,
                    problem,
                },
            ));
        }
        self.planned_start = Some(planned_start);
        self.record(at, by, action, to, comment);
        Ok(())
    }

    /// Scheduled → in progress, not before the planned start; an approved
    /// emergency change starts at once, not before its earliest start.
    pub fn start(&mut self, at: Timestamp, by: UserId) -> Result<(), TransitionError> {
        let action = Action::Start;
        let to = self.target(action)?;
        let not_before = self.planned_start.unwrap_or(self.schedule.earliest_start);
        if at < not_before {
            return Err(self.refused(action, Refusal::TooEarly(not_before)));
        }
        self.record(at, by, action, to, "");
        Ok(())
    }

    /// In progress → completed.
    pub fn complete(
        &mut self,
        at: Timestamp,
        by: UserId,
        comment: &str,
    ) -> Result<(), TransitionError> {
        self.apply(at, by, Action::Complete, comment, false)
    }

    /// In progress → failed; the comment says what failed.
    pub fn fail(
        &mut self,
        at: Timestamp,
        by: UserId,
        comment: &str,
    ) -> Result<(), TransitionError> {
        self.apply(at, by, Action::Fail, comment, true)
    }

    /// In progress or failed → rolled back; the comment says why. A
    /// completed change is not rolled back: undoing it is a new change.
    pub fn roll_back(
        &mut self,
        at: Timestamp,
        by: UserId,
        comment: &str,
    ) -> Result<(), TransitionError> {
        self.apply(at, by, Action::RollBack, comment, true)
    }

    /// Draft, submitted, approved or scheduled → cancelled. Work in
    /// progress is not cancelled: it fails or is rolled back.
    pub fn cancel(
        &mut self,
        at: Timestamp,
        by: UserId,
        comment: &str,
    ) -> Result<(), TransitionError> {
        self.apply(at, by, Action::Cancel, comment, false)
    }

    /// Completed, failed, rolled back or cancelled → reviewed, recording
    /// the post-implementation review. For an emergency change the notes
    /// are required and the reviewer must not be who expedited it.
    pub fn review(
        &mut self,
        at: Timestamp,
        by: UserId,
        notes: &str,
    ) -> Result<(), TransitionError> {
        let action = Action::Review;
        let to = self.target(action)?;
        let emergency = self.kind == ChangeKind::Emergency;
        self.check_comment(action, notes, emergency)?;
        if emergency && self.expedited().is_some_and(|t| t.by == by) {
            return Err(self.refused(action, Refusal::OwnReview));
        }
        self.review = Some(Review {
            by,
            at,
            notes: notes.trim().to_owned(),
        });
        self.record(at, by, action, to, notes);
        Ok(())
    }

    /// The change's package patches in installation order (CHG-5): explicit
    /// steps as given, or each package after the packages of this change it
    /// depends on. `depends_on` maps a package name to the names it depends
    /// on, as far as the caller knows them; dependencies outside the change
    /// are ignored. Ties keep the order of the patches. Advisories are not
    /// listed: they are resolved to packages before installation.
    pub fn install_order(
        &self,
        depends_on: &BTreeMap<String, BTreeSet<String>>,
    ) -> Result<Vec<&Patch>, OrderError> {
        let names = match &self.order {
            Order::Steps(steps) => {
                if let Some((field, message)) = step_problems(&self.patches, steps).pop() {
                    return Err(OrderError::Steps(FieldError::new(field, message)));
                }
                steps.iter().map(String::as_str).collect()
            }
            Order::DependenciesFirst => dependencies_first(&self.patches, depends_on)?,
        };
        // Patches of one name (several architectures) install together.
        Ok(names
            .into_iter()
            .flat_map(|name| {
                self.patches
                    .iter()
                    .filter(move |p| p.package_name() == Some(name))
            })
            .collect())
    }
}

/// The package names of `patches`, each after its dependencies among them.
fn dependencies_first<'a>(
    patches: &'a [Patch],
    depends_on: &BTreeMap<String, BTreeSet<String>>,
) -> Result<Vec<&'a str>, OrderError> {
    let mut names: Vec<&str> = Vec::new();
    for name in patches.iter().filter_map(Patch::package_name) {
        if !names.contains(&name) {
            names.push(name);
        }
    }
    let deps = |name: &str| -> Vec<&str> {
        depends_on
            .get(name)
            .into_iter()
            .flatten()
            .map(String::as_str)
            .filter(|d| *d != name && names.contains(d))
            .collect()
    };
    // Repeatedly take the first package (in the change's order) whose
    // dependencies are all placed: quadratic, and changes are small.
    let mut placed: Vec<&str> = Vec::with_capacity(names.len());
    let mut waiting = names.clone();
    while !waiting.is_empty() {
        let ready = waiting
            .iter()
            .position(|n| deps(n).iter().all(|d| placed.contains(d)));
        match ready {
            Some(i) => placed.push(waiting.remove(i)),
            None => return Err(OrderError::Cycle(find_cycle(&waiting, &deps))),
        }
    }
    Ok(placed)
}

/// A cycle among `waiting`, each of which has an unplaced dependency:
/// walk from the first until a package repeats.
fn find_cycle<'a>(waiting: &[&'a str], deps: &dyn Fn(&str) -> Vec<&'a str>) -> Vec<String> {
    let mut path: Vec<&str> = Vec::new();
    let mut at = waiting[0];
    loop {
        if let Some(start) = path.iter().position(|p| *p == at) {
            // Name it from the member listed first in the change, so that
            // the message does not depend on where the walk began.
            let mut cycle = path[start..].to_vec();
            let first = (0..cycle.len())
                .min_by_key(|&i| waiting.iter().position(|w| *w == cycle[i]))
                .unwrap_or(0);
            cycle.rotate_left(first);
            cycle.push(cycle[0]);
            return cycle.into_iter().map(str::to_owned).collect();
        }
        path.push(at);
        // Every waiting package waits on another waiting package, so the
        // walk never leaves `waiting` and must come back to itself.
        match deps(at).into_iter().find(|d| waiting.contains(d)) {
            Some(next) => at = next,
            None => return path.iter().map(|s| s.to_string()).collect(),
        }
    }
}

/// The installation order cannot be decided.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OrderError {
    /// The packages depend on each other in a cycle; the first name is
    /// repeated at the end.
    #[error("the packages depend on each other in a cycle: {}", .0.join(" → "))]
    Cycle(Vec<String>),
    /// The explicit steps do not name the change's packages once each.
    #[error("the installation steps are wrong: {0}")]
    Steps(FieldError),
}

/// A template for standard changes: what a pre-approved change may contain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangeTemplate {
    /// A short id the changes refer to (`monthly-security`).
    pub id: String,
    /// A name for people.
    pub name: String,
    /// The update classes its changes may install.
    pub allowed_classes: BTreeSet<UpdateClass>,
    /// The highest risk its changes may have.
    pub max_risk: Risk,
}

impl ChangeTemplate {
    /// Checks the template: an id without whitespace, a name, at least one
    /// class, and neither major versions nor middleware upgrades, which are
    /// never pre-approved (RLO-3).
    pub fn validate(&self) -> Result<(), InvalidChange> {
        let mut check = Check::default();
        check.token("id", &self.id);
        check.name("name", &self.name, NAME_MAX);
        if self.allowed_classes.is_empty() {
            check.fail("allowed_classes", "at least one class is required");
        }
        for class in [UpdateClass::Major, UpdateClass::Middleware] {
            if self.allowed_classes.contains(&class) {
                check.fail(
                    "allowed_classes",
                    format!("{class} updates are never pre-approved"),
                );
            }
        }
        match check.errors.is_empty() {
            true => Ok(()),
            false => Err(InvalidChange {
                errors: check.errors,
            }),
        }
    }

    /// Whether a standard change fits this template: it names this
    /// template, every patch's class is known and allowed, and its risk is
    /// at most the template's.
    pub fn fits(&self, change: &Change) -> Result<(), TemplateMismatch> {
        let ChangeKind::Standard { template } = &change.kind else {
            return Err(TemplateMismatch::NotStandard);
        };
        if *template != self.id {
            return Err(TemplateMismatch::OtherTemplate {
                template: self.id.clone(),
                named: template.clone(),
            });
        }
        for (patch, p) in change.patches.iter().enumerate() {
            match p.class() {
                None => return Err(TemplateMismatch::ClassUnknown { patch }),
                Some(class) if !self.allowed_classes.contains(&class) => {
                    return Err(TemplateMismatch::ClassNotAllowed { patch, class });
                }
                Some(_) => {}
            }
        }
        if change.risk > self.max_risk {
            return Err(TemplateMismatch::RiskTooHigh {
                risk: change.risk,
                max: self.max_risk,
            });
        }
        Ok(())
    }
}

/// Why a standard change does not fit its template.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateMismatch {
    /// No template was given for a standard change.
    #[error("a standard change needs its template")]
    Missing,
    /// The change is not a standard change.
    #[error("only a standard change fits a template")]
    NotStandard,
    /// The change names another template.
    #[error("the change names template {named:?}, not {template:?}")]
    OtherTemplate {
        /// The template checked against.
        template: String,
        /// The template the change names.
        named: String,
    },
    /// A patch's class is not known, so it cannot be pre-approved.
    #[error("patches[{patch}] has no known update class")]
    ClassUnknown {
        /// The patch's index.
        patch: usize,
    },
    /// A patch's class is not one the template allows.
    #[error("patches[{patch}] is a {class} update, which the template does not allow")]
    ClassNotAllowed {
        /// The patch's index.
        patch: usize,
        /// Its class.
        class: UpdateClass,
    },
    /// The change is riskier than the template allows.
    #[error("risk {risk:?} is above the template's maximum {max:?}")]
    RiskTooHigh {
        /// The change's risk.
        risk: Risk,
        /// The template's maximum.
        max: Risk,
    },
}
