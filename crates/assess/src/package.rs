//! The installed package the engine evaluates: a borrowed view
//! ([`PackageRef`]), so that the server can evaluate its interned package
//! rows without copying them, and an owned form ([`InstalledPackage`]) for
//! `rivet scan`. Both can carry an ecosystem of their own, which a language
//! package from an SBOM (`pkg:cargo/…`, `pkg:pypi/…`) needs: it is assessed
//! under `crates.io` or `PyPI` whatever the host's distribution.

use rivet_advisory::purl::Purl;
use rivet_core::inventory::{Package, PackageFormat};

use crate::ecosystem;

/// A distinct installed package, borrowed. Two hosts with the same
/// `(format, name, version, architecture, source_name, source_version,
/// ecosystem)` get the same verdicts, so a caller may evaluate it once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PackageRef<'a> {
    /// The OS package format; `None` for a language package.
    pub format: Option<PackageFormat>,
    /// The binary package's name.
    pub name: &'a str,
    /// Its version.
    pub version: &'a str,
    /// Its architecture (`amd64`, `x86_64`, `noarch`, `all`; empty when
    /// unknown).
    pub architecture: &'a str,
    /// The source package it was built from (its own name if none).
    pub source_name: &'a str,
    /// The source package's version (its own version if none).
    pub source_version: &'a str,
    /// The OSV ecosystem to assess it under instead of the host's
    /// (`crates.io`, `PyPI`), for language packages.
    pub ecosystem: Option<&'a str>,
}

impl<'a> From<&'a Package> for PackageRef<'a> {
    fn from(p: &'a Package) -> Self {
        PackageRef {
            format: Some(p.format),
            name: &p.name,
            version: &p.version,
            architecture: &p.architecture,
            source_name: &p.source_name,
            source_version: &p.source_version,
            ecosystem: None,
        }
    }
}

/// An installed package, owned: an OS package from a package database, or
/// a language package from an SBOM.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
pub struct InstalledPackage {
    /// The OS package format; `None` for a language package.
    pub format: Option<PackageFormat>,
    /// The package's name (for Maven `group:artifact`, for npm `@scope/name`).
    pub name: String,
    /// Its version.
    pub version: String,
    /// Its architecture; empty when unknown.
    pub architecture: String,
    /// The source package.
    pub source_name: String,
    /// The source package's version.
    pub source_version: String,
    /// The OSV ecosystem it is assessed under instead of the host's.
    pub ecosystem: Option<String>,
    /// The package URL it was read from, when it came from an SBOM.
    pub purl: Option<String>,
}

impl InstalledPackage {
    /// The borrowed view the engine evaluates.
    pub fn as_ref(&self) -> PackageRef<'_> {
        PackageRef {
            format: self.format,
            name: &self.name,
            version: &self.version,
            architecture: &self.architecture,
            source_name: &self.source_name,
            source_version: &self.source_version,
            ecosystem: self.ecosystem.as_deref(),
        }
    }

    /// A language package from its package URL (`pkg:cargo/openssl@0.10.1`,
    /// `pkg:pypi/Django@4.2`), with its ecosystem from the purl type; `None`
    /// for OS package types, unknown types, and purls without a version.
    pub fn from_purl(text: &str) -> Option<InstalledPackage> {
        let purl = Purl::parse(text)?;
        let ecosystem = ecosystem::of_purl_type(&purl.kind)?;
        let version = purl.version.clone()?;
        let name = match (ecosystem, purl.namespace.as_deref()) {
            ("Maven", Some(group)) => format!("{group}:{}", purl.name),
            ("npm" | "Go", Some(namespace)) => format!("{namespace}/{}", purl.name),
            _ => purl.name.clone(),
        };
        Some(InstalledPackage {
            format: None,
            source_name: name.clone(),
            source_version: version.clone(),
            name,
            version,
            architecture: purl.qualifier("arch").unwrap_or("").to_owned(),
            ecosystem: Some(ecosystem.to_owned()),
            purl: Some(text.to_owned()),
        })
    }
}

impl From<Package> for InstalledPackage {
    fn from(p: Package) -> Self {
        InstalledPackage {
            format: Some(p.format),
            name: p.name,
            version: p.version,
            architecture: p.architecture,
            source_name: p.source_name,
            source_version: p.source_version,
            ecosystem: None,
            purl: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn language_purls_carry_their_ecosystem() {
        let p = InstalledPackage::from_purl("pkg:cargo/smallvec@1.6.0").unwrap();
        assert_eq!(p.ecosystem.as_deref(), Some("crates.io"));
        assert_eq!((p.name.as_str(), p.version.as_str()), ("smallvec", "1.6.0"));
        let p = InstalledPackage::from_purl("pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1")
            .unwrap();
        assert_eq!(p.name, "org.apache.logging.log4j:log4j-core");
        let p = InstalledPackage::from_purl("pkg:npm/%40babel/core@7.0.0").unwrap();
        assert_eq!(p.name, "@babel/core");
        assert!(InstalledPackage::from_purl("pkg:deb/debian/bash@5.2").is_none());
        assert!(InstalledPackage::from_purl("pkg:pypi/django").is_none());
    }
}
