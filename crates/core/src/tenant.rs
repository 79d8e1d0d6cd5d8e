//! Tenants (SEC-1): the provider that runs Rivet and the customers whose hosts
//! it manages. Every record that belongs to a customer carries its tenant.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::Timestamp;
use crate::id::TenantId;

/// Whether a tenant is the provider or one of its customers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum TenantKind {
    /// The organisation that runs Rivet and operates the hosts; there is one.
    Provider,
    /// An organisation whose hosts the provider manages.
    Customer,
}

impl TenantKind {
    /// The name used in the API and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            TenantKind::Provider => "provider",
            TenantKind::Customer => "customer",
        }
    }
}

impl fmt::Display for TenantKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TenantKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "provider" => Ok(TenantKind::Provider),
            "customer" => Ok(TenantKind::Customer),
            other => Err(format!(
                "unknown tenant kind {other:?} (expected provider or customer)"
            )),
        }
    }
}

/// A tenant as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Tenant {
    /// The tenant's id.
    pub id: TenantId,
    /// A unique, human-readable name.
    pub name: String,
    /// Provider or customer.
    pub kind: TenantKind,
    /// When the tenant was created.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: Timestamp,
    /// When the tenant was last changed.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub updated_at: Timestamp,
}
