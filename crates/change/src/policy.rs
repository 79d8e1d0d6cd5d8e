//! Update-class policies (RLO-3): per update class, whether its patches
//! install automatically (within maintenance windows), need an approval,
//! only on the customer's order, or never. A change is decided by its most
//! restrictive patch, and the decision names the patches that made it.
//!
//! Two rules hold whatever a policy says, because the contracts say so: a
//! major version is never installed automatically, and a middleware upgrade
//! goes ahead only on the customer's order (and then still needs approval).

use std::fmt;

use rivet_core::update::UpdateClass;
use serde::{Deserialize, Serialize};

use crate::change::{Change, FieldError};

/// How an update class is handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Handling {
    /// Installed without asking, within the maintenance windows.
    Automatic,
    /// Installed once a change is approved.
    Approval,
    /// Installed only on the customer's order, and then once approved.
    OnOrder,
    /// Never installed through Rivet.
    Never,
}

/// A tenant's update-class policy: a handling for every class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdatePolicy {
    /// Security fixes.
    pub security: Handling,
    /// Bug fixes.
    pub bugfix: Handling,
    /// Enhancements within the same major version.
    pub enhancement: Handling,
    /// Middleware version upgrades.
    pub middleware: Handling,
    /// Major versions.
    pub major: Handling,
}

impl Default for UpdatePolicy {
    /// Security automatic, bug fixes and enhancements on approval,
    /// middleware on order, major versions never [S001, S002].
    fn default() -> Self {
        UpdatePolicy {
            security: Handling::Automatic,
            bugfix: Handling::Approval,
            enhancement: Handling::Approval,
            middleware: Handling::OnOrder,
            major: Handling::Never,
        }
    }
}

impl UpdatePolicy {
    /// The handling of `class`.
    pub fn handling(&self, class: UpdateClass) -> Handling {
        match class {
            UpdateClass::Security => self.security,
            UpdateClass::Bugfix => self.bugfix,
            UpdateClass::Enhancement => self.enhancement,
            UpdateClass::Middleware => self.middleware,
            UpdateClass::Major => self.major,
        }
    }

    /// Refuses a policy that would install a major version or a middleware
    /// upgrade automatically.
    pub fn validate(&self) -> Result<(), FieldError> {
        if self.major == Handling::Automatic {
            return Err(FieldError::new(
                "major",
                "a major version is never installed automatically",
            ));
        }
        if self.middleware == Handling::Automatic {
            return Err(FieldError::new(
                "middleware",
                "a middleware upgrade is installed only on the customer's order",
            ));
        }
        Ok(())
    }
}

/// What may happen with an update, from least to most restrictive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// It may go ahead without approval, within the maintenance windows.
    Automatic,
    /// It needs an approved change.
    NeedsApproval,
    /// It needs the customer's order, then an approved change.
    NeedsOrder,
    /// It is not installed.
    Refused,
}

impl Decision {
    /// The name used in the API (`needs_order`).
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Automatic => "automatic",
            Decision::NeedsApproval => "needs_approval",
            Decision::NeedsOrder => "needs_order",
            Decision::Refused => "refused",
        }
    }
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What may happen with an update of `class` under `policy`, given whether
/// the customer ordered it. Even under a policy that skipped validation, a
/// major version is never automatic and a middleware upgrade needs the
/// customer's order.
pub fn decide(policy: &UpdatePolicy, class: UpdateClass, ordered_by_customer: bool) -> Decision {
    let handling = match (class, policy.handling(class)) {
        (UpdateClass::Major, Handling::Automatic) => Handling::Approval,
        (UpdateClass::Middleware, Handling::Automatic) => Handling::OnOrder,
        (_, handling) => handling,
    };
    match handling {
        Handling::Automatic => Decision::Automatic,
        Handling::Approval => Decision::NeedsApproval,
        Handling::OnOrder if ordered_by_customer => Decision::NeedsApproval,
        Handling::OnOrder => Decision::NeedsOrder,
        Handling::Never => Decision::Refused,
    }
}

/// The decision on one patch of a change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PatchDecision {
    /// The patch's index in the change.
    pub patch: usize,
    /// The patch as people read it (`openssl 3.0.13-1`, `RHSA-2024:1234`).
    pub label: String,
    /// Its update class; none when unknown.
    pub class: Option<UpdateClass>,
    /// The decision.
    pub decision: Decision,
}

impl fmt::Display for PatchDecision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let class = self.class.map_or("unknown", UpdateClass::as_str);
        write!(
            f,
            "patches[{}] ({}, class {class}): {}",
            self.patch, self.label, self.decision
        )
    }
}

/// The decision on a whole change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeDecision {
    /// The most restrictive decision over the change's patches.
    pub decision: Decision,
    /// The patches that made it: those whose decision is that one.
    pub reasons: Vec<PatchDecision>,
}

/// What may happen with `change` under `policy`: the most restrictive
/// decision over its patches, the customer's order taken from the change
/// (CHG-6). A patch whose class is unknown needs approval: nobody can say
/// it is only a security fix.
pub fn decide_change(policy: &UpdatePolicy, change: &Change) -> ChangeDecision {
    let ordered = change.requested_by_customer();
    let each: Vec<PatchDecision> = change
        .patches()
        .iter()
        .enumerate()
        .map(|(patch, p)| PatchDecision {
            patch,
            label: p.to_string(),
            class: p.class(),
            decision: p.class().map_or(Decision::NeedsApproval, |class| {
                decide(policy, class, ordered)
            }),
        })
        .collect();
    // A validated change has at least one patch; an empty one asks for
    // approval rather than passing automatically.
    let decision = each
        .iter()
        .map(|d| d.decision)
        .max()
        .unwrap_or(Decision::NeedsApproval);
    ChangeDecision {
        decision,
        reasons: each
            .into_iter()
            .filter(|d| d.decision == decision)
            .collect(),
    }
}
