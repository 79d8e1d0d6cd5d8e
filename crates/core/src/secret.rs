//! Bearer secrets handed out once and stored only as a hash: API tokens
//! (`rvt_…`) and enrollment tokens (`rve_…`). Rivet stores the SHA-256 of the
//! secret, which is enough because the secret is 256 random bits (a slow hash
//! protects low-entropy passwords, not random keys).

use std::fmt;
use std::marker::PhantomData;

use sha2::{Digest, Sha256};

/// An id whose records carry a bearer secret, and the prefix that marks it.
pub trait SecretId: Copy + fmt::Display {
    /// The prefix of the handed-out string, e.g. `rvt_`.
    const PREFIX: &'static str;
    /// The id from its UUID.
    fn from_uuid(uuid: uuid::Uuid) -> Self;
    /// The id's UUID.
    fn uuid(&self) -> uuid::Uuid;
}

/// A secret as handed to its owner:
/// `<prefix><id as 32 hex digits>_<64 hex digits of secret>`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret<I> {
    /// The record's id.
    pub id: I,
    secret: String,
    kind: PhantomData<I>,
}

impl<I: SecretId> fmt::Debug for Secret<I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({}{}, <redacted>)", I::PREFIX, self.id)
    }
}

impl<I: SecretId> Secret<I> {
    /// A secret for `id` from 32 random bytes.
    pub fn new(id: I, random: [u8; 32]) -> Self {
        Self {
            id,
            secret: hex::encode(random),
            kind: PhantomData,
        }
    }

    /// Parses a presented secret; `None` if it is not of this kind's form.
    pub fn parse(presented: &str) -> Option<Self> {
        let rest = presented.strip_prefix(I::PREFIX)?;
        let (id, secret) = rest.split_once('_')?;
        if id.len() != 32 || secret.len() != 64 || !secret.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let id = uuid::Uuid::try_parse(id).ok()?;
        Some(Self {
            id: I::from_uuid(id),
            secret: secret.to_ascii_lowercase(),
            kind: PhantomData,
        })
    }

    /// The full string to give to the owner.
    pub fn expose(&self) -> String {
        format!("{}{}_{}", I::PREFIX, self.id.uuid().simple(), self.secret)
    }

    /// The hash stored in place of the secret.
    pub fn hash(&self) -> String {
        hex::encode(Sha256::digest(self.secret.as_bytes()))
    }

    /// Whether this secret matches a stored hash, in constant time.
    pub fn matches(&self, stored_hash: &str) -> bool {
        let ours = self.hash();
        ours.len() == stored_hash.len()
            && ours
                .bytes()
                .zip(stored_hash.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    }
}
