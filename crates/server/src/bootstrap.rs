//! First start: on an empty database, create the provider tenant and an
//! `admin` user whose password is either given (`RIVET_ADMIN_PASSWORD`) or
//! generated and printed once.

use rivet_core::Timestamp;
use rivet_core::access::{CustomerScope, Role};
use rivet_core::id::{TenantId, UserId};
use rivet_core::validate;
use rivet_store::{NewUser, Store};

/// The first admin's login name.
pub const ADMIN_USERNAME: &str = "admin";

/// What bootstrap did.
#[derive(Debug, PartialEq, Eq)]
pub enum Bootstrap {
    /// The provider existed already; nothing was done.
    AlreadyDone,
    /// Created, with the password given in the environment.
    CreatedWithGivenPassword,
    /// Created, with this generated password (to be shown once).
    CreatedWithGeneratedPassword(String),
}

/// Creates the provider and its admin if the database has no provider.
pub async fn run(
    store: &Store,
    provider_name: &str,
    given_password: Option<String>,
    now: Timestamp,
) -> anyhow::Result<Bootstrap> {
    if store.provider_tenant().await?.is_some() {
        return Ok(Bootstrap::AlreadyDone);
    }
    let (password, generated) = match given_password {
        Some(p) => {
            validate::password(&p, ADMIN_USERNAME)
                .map_err(|e| anyhow::anyhow!("RIVET_ADMIN_PASSWORD: {}", e.reason))?;
            (p, false)
        }
        None => (generate_password(), true),
    };
    let hash_input = password.clone();
    let hash = tokio::task::spawn_blocking(move || crate::password::hash(&hash_input))
        .await?
        .map_err(anyhow::Error::msg)?;
    let admin = NewUser {
        id: UserId::new(now, rand::random()),
        tenant_id: TenantId::new(now, rand::random()),
        username: ADMIN_USERNAME.into(),
        display_name: "Administrator".into(),
        role: Role::Admin,
        password_hash: hash,
        customers: CustomerScope::All,
    };
    if !store.bootstrap(provider_name, admin, now).await? {
        // Another replica bootstrapped first.
        return Ok(Bootstrap::AlreadyDone);
    }
    Ok(if generated {
        Bootstrap::CreatedWithGeneratedPassword(password)
    } else {
        Bootstrap::CreatedWithGivenPassword
    })
}

/// 24 characters from an alphabet without look-alikes: about 138 bits.
fn generate_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let bytes: [u8; 24] = rand::random();
    // 256 is not a multiple of the alphabet's length; the bias this leaves
    // is negligible for a password of this length.
    bytes
        .iter()
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn generated_passwords_are_valid_and_differ() {
        let a = super::generate_password();
        assert_eq!(a.len(), 24);
        assert!(rivet_core::validate::password(&a, "admin").is_ok());
        assert_ne!(a, super::generate_password());
    }
}
