//! Roles, permissions and the principal behind a request (SEC-1, SEC-2).
//!
//! A request acts with the permissions of its user's role, narrowed by the
//! scopes of the token it presented, and sees only the tenants the principal
//! may see. Domain code asks the principal; it never looks at HTTP.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::id::{TenantId, TokenId, UserId};
use crate::tenant::TenantKind;

/// A user's role. Provider roles and customer roles are disjoint: a customer's
/// user can never hold a provider role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// Provider: runs Rivet; manages tenants, users and everything else.
    Admin,
    /// Provider: prepares and schedules changes.
    ChangeManager,
    /// Provider: the IT security officer; advisories, exceptions, audit.
    SecurityOfficer,
    /// Provider: operates hosts and rollouts.
    Operator,
    /// Provider: a member of the change advisory board.
    CabMember,
    /// Customer: approves downtime and changes for the customer's hosts.
    CustomerApprover,
    /// Customer: reads the customer's own data.
    CustomerViewer,
}

impl Role {
    /// Every role, provider roles first.
    pub const ALL: [Role; 7] = [
        Role::Admin,
        Role::ChangeManager,
        Role::SecurityOfficer,
        Role::Operator,
        Role::CabMember,
        Role::CustomerApprover,
        Role::CustomerViewer,
    ];

    /// The name used in the API, the CLI and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::ChangeManager => "change-manager",
            Role::SecurityOfficer => "security-officer",
            Role::Operator => "operator",
            Role::CabMember => "cab-member",
            Role::CustomerApprover => "customer-approver",
            Role::CustomerViewer => "customer-viewer",
        }
    }

    /// The kind of tenant whose users may hold this role.
    pub fn tenant_kind(self) -> TenantKind {
        match self {
            Role::CustomerApprover | Role::CustomerViewer => TenantKind::Customer,
            _ => TenantKind::Provider,
        }
    }

    /// What the role may do, before a token's scopes narrow it.
    pub fn permissions(self) -> &'static [Permission] {
        use Permission::*;
        match self {
            Role::Admin => &Permission::ALL,
            Role::ChangeManager => &[
                TenantRead,
                UserRead,
                AuditRead,
                AdvisoryRead,
                HostRead,
                ChangeRead,
                ChangeWrite,
            ],
            Role::SecurityOfficer => &[
                TenantRead,
                UserRead,
                AuditRead,
                AuditVerify,
                AdvisoryRead,
                AdvisoryWrite,
                HostRead,
                ChangeRead,
            ],
            Role::Operator => &[
                TenantRead,
                UserRead,
                AdvisoryRead,
                HostRead,
                HostWrite,
                HostEnroll,
                ChangeRead,
                ChangeOperate,
            ],
            Role::CabMember => &[
                TenantRead,
                UserRead,
                AdvisoryRead,
                HostRead,
                ChangeRead,
                ChangeApprove,
            ],
            Role::CustomerApprover => &[
                TenantRead,
                UserRead,
                AuditRead,
                AdvisoryRead,
                HostRead,
                ChangeRead,
                ChangeApprove,
                ChangeOrder,
            ],
            Role::CustomerViewer => &[TenantRead, AdvisoryRead, HostRead, ChangeRead],
        }
    }

    /// Whether the role grants `permission`.
    pub fn grants(self, permission: Permission) -> bool {
        self.permissions().contains(&permission)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("unknown role {s:?} (expected one of: {})", list(&Role::ALL)))
    }
}

/// Something a principal may be allowed to do. Tokens carry a subset of
/// these as their scopes. Acting on one's own account (reading it, changing
/// one's password, managing one's own tokens) needs no permission.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Permission {
    /// Read tenants.
    #[serde(rename = "tenant:read")]
    TenantRead,
    /// Create, change and delete customer tenants.
    #[serde(rename = "tenant:write")]
    TenantWrite,
    /// Read users.
    #[serde(rename = "user:read")]
    UserRead,
    /// Create, change and delete users.
    #[serde(rename = "user:write")]
    UserWrite,
    /// Read and revoke other users' tokens.
    #[serde(rename = "token:manage")]
    TokenManage,
    /// Read the audit log.
    #[serde(rename = "audit:read")]
    AuditRead,
    /// Verify the whole audit chain.
    #[serde(rename = "audit:verify")]
    AuditVerify,
    /// Read advisories (public knowledge, shared by every tenant).
    #[serde(rename = "advisory:read")]
    AdvisoryRead,
    /// Import advisories, KEV and EPSS data.
    #[serde(rename = "advisory:write")]
    AdvisoryWrite,
    /// Read hosts, their software and history.
    #[serde(rename = "host:read")]
    HostRead,
    /// Change host attributes, import and delete hosts, ask for inventories.
    #[serde(rename = "host:write")]
    HostWrite,
    /// Create enrollment tokens and revoke agents.
    #[serde(rename = "host:enroll")]
    HostEnroll,
    /// Read changes, windows, freezes, rings, policies, rollouts and jobs.
    #[serde(rename = "change:read")]
    ChangeRead,
    /// Prepare, submit, schedule and cancel changes; set windows, freezes,
    /// ring plans and policies.
    #[serde(rename = "change:write")]
    ChangeWrite,
    /// Approve or reject changes (the CAB, the customer's approver).
    #[serde(rename = "change:approve")]
    ChangeApprove,
    /// Steer rollouts: pause, resume, abort, roll back.
    #[serde(rename = "change:operate")]
    ChangeOperate,
    /// The customer's own requests: order an update, report a problem with
    /// a rollout.
    #[serde(rename = "change:order")]
    ChangeOrder,
}

impl Permission {
    /// Every permission.
    pub const ALL: [Permission; 17] = [
        Permission::TenantRead,
        Permission::TenantWrite,
        Permission::UserRead,
        Permission::UserWrite,
        Permission::TokenManage,
        Permission::AuditRead,
        Permission::AuditVerify,
        Permission::AdvisoryRead,
        Permission::AdvisoryWrite,
        Permission::HostRead,
        Permission::HostWrite,
        Permission::HostEnroll,
        Permission::ChangeRead,
        Permission::ChangeWrite,
        Permission::ChangeApprove,
        Permission::ChangeOperate,
        Permission::ChangeOrder,
    ];

    /// The scope name used in the API and on tokens.
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::TenantRead => "tenant:read",
            Permission::TenantWrite => "tenant:write",
            Permission::UserRead => "user:read",
            Permission::UserWrite => "user:write",
            Permission::TokenManage => "token:manage",
            Permission::AuditRead => "audit:read",
            Permission::AuditVerify => "audit:verify",
            Permission::AdvisoryRead => "advisory:read",
            Permission::AdvisoryWrite => "advisory:write",
            Permission::HostRead => "host:read",
            Permission::HostWrite => "host:write",
            Permission::HostEnroll => "host:enroll",
            Permission::ChangeRead => "change:read",
            Permission::ChangeWrite => "change:write",
            Permission::ChangeApprove => "change:approve",
            Permission::ChangeOperate => "change:operate",
            Permission::ChangeOrder => "change:order",
        }
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Permission {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Permission::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown scope {s:?} (expected one of: {})",
                    list(&Permission::ALL)
                )
            })
    }
}

fn list<T: fmt::Display>(items: &[T]) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Which customers a provider user may see. In JSON: `"all"`, or
/// `{"only": [tenant ids]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum CustomerScope {
    /// Every customer (the default for provider users).
    All,
    /// Only these customers.
    Only(BTreeSet<TenantId>),
}

/// The tenants whose records a principal may see: the filter every listing
/// applies and every lookup checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Visibility {
    /// Every tenant.
    All,
    /// Only these tenants.
    Tenants(BTreeSet<TenantId>),
}

impl Visibility {
    /// Whether a record of `tenant` is visible.
    pub fn allows(&self, tenant: TenantId) -> bool {
        match self {
            Visibility::All => true,
            Visibility::Tenants(set) => set.contains(&tenant),
        }
    }
}

/// Who is acting: an authenticated user, through one of their tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The acting user.
    pub user_id: UserId,
    /// The user's name, recorded in the audit log.
    pub username: String,
    /// The user's tenant.
    pub tenant_id: TenantId,
    /// Whether that tenant is the provider or a customer.
    pub tenant_kind: TenantKind,
    /// The user's role.
    pub role: Role,
    /// For provider users: which customers they may see.
    pub customers: CustomerScope,
    /// The token the request presented.
    pub token_id: TokenId,
    /// The token's scopes.
    pub scopes: BTreeSet<Permission>,
}

impl Principal {
    /// Whether the principal may do `permission`: the role grants it and the
    /// token's scopes include it.
    pub fn may(&self, permission: Permission) -> bool {
        self.role.grants(permission) && self.scopes.contains(&permission)
    }

    /// The permissions the principal actually holds.
    pub fn effective_permissions(&self) -> BTreeSet<Permission> {
        Permission::ALL
            .into_iter()
            .filter(|p| self.may(*p))
            .collect()
    }

    /// The tenants whose records the principal may see. A customer's user
    /// sees only its own tenant; a provider user sees the provider tenant and
    /// the customers in scope.
    pub fn visibility(&self) -> Visibility {
        match (self.tenant_kind, &self.customers) {
            (TenantKind::Customer, _) => Visibility::Tenants(BTreeSet::from([self.tenant_id])),
            (TenantKind::Provider, CustomerScope::All) => Visibility::All,
            (TenantKind::Provider, CustomerScope::Only(set)) => {
                let mut set = set.clone();
                set.insert(self.tenant_id);
                Visibility::Tenants(set)
            }
        }
    }

    /// Whether a record of `tenant` is visible to the principal.
    pub fn can_see(&self, tenant: TenantId) -> bool {
        self.visibility().allows(tenant)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Timestamp;

    fn principal(role: Role, kind: TenantKind, customers: CustomerScope) -> Principal {
        let at = Timestamp::from_second(1).unwrap();
        Principal {
            user_id: UserId::new(at, [1; 10]),
            username: "u".into(),
            tenant_id: TenantId::new(at, [2; 10]),
            tenant_kind: kind,
            role,
            customers,
            token_id: TokenId::new(at, [3; 10]),
            scopes: Permission::ALL.into_iter().collect(),
        }
    }

    #[test]
    fn names_round_trip() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
            let json = serde_json::to_string(&role).unwrap();
            assert_eq!(json, format!("\"{}\"", role.as_str()));
        }
        for p in Permission::ALL {
            assert_eq!(p.as_str().parse::<Permission>(), Ok(p));
            let json = serde_json::to_string(&p).unwrap();
            assert_eq!(json, format!("\"{}\"", p.as_str()));
        }
        assert!(
            "root"
                .parse::<Role>()
                .unwrap_err()
                .contains("customer-viewer")
        );
    }

    #[test]
    fn customer_roles_grant_no_write() {
        for role in [Role::CustomerApprover, Role::CustomerViewer] {
            assert_eq!(role.tenant_kind(), TenantKind::Customer);
            assert!(!role.grants(Permission::TenantWrite));
            assert!(!role.grants(Permission::UserWrite));
            assert!(!role.grants(Permission::TokenManage));
        }
    }

    #[test]
    fn scopes_narrow_the_role() {
        let mut p = principal(Role::Admin, TenantKind::Provider, CustomerScope::All);
        assert!(p.may(Permission::UserWrite));
        p.scopes = BTreeSet::from([Permission::UserRead]);
        assert!(!p.may(Permission::UserWrite));
        assert_eq!(
            p.effective_permissions(),
            BTreeSet::from([Permission::UserRead])
        );
        // A scope the role lacks grants nothing.
        let mut v = principal(
            Role::CustomerViewer,
            TenantKind::Customer,
            CustomerScope::All,
        );
        v.scopes = BTreeSet::from([Permission::UserWrite]);
        assert!(!v.may(Permission::UserWrite));
    }

    #[test]
    fn customers_see_only_their_tenant() {
        let at = Timestamp::from_second(1).unwrap();
        let other = TenantId::new(at, [9; 10]);
        let c = principal(
            Role::CustomerApprover,
            TenantKind::Customer,
            CustomerScope::All,
        );
        assert!(c.can_see(c.tenant_id));
        assert!(!c.can_see(other));
        let p = principal(Role::Operator, TenantKind::Provider, CustomerScope::All);
        assert!(p.can_see(other));
        let limited = principal(
            Role::Operator,
            TenantKind::Provider,
            CustomerScope::Only(BTreeSet::new()),
        );
        assert!(limited.can_see(limited.tenant_id));
        assert!(!limited.can_see(other));
    }
}
