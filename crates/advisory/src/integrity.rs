//! Integrity of downloaded documents (ADV-5): a document's bytes against the
//! published `.sha256`/`.sha512` file and against an OpenPGP detached
//! signature (`.asc`) by one of the provider's keys. Anything that does not
//! hold becomes [`SignatureStatus::Failed`] with the reason.

use std::io::Cursor;

use pgp::composed::{Deserializable, DetachedSignature, SignedPublicKey};
use pgp::types::KeyDetails;
use sha2::{Digest, Sha256, Sha512};

use crate::model::SignatureStatus;

/// The hash algorithms CSAF publishes checksums with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashAlgorithm {
    /// `.sha256`
    Sha256,
    /// `.sha512`
    Sha512,
}

impl HashAlgorithm {
    /// The algorithm a checksum file's name or URL implies.
    pub fn of(name: &str) -> Option<HashAlgorithm> {
        let lower = name.to_ascii_lowercase();
        if lower.ends_with(".sha256") {
            Some(HashAlgorithm::Sha256)
        } else if lower.ends_with(".sha512") {
            Some(HashAlgorithm::Sha512)
        } else {
            None
        }
    }

    /// The lower-case hex digest of `bytes`.
    pub fn digest(self, bytes: &[u8]) -> String {
        match self {
            HashAlgorithm::Sha256 => hex::encode(Sha256::digest(bytes)),
            HashAlgorithm::Sha512 => hex::encode(Sha512::digest(bytes)),
        }
    }
}

/// Why an integrity check failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IntegrityError {
    /// The checksum file holds no hex digest of the right length.
    #[error("checksum file holds no {expected_len}-digit hex digest")]
    MalformedChecksum {
        /// The digest length expected, in hex digits.
        expected_len: usize,
    },
    /// The digest differs from the document's.
    #[error("{algorithm:?} mismatch: published {published}, document has {actual}")]
    ChecksumMismatch {
        /// The algorithm.
        algorithm: HashAlgorithm,
        /// The published digest.
        published: String,
        /// The document's digest.
        actual: String,
    },
    /// A public key could not be read or its self-signatures do not hold.
    #[error("unusable OpenPGP public key: {0}")]
    Key(String),
}

/// Checks `bytes` against the content of a checksum file: the hex digest,
/// optionally followed by a file name (`sha256sum` output).
pub fn verify_checksum(
    bytes: &[u8],
    algorithm: HashAlgorithm,
    checksum_file: &str,
) -> Result<(), IntegrityError> {
    let expected_len = match algorithm {
        HashAlgorithm::Sha256 => 64,
        HashAlgorithm::Sha512 => 128,
    };
    let published = checksum_file
        .split_whitespace()
        .next()
        .filter(|d| d.len() == expected_len && d.bytes().all(|b| b.is_ascii_hexdigit()))
        .ok_or(IntegrityError::MalformedChecksum { expected_len })?
        .to_ascii_lowercase();
    let actual = algorithm.digest(bytes);
    if published == actual {
        Ok(())
    } else {
        Err(IntegrityError::ChecksumMismatch {
            algorithm,
            published,
            actual,
        })
    }
}

/// The OpenPGP public keys a source is trusted with.
#[derive(Debug, Clone, Default)]
pub struct Keyring {
    keys: Vec<SignedPublicKey>,
}

impl Keyring {
    /// Reads ASCII-armored public keys (several may be in one block list).
    /// A key whose subkey bindings do not verify is refused.
    pub fn from_armored(armored: &[&str]) -> Result<Keyring, IntegrityError> {
        let mut keys = Vec::new();
        for text in armored {
            let (parsed, _headers) = SignedPublicKey::from_armor_many(Cursor::new(text.as_bytes()))
                .map_err(|e| IntegrityError::Key(e.to_string()))?;
            for key in parsed {
                let key = key.map_err(|e| IntegrityError::Key(e.to_string()))?;
                key.verify_bindings()
                    .map_err(|e| IntegrityError::Key(e.to_string()))?;
                keys.push(key);
            }
        }
        Ok(Keyring { keys })
    }

    /// The fingerprints of the keys, upper-case hex.
    pub fn fingerprints(&self) -> Vec<String> {
        self.keys
            .iter()
            .map(|k| format!("{:X}", k.fingerprint()))
            .collect()
    }

    /// Checks an ASCII-armored detached signature over `bytes`.
    pub fn verify(&self, bytes: &[u8], armored_signature: &str) -> SignatureStatus {
        let signature = match DetachedSignature::from_armor_single(Cursor::new(armored_signature)) {
            Ok((signature, _)) => signature,
            Err(e) => {
                return SignatureStatus::Failed {
                    reason: format!("unreadable signature: {e}"),
                };
            }
        };
        if self.keys.is_empty() {
            return SignatureStatus::Failed {
                reason: "no trusted keys to verify the signature with".into(),
            };
        }
        let mut last_error = None;
        for key in &self.keys {
            let primary = signature.verify(&key.primary_key, bytes);
            let verified = primary.is_ok()
                || key
                    .public_subkeys
                    .iter()
                    .any(|sub| signature.verify(&sub.key, bytes).is_ok());
            if verified {
                return SignatureStatus::Verified {
                    fingerprint: format!("{:X}", key.fingerprint()),
                };
            }
            last_error = primary.err();
        }
        SignatureStatus::Failed {
            reason: format!(
                "signature does not verify with any of the {} trusted keys (document altered or signed by another key){}",
                self.keys.len(),
                last_error.map(|e| format!(": {e}")).unwrap_or_default()
            ),
        }
    }
}

/// Checks a document as a CSAF provider publishes it: the checksum file's
/// content (when given) and then the detached signature (when given).
/// Neither given is [`SignatureStatus::Unsigned`].
pub fn check(
    bytes: &[u8],
    checksum: Option<(HashAlgorithm, &str)>,
    signature: Option<&str>,
    keys: &Keyring,
) -> SignatureStatus {
    if let Some((algorithm, content)) = checksum
        && let Err(e) = verify_checksum(bytes, algorithm, content)
    {
        return SignatureStatus::Failed {
            reason: e.to_string(),
        };
    }
    match signature {
        Some(armored) => keys.verify(bytes, armored),
        None => SignatureStatus::Unsigned,
    }
}
