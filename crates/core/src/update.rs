//! Update classes (ASM-3, RLO-3): what kind of change a newer package version
//! is. The assessment classes what a host's repositories offer; the change
//! engine's policies say per class whether it installs automatically, needs
//! an approval, only on the customer's order, or never.

use serde::{Deserialize, Serialize};

/// The class of an update, from least to most disruptive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum UpdateClass {
    /// Fixes a security advisory.
    Security,
    /// Fixes bugs within the same upstream version line.
    Bugfix,
    /// New features within the same major version.
    Enhancement,
    /// A new version of middleware the customer's applications run on
    /// (PHP 8.2 → 8.3, PostgreSQL 15 → 16): only on the customer's order.
    Middleware,
    /// A new major version: never installed automatically.
    Major,
}

impl UpdateClass {
    /// Every class, least disruptive first.
    pub const ALL: [UpdateClass; 5] = [
        UpdateClass::Security,
        UpdateClass::Bugfix,
        UpdateClass::Enhancement,
        UpdateClass::Middleware,
        UpdateClass::Major,
    ];

    /// The name used in the API, the CLI and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            UpdateClass::Security => "security",
            UpdateClass::Bugfix => "bugfix",
            UpdateClass::Enhancement => "enhancement",
            UpdateClass::Middleware => "middleware",
            UpdateClass::Major => "major",
        }
    }

    /// The class of its name, or `None`.
    pub fn parse(name: &str) -> Option<UpdateClass> {
        UpdateClass::ALL
            .into_iter()
            .find(|class| class.as_str() == name)
    }
}

impl std::fmt::Display for UpdateClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_are_refused() {
        for class in UpdateClass::ALL {
            assert_eq!(UpdateClass::parse(class.as_str()), Some(class));
            let json = serde_json::to_string(&class).unwrap();
            assert_eq!(json, format!("\"{class}\""));
        }
        assert_eq!(UpdateClass::parse("Security"), None);
        assert_eq!(UpdateClass::parse("feature"), None);
    }
}
