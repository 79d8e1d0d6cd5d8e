//! Jobs (RLO-4, AGT-5 to AGT-8, REP-3): what the server hands an agent to
//! carry out for an approved change, and what the agent reports back. The
//! server keeps every job and its report: together they are the patch
//! register.

use serde::{Deserialize, Serialize};

use crate::Timestamp;

/// The most packages one job installs.
pub const MAX_JOB_PACKAGES: usize = 1000;
/// The longest message a report carries, in bytes.
pub const MAX_REPORT_MESSAGE: usize = 8192;

/// One package a job installs, at exactly this version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct JobPackage {
    /// The package's name.
    pub name: String,
    /// The exact version to install.
    pub version: String,
    /// Its architecture, when the change names one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub architecture: Option<String>,
}

/// When a host may reboot after a job (AGT-8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum RebootPolicy {
    /// A server: reboots by itself inside its window when the job needs it.
    InWindow,
    /// A client: its user is told and reboots, reminded until a deadline.
    NotifyUser,
    /// Never rebooted by Rivet.
    Never,
}

/// A job as an agent receives it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Job {
    /// The job's id.
    pub id: String,
    /// The change it carries out.
    pub change_id: String,
    /// The packages, in installation order.
    pub packages: Vec<JobPackage>,
    /// Not before this time…
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub not_before: Timestamp,
    /// …and not after this one (the window's end); none for an emergency.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub not_after: Option<Timestamp>,
    /// Whether the host may reboot.
    pub reboot: RebootPolicy,
}

/// How a job ended on the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum JobOutcome {
    /// Installed and verified.
    Succeeded,
    /// Failed, and the host is as before (nothing was changed, or the
    /// rollback restored it).
    Failed,
    /// Installed, then rolled back after a failed verification.
    RolledBack,
    /// Refused by a pre-check (dry run, disk space, lock); nothing changed.
    Refused,
    /// Failed, and restoring the previous versions failed too: the host
    /// needs a person.
    RollbackFailed,
}

/// One package's versions before and after a job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PackageChange {
    /// The package.
    pub name: String,
    /// The version before (none: newly installed).
    pub from: Option<String>,
    /// The version after (none: removed).
    pub to: Option<String>,
}

/// `POST /api/v1/agent/jobs/{id}/report`: how a job ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct JobReport {
    /// How it ended.
    pub outcome: JobOutcome,
    /// When the agent began it (the agent's clock).
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub started_at: Timestamp,
    /// When it ended.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub finished_at: Timestamp,
    /// The packages it changed (and, rolled back, changed back).
    #[serde(default)]
    pub packages: Vec<PackageChange>,
    /// Whether the host rebooted for it.
    #[serde(default)]
    pub rebooted: bool,
    /// What happened, for people: the error, the failed check.
    #[serde(default)]
    pub message: String,
}

/// Why a report is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReportError {
    /// It ends before it begins.
    #[error("finished_at is before started_at")]
    EndsBeforeStart,
    /// Too many packages.
    #[error("packages: {0} entries, at most {MAX_JOB_PACKAGES}")]
    TooManyPackages(usize),
    /// The message is too long.
    #[error("message: {0} bytes, at most {MAX_REPORT_MESSAGE}")]
    MessageTooLong(usize),
    /// A package without a name.
    #[error("packages[{0}].name: must not be empty")]
    NamelessPackage(usize),
}

impl JobReport {
    /// Checks what an agent sent.
    pub fn validate(&self) -> Result<(), ReportError> {
        if self.finished_at < self.started_at {
            return Err(ReportError::EndsBeforeStart);
        }
        if self.packages.len() > MAX_JOB_PACKAGES {
            return Err(ReportError::TooManyPackages(self.packages.len()));
        }
        if self.message.len() > MAX_REPORT_MESSAGE {
            return Err(ReportError::MessageTooLong(self.message.len()));
        }
        if let Some(i) = self.packages.iter().position(|p| p.name.trim().is_empty()) {
            return Err(ReportError::NamelessPackage(i));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> JobReport {
        JobReport {
            outcome: JobOutcome::Succeeded,
            started_at: Timestamp::from_second(100).unwrap(),
            finished_at: Timestamp::from_second(160).unwrap(),
            packages: vec![PackageChange {
                name: "openssl".into(),
                from: Some("3.0.14-1~deb12u1".into()),
                to: Some("3.0.15-1~deb12u1".into()),
            }],
            rebooted: false,
            message: String::new(),
        }
    }

    #[test]
    fn reports_are_checked_field_by_field() {
        assert_eq!(report().validate(), Ok(()));
        let mut r = report();
        r.finished_at = Timestamp::from_second(99).unwrap();
        assert_eq!(r.validate(), Err(ReportError::EndsBeforeStart));
        let mut r = report();
        r.message = "x".repeat(MAX_REPORT_MESSAGE + 1);
        assert_eq!(
            r.validate(),
            Err(ReportError::MessageTooLong(MAX_REPORT_MESSAGE + 1))
        );
        let mut r = report();
        r.packages.push(PackageChange {
            name: " ".into(),
            from: None,
            to: None,
        });
        assert_eq!(r.validate(), Err(ReportError::NamelessPackage(1)));
        let json = r#"{"outcome":"succeeded","started_at":"2026-11-24T00:00:00Z","finished_at":"2026-11-24T00:01:00Z","surprise":1}"#;
        assert!(serde_json::from_str::<JobReport>(json).is_err());
    }
}
