//! The fingerprint of the server's CA certificate: the SHA-256 of its DER
//! bytes. An administrator copies it from the server to pin the agent's
//! trust at enrollment, in whatever form their tool printed it.

use std::fmt;
use std::str::FromStr;

use sha2::{Digest, Sha256};

/// The SHA-256 of a CA certificate's DER encoding.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CaFingerprint(pub [u8; 32]);

impl CaFingerprint {
    /// The fingerprint of a certificate given as DER.
    pub fn of(der: &[u8]) -> Self {
        CaFingerprint(Sha256::digest(der).into())
    }

    /// The same fingerprint as `openssl x509 -fingerprint -sha256` prints
    /// it: uppercase pairs separated by colons.
    pub fn to_openssl(&self) -> String {
        let hex = hex::encode_upper(self.0);
        let pairs: Vec<&str> = (0..32).map(|i| &hex[2 * i..2 * i + 2]).collect();
        pairs.join(":")
    }
}

/// Lowercase hex, 64 digits: the form Rivet prints and stores.
impl fmt::Display for CaFingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for CaFingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CaFingerprint({self})")
    }
}

/// Text that is not a SHA-256 fingerprint.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{given:?} is not a SHA-256 fingerprint: expected 64 hex digits, optionally in pairs separated by colons (as `openssl x509 -fingerprint -sha256` prints them)"
)]
pub struct BadFingerprint {
    /// The text given, shortened.
    pub given: String,
}

/// Accepts 64 hex digits in either case, with or without colons between
/// pairs, optionally after openssl's `SHA256 Fingerprint=` (or `sha256
/// Fingerprint=`) label.
impl FromStr for CaFingerprint {
    type Err = BadFingerprint;

    fn from_str(text: &str) -> Result<Self, BadFingerprint> {
        let bad = || BadFingerprint {
            given: text.chars().take(120).collect(),
        };
        let trimmed = text.trim();
        let digits = match trimmed.split_once('=') {
            Some((label, rest)) => {
                let label = label.trim();
                if !label.eq_ignore_ascii_case("sha256 fingerprint") {
                    return Err(bad());
                }
                rest.trim()
            }
            None => trimmed,
        };
        let hex_digits: String = if digits.contains(':') {
            // Colons, if any, must separate every pair.
            let pairs: Vec<&str> = digits.split(':').collect();
            if pairs.len() != 32 || pairs.iter().any(|p| p.len() != 2) {
                return Err(bad());
            }
            pairs.concat()
        } else {
            digits.to_owned()
        };
        let mut bytes = [0u8; 32];
        if hex_digits.len() != 64 {
            return Err(bad());
        }
        hex::decode_to_slice(&hex_digits, &mut bytes).map_err(|_| bad())?;
        Ok(CaFingerprint(bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_and_openssl_forms_round_trip() {
        let fp = CaFingerprint::of(b"certificate");
        assert_eq!(fp.to_string().len(), 64);
        assert_eq!(fp.to_openssl().len(), 95);
        assert_eq!(fp.to_string().parse::<CaFingerprint>(), Ok(fp));
        assert_eq!(fp.to_openssl().parse::<CaFingerprint>(), Ok(fp));
    }
}
