//! Identifiers of the domain's records. They are UUIDv7 (time-ordered, so a
//! listing ordered by id is ordered by creation) and typed, so that a user id
//! can never be passed where a tenant id is expected.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::Timestamp;

macro_rules! typed_id {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A new id for a record created at `at`; `random` supplies the
            /// 74 random bits, so that the caller owns the source of randomness.
            pub fn new(at: Timestamp, random: [u8; 10]) -> Self {
                Self(new_v7(at, random))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = InvalidId;
            fn from_str(s: &str) -> Result<Self, InvalidId> {
                Uuid::parse_str(s).map(Self).map_err(|_| InvalidId {
                    what: $what,
                    value: s.chars().take(80).collect(),
                })
            }
        }
    };
}

typed_id!(
    /// A tenant: the provider or one of its customers.
    TenantId,
    "tenant id"
);
typed_id!(
    /// A user of the provider or of a customer.
    UserId,
    "user id"
);
typed_id!(
    /// An API token.
    TokenId,
    "token id"
);

typed_id!(
    /// A host in the CMDB; a host with an agent is also the agent's identity.
    HostId,
    "host id"
);
typed_id!(
    /// A single-use enrollment token.
    EnrollmentId,
    "enrollment token id"
);
typed_id!(
    /// A notification in the outbox: one message to one recipient or webhook.
    NotificationId,
    "notification id"
);

/// A string that is not a valid id of the expected kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not a valid {what} (expected a UUID)")]
pub struct InvalidId {
    /// Which kind of id was expected.
    pub what: &'static str,
    /// The offending text, shortened.
    pub value: String,
}

fn new_v7(at: Timestamp, random: [u8; 10]) -> Uuid {
    // Before 1970 cannot happen for a record Rivet creates; clamp rather than panic.
    let millis = u64::try_from(at.as_millisecond()).unwrap_or(0);
    uuid::Builder::from_unix_timestamp_millis(millis, &random).into_uuid()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_sort_by_creation_time() {
        let early = TenantId::new(Timestamp::from_second(1_000).unwrap(), [0xff; 10]);
        let late = TenantId::new(Timestamp::from_second(1_001).unwrap(), [0; 10]);
        assert!(early < late);
        assert_eq!(early.0.get_version_num(), 7);
    }

    #[test]
    fn parse_names_the_kind() {
        let err = "nope".parse::<UserId>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "\"nope\" is not a valid user id (expected a UUID)"
        );
    }
}

#[cfg(feature = "openapi")]
mod openapi {
    //! Ids appear in the OpenAPI document as UUID strings.
    use std::borrow::Cow;

    use utoipa::openapi::schema::{ObjectBuilder, SchemaFormat, Type};
    use utoipa::openapi::{RefOr, Schema};

    macro_rules! uuid_schema {
        ($($name:ident),*) => {$(
            impl utoipa::PartialSchema for super::$name {
                fn schema() -> RefOr<Schema> {
                    ObjectBuilder::new()
                        .schema_type(Type::String)
                        .format(Some(SchemaFormat::Custom("uuid".into())))
                        .into()
                }
            }
            impl utoipa::ToSchema for super::$name {
                fn name() -> Cow<'static, str> {
                    Cow::Borrowed(stringify!($name))
                }
            }
        )*};
    }
    uuid_schema!(TenantId, UserId, TokenId, HostId, EnrollmentId);
}
