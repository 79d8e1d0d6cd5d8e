//! Approval rules (CHG-3, RLO-5): which approvals a submitted change needs
//! under its tenant's [`ApprovalPolicy`], and whether the votes cast so far
//! give them. A quorum of distinct CAB members; the customer's approver when
//! the customer's systems go down or the work is planned outside a
//! maintenance window; nobody for an emergency (expedited) or a standard
//! (pre-approved) change.
//!
//! The rules on votes: only CAB members and the customer approvers of the
//! change's own tenant vote; the requester never votes on their own change
//! (four eyes); a user's latest vote replaces their earlier ones; a
//! rejection needs a comment, and a standing rejection by any voter rejects
//! the change, whether or not that voter's approval was required.

use std::collections::BTreeMap;

use jiff::Timestamp;
use rivet_core::access::Role;
use rivet_core::id::{TenantId, UserId};
use rivet_core::tenant::TenantKind;
use serde::{Deserialize, Serialize};

use crate::change::{COMMENT_MAX, Change, ChangeKind, ChangeState, FieldError, TransitionError};

/// When the customer's approver must approve a change.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CustomerApproval {
    /// Every change of the customer's hosts.
    Always,
    /// When the customer's systems go down (expected downtime above zero)
    /// or the work is planned outside a maintenance window (RLO-5).
    #[default]
    WhenAffected,
    /// Never (the contract leaves changes to the provider).
    Never,
}

/// A tenant's approval policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalPolicy {
    /// How many distinct CAB members must approve; 0 for none.
    pub cab_quorum: u32,
    /// When the customer's approver must approve.
    pub customer: CustomerApproval,
}

/// The largest CAB quorum a policy may ask for.
pub const QUORUM_MAX: u32 = 25;

impl Default for ApprovalPolicy {
    /// One CAB member, and the customer when affected.
    fn default() -> Self {
        ApprovalPolicy {
            cab_quorum: 1,
            customer: CustomerApproval::WhenAffected,
        }
    }
}

impl ApprovalPolicy {
    /// Checks the quorum is at most [`QUORUM_MAX`].
    pub fn validate(&self) -> Result<(), FieldError> {
        if self.cab_quorum > QUORUM_MAX {
            return Err(FieldError::new(
                "cab_quorum",
                format!("must be at most {QUORUM_MAX}, not {}", self.cab_quorum),
            ));
        }
        Ok(())
    }
}

/// What the caller knows about a change beyond the change itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApprovalContext {
    /// Whether the work is planned outside the targets' maintenance windows.
    pub outside_window: bool,
    /// Whether the change's tenant is the provider (its own hosts, no
    /// customer to ask) or a customer.
    pub tenant_kind: TenantKind,
}

/// One approval a change needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Requirement {
    /// Approvals of this many distinct CAB members.
    Cab {
        /// How many.
        quorum: u32,
    },
    /// The approval of one of the tenant's customer approvers, and why.
    Customer {
        /// The customer.
        tenant: TenantId,
        /// Because the customer's systems go down.
        downtime: bool,
        /// Because the work is planned outside a maintenance window.
        outside_window: bool,
    },
}

/// The approvals a change needs, and who may not give them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Requirements {
    /// The change's tenant: only its customer approvers vote.
    pub tenant: TenantId,
    /// The change's requester, whose votes never count.
    pub requested_by: UserId,
    /// The start of the approval round: earlier votes do not count.
    pub since: Option<Timestamp>,
    /// What is needed; empty when nothing is.
    pub needs: Vec<Requirement>,
}

/// The approvals `change` needs under `policy`. Emergency and standard
/// changes need none: the one bypasses the CAB and the customer, the other
/// is pre-approved by its template.
pub fn requirements(
    change: &Change,
    policy: &ApprovalPolicy,
    context: &ApprovalContext,
) -> Requirements {
    let mut needs = Vec::new();
    if change.kind() == &ChangeKind::Normal {
        if policy.cab_quorum > 0 {
            needs.push(Requirement::Cab {
                quorum: policy.cab_quorum,
            });
        }
        let downtime = change.expected_downtime().is_positive();
        let outside_window = context.outside_window;
        let customer = match policy.customer {
            CustomerApproval::Always => true,
            CustomerApproval::WhenAffected => downtime || outside_window,
            CustomerApproval::Never => false,
        };
        if customer && context.tenant_kind == TenantKind::Customer {
            needs.push(Requirement::Customer {
                tenant: change.tenant(),
                downtime,
                outside_window,
            });
        }
    }
    Requirements {
        tenant: change.tenant(),
        requested_by: change.requested_by(),
        since: change.submitted_at(),
        needs,
    }
}

/// A vote's decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// For.
    Approve,
    /// Against; needs a comment.
    Reject,
}

/// One vote on a change, as recorded for the audit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    /// Who voted.
    pub by: UserId,
    /// Their role when they voted.
    pub role: Role,
    /// Their tenant.
    pub tenant: TenantId,
    /// For or against.
    pub decision: Verdict,
    /// Why; required for a rejection.
    pub comment: String,
    /// When.
    pub at: Timestamp,
}

/// An approval still missing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Missing {
    /// More CAB members must approve.
    Cab {
        /// Distinct CAB members who approved so far.
        approvals: u32,
        /// How many are needed.
        quorum: u32,
    },
    /// A customer approver of this tenant must approve.
    Customer {
        /// The customer.
        tenant: TenantId,
    },
}

/// Where a change's approval stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum ApprovalStatus {
    /// Waiting for these approvals.
    Pending {
        /// What is missing.
        missing: Vec<Missing>,
    },
    /// Every requirement is met.
    Approved,
    /// A voter rejected it.
    Rejected {
        /// The first voter whose rejection stands.
        by: UserId,
        /// Their comment.
        comment: String,
    },
}

/// Whether a vote counts towards `requirements` at all. [`check_vote`]
/// refuses such votes up front; [`status`] ignores them again, so that a
/// stored vote that slipped through cannot approve anything.
fn counts(requirements: &Requirements, vote: &Approval) -> bool {
    let eligible = match vote.role {
        Role::CabMember => true,
        Role::CustomerApprover => vote.tenant == requirements.tenant,
        _ => false,
    };
    eligible
        && vote.by != requirements.requested_by
        && requirements.since.is_none_or(|since| vote.at >= since)
        && !(vote.decision == Verdict::Reject && vote.comment.trim().is_empty())
}

/// Where the approval stands, given every vote cast on the change (in any
/// order). Only each user's latest vote counts, only votes of this round,
/// and never the requester's.
pub fn status(requirements: &Requirements, approvals: &[Approval]) -> ApprovalStatus {
    let mut latest: BTreeMap<UserId, &Approval> = BTreeMap::new();
    for vote in approvals.iter().filter(|v| counts(requirements, v)) {
        // On equal times the later entry wins: it was recorded later.
        if latest.get(&vote.by).is_none_or(|prev| vote.at >= prev.at) {
            latest.insert(vote.by, vote);
        }
    }
    let rejection = latest
        .values()
        .filter(|v| v.decision == Verdict::Reject)
        .min_by_key(|v| v.at);
    if let Some(vote) = rejection {
        return ApprovalStatus::Rejected {
            by: vote.by,
            comment: vote.comment.clone(),
        };
    }
    let approving = |role: Role| {
        latest
            .values()
            .filter(move |v| v.role == role && v.decision == Verdict::Approve)
    };
    let mut missing = Vec::new();
    for need in &requirements.needs {
        match *need {
            Requirement::Cab { quorum } => {
                let approvals =
                    u32::try_from(approving(Role::CabMember).count()).unwrap_or(u32::MAX);
                if approvals < quorum {
                    missing.push(Missing::Cab { approvals, quorum });
                }
            }
            Requirement::Customer { tenant, .. } => {
                if !approving(Role::CustomerApprover).any(|v| v.tenant == tenant) {
                    missing.push(Missing::Customer { tenant });
                }
            }
        }
    }
    if missing.is_empty() {
        ApprovalStatus::Approved
    } else {
        ApprovalStatus::Pending { missing }
    }
}

/// A vote that is not allowed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VoteError {
    /// Only CAB members and customer approvers vote.
    #[error("a {0} does not vote on changes (only CAB members and customer approvers do)")]
    WrongRole(Role),
    /// Four eyes: the requester does not approve their own change.
    #[error("the requester of a change cannot vote on it")]
    OwnChange,
    /// A customer approver votes only on their own tenant's changes.
    #[error("a customer approver votes only on their own tenant's changes")]
    WrongTenant,
    /// The change is not waiting for approval (emergency and standard
    /// changes never are).
    #[error("the change is not awaiting approval; it is {0}")]
    NotAwaitingApproval(ChangeState),
    /// A rejection must say why.
    #[error("a rejection needs a comment saying why")]
    CommentRequired,
    /// The comment is too long or holds control characters.
    #[error("comment must be at most {COMMENT_MAX} characters, without control characters")]
    BadComment,
    /// Moving the change failed.
    #[error(transparent)]
    Transition(#[from] TransitionError),
}

/// Whether `vote` may be cast on `change`.
pub fn check_vote(change: &Change, vote: &Approval) -> Result<(), VoteError> {
    if change.state() != ChangeState::Submitted {
        return Err(VoteError::NotAwaitingApproval(change.state()));
    }
    match vote.role {
        Role::CabMember => {}
        Role::CustomerApprover if vote.tenant != change.tenant() => {
            return Err(VoteError::WrongTenant);
        }
        Role::CustomerApprover => {}
        other => return Err(VoteError::WrongRole(other)),
    }
    if vote.by == change.requested_by() {
        return Err(VoteError::OwnChange);
    }
    if vote.decision == Verdict::Reject && vote.comment.trim().is_empty() {
        return Err(VoteError::CommentRequired);
    }
    if vote.comment.chars().count() > COMMENT_MAX
        || vote
            .comment
            .chars()
            .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(VoteError::BadComment);
    }
    Ok(())
}

/// Moves a submitted change once its votes settle the matter: to approved
/// by `by` (the voter who completed the approvals, or whoever submitted a
/// change that needs none), or to rejected by the voter who rejected it.
/// Does nothing to a change that is not submitted. Returns the status.
pub fn settle(
    change: &mut Change,
    requirements: &Requirements,
    approvals: &[Approval],
    at: Timestamp,
    by: UserId,
) -> Result<ApprovalStatus, TransitionError> {
    let status = status(requirements, approvals);
    if change.state() == ChangeState::Submitted {
        match &status {
            ApprovalStatus::Approved if requirements.needs.is_empty() => {
                change.approve(at, by, "no approval required by the approval policy")?;
            }
            ApprovalStatus::Approved => change.approve(at, by, "approvals complete")?,
            ApprovalStatus::Rejected { by, comment } => change.reject(at, *by, comment)?,
            ApprovalStatus::Pending { .. } => {}
        }
    }
    Ok(status)
}

/// Casts `vote` on `change`: checks it, records it in `approvals`, and
/// settles the change ([`settle`]) at the vote's time.
pub fn cast(
    change: &mut Change,
    policy: &ApprovalPolicy,
    context: &ApprovalContext,
    approvals: &mut Vec<Approval>,
    vote: Approval,
) -> Result<ApprovalStatus, VoteError> {
    check_vote(change, &vote)?;
    let (at, by) = (vote.at, vote.by);
    approvals.push(vote);
    let requirements = requirements(change, policy, context);
    Ok(settle(change, &requirements, approvals, at, by)?)
}
