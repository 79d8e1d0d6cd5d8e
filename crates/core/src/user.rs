//! Users and API tokens (SEC-2). A token is shown once, when it is created:
//! Rivet stores only the SHA-256 of its secret, which is enough because the
//! secret is 256 random bits (a slow hash protects low-entropy passwords, not
//! random keys).

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::Timestamp;
use crate::access::{CustomerScope, Permission, Role};
use crate::id::{TenantId, TokenId, UserId};
use crate::secret::{Secret, SecretId};

/// A user as stored, without the password hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct User {
    /// The user's id.
    pub id: UserId,
    /// The tenant the user belongs to.
    pub tenant_id: TenantId,
    /// The unique login name.
    pub username: String,
    /// A name to show.
    pub display_name: String,
    /// The user's role.
    pub role: Role,
    /// For provider users: the customers they may see.
    pub customers: CustomerScope,
    /// A disabled user cannot log in and their tokens stop working.
    pub disabled: bool,
    /// When the user was created.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: Timestamp,
    /// When the user was last changed.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub updated_at: Timestamp,
}

/// An API token as stored, without its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiToken {
    /// The token's id (also the first part of the token string).
    pub id: TokenId,
    /// The user the token acts for.
    pub user_id: UserId,
    /// That user's tenant.
    pub tenant_id: TenantId,
    /// A name that says what the token is for.
    pub name: String,
    /// What the token may do, within its user's role.
    pub scopes: BTreeSet<Permission>,
    /// When the token was created.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: Timestamp,
    /// When the token stops working.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub expires_at: Timestamp,
    /// When the token was revoked, if it was.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub revoked_at: Option<Timestamp>,
    /// When the token was last used (updated at most once a minute).
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub last_used_at: Option<Timestamp>,
}

/// Why a token does not authenticate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenRejection {
    /// The token has expired.
    #[error("the token has expired")]
    Expired,
    /// The token was revoked.
    #[error("the token was revoked")]
    Revoked,
}

impl ApiToken {
    /// Whether the token may authenticate a request at `at`.
    pub fn check_usable(&self, at: Timestamp) -> Result<(), TokenRejection> {
        if self.revoked_at.is_some() {
            Err(TokenRejection::Revoked)
        } else if at >= self.expires_at {
            Err(TokenRejection::Expired)
        } else {
            Ok(())
        }
    }
}

/// The secret string of a token as handed to its owner:
/// `rvt_<token id as 32 hex digits>_<64 hex digits of secret>`.
pub type TokenSecret = Secret<TokenId>;

impl SecretId for TokenId {
    const PREFIX: &'static str = "rvt_";
    fn from_uuid(uuid: uuid::Uuid) -> Self {
        TokenId(uuid)
    }
    fn uuid(&self) -> uuid::Uuid {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id() -> TokenId {
        TokenId::new(Timestamp::from_second(5).unwrap(), [7; 10])
    }

    #[test]
    fn token_round_trip_and_hash() {
        let t = TokenSecret::new(id(), [0xab; 32]);
        let s = t.expose();
        assert!(s.starts_with("rvt_"));
        let parsed = TokenSecret::parse(&s).unwrap();
        assert_eq!(parsed, t);
        assert!(parsed.matches(&t.hash()));
        let other = TokenSecret::new(id(), [0xac; 32]);
        assert!(!other.matches(&t.hash()));
        assert!(!format!("{t:?}").contains("abab"));
    }

    #[test]
    fn malformed_tokens_are_not_parsed() {
        let good = TokenSecret::new(id(), [1; 32]).expose();
        for bad in [
            "",
            "rvt_",
            "Bearer x",
            &good[..good.len() - 1],
            &good.replace("rvt_", "rvx_"),
            &format!("{good}0"),
            &good.replace('_', "-"),
        ] {
            assert!(TokenSecret::parse(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn expiry_and_revocation() {
        let at = Timestamp::from_second(100).unwrap();
        let mut token = ApiToken {
            id: id(),
            user_id: UserId::new(at, [1; 10]),
            tenant_id: TenantId::new(at, [2; 10]),
            name: "t".into(),
            scopes: BTreeSet::new(),
            created_at: at,
            expires_at: Timestamp::from_second(200).unwrap(),
            revoked_at: None,
            last_used_at: None,
        };
        assert_eq!(
            token.check_usable(Timestamp::from_second(199).unwrap()),
            Ok(())
        );
        assert_eq!(
            token.check_usable(Timestamp::from_second(200).unwrap()),
            Err(TokenRejection::Expired)
        );
        token.revoked_at = Some(at);
        assert_eq!(token.check_usable(at), Err(TokenRejection::Revoked));
    }
}
