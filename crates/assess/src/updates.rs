//! Missing updates (ASM-3): for a host's installed packages, the newest
//! version its approved repositories offer, and what kind of update that
//! is. Pure: the caller passes the repositories' metadata (read by
//! [`crate::repository`]) and the fixed versions of the host's open
//! findings.
//!
//! **Candidate.** Per installed `(name, architecture)` — the highest
//! installed version when several are (kernels) — the highest version any
//! approved repository offers for a matching architecture, if it is newer
//! under the ecosystem's version rules. `all` and `noarch` match any
//! architecture; `amd64` never takes `arm64`. Unapproved repositories, and
//! versions that do not parse, are ignored.
//!
//! **Class**, first rule that holds:
//! 1. `security` — an erratum of type security brings a version in
//!    `(installed, candidate]`; or a security repository (Debian's
//!    `bookworm-security`) offers a version in that range; or the candidate
//!    is at or above the fixed version of an open finding on the package
//!    (the source version for ecosystems whose advisories name source
//!    packages);
//! 2. `major` — the upstream major version differs (the first number of the
//!    Debian upstream version or the rpm version), or the epoch does; a
//!    first number of four digits or more on both sides is a date
//!    (tzdata's `2024a`), which has no major version;
//! 3. the errata in the range, when there are any: `enhancement` if one is
//!    an enhancement or a new package, else `bugfix`;
//! 4. `bugfix` when only the Debian revision or rpm release changes;
//! 5. `enhancement` otherwise.
//!
//! `major` is reported on its own as well, so that a security update that
//! is also a major upgrade still reads `major: true`: the change engine
//! never installs a major version automatically (RLO-3).

use std::cmp::Ordering;
use std::collections::{BTreeSet, HashMap};

use rivet_core::update::UpdateClass;
use rivet_core::version::{self, Scheme, deb, rpm};
use serde::Serialize;

use crate::ecosystem::Naming;
use crate::package::PackageRef;
use crate::repository::{Erratum, ErratumKind, OfferedPackage};

/// A repository as the classification sees it.
#[derive(Debug, Clone, Default)]
pub struct RepositoryOffer {
    /// Its name (reported with each update it offers).
    pub name: String,
    /// A security repository: everything it offers fixes security issues.
    pub security: bool,
    /// Approved for the host's updates; others are ignored.
    pub approved: bool,
    /// The packages it offers.
    pub packages: Vec<OfferedPackage>,
    /// Its errata (rpm-md `updateinfo.xml`).
    pub errata: Vec<Erratum>,
}

/// The fixed version of an open finding on one of the host's packages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenFix {
    /// The binary package the finding is on.
    pub package: String,
    /// Its architecture.
    pub architecture: String,
    /// The first fixed version (of the source package where the
    /// ecosystem's advisories name source packages).
    pub fixed_version: String,
    /// The advisory's id.
    pub advisory_id: String,
}

/// One missing update of a host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MissingUpdate {
    /// The binary package.
    pub name: String,
    /// The installed package's architecture.
    pub architecture: String,
    /// The installed version (the highest, when several are installed).
    pub installed_version: String,
    /// The newest version offered.
    pub candidate_version: String,
    /// The offered package's architecture (`all`, `noarch` or the host's).
    pub candidate_architecture: String,
    /// The candidate's source package.
    pub source_name: String,
    /// The candidate's source version.
    pub source_version: String,
    /// The class (security wins over major; see the module's rules).
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub class: UpdateClass,
    /// The upstream major version (or the epoch) changes.
    pub major: bool,
    /// The repositories offering the candidate.
    pub repositories: Vec<String>,
    /// Errata bringing a version in `(installed, candidate]`.
    pub errata: Vec<String>,
    /// Open findings' advisories the candidate fixes.
    pub advisories: Vec<String>,
}

/// One offered version of a package name, filed for look-up.
#[derive(Debug, Clone)]
struct Offer {
    arch: String,
    version: String,
    source_name: String,
    source_version: String,
    repository: usize,
}

/// One package version an erratum brings.
#[derive(Debug, Clone)]
struct ErratumOffer {
    arch: String,
    version: String,
    erratum: usize,
}

/// Every approved repository of one ecosystem, indexed by package name.
#[derive(Debug, Clone)]
pub struct Catalog {
    scheme: Scheme,
    naming: Naming,
    repositories: Vec<(String, bool)>,
    errata: Vec<(String, ErratumKind)>,
    offers: HashMap<String, Vec<Offer>>,
    erratum_offers: HashMap<String, Vec<ErratumOffer>>,
}

/// Whether an offered architecture can update an installed one.
pub fn arch_matches(installed: &str, offered: &str) -> bool {
    let any = |a: &str| matches!(a, "all" | "noarch" | "");
    installed == offered || any(installed) || any(offered)
}

impl Catalog {
    /// Indexes the approved repositories of `repositories`, for versions
    /// under `scheme` and findings named as `naming` says.
    pub fn new(scheme: Scheme, naming: Naming, repositories: &[RepositoryOffer]) -> Catalog {
        let mut catalog = Catalog {
            scheme,
            naming,
            repositories: Vec::new(),
            errata: Vec::new(),
            offers: HashMap::new(),
            erratum_offers: HashMap::new(),
        };
        for r in repositories.iter().filter(|r| r.approved) {
            let index = catalog.repositories.len();
            catalog.repositories.push((r.name.clone(), r.security));
            for p in &r.packages {
                if version::validate(scheme, &p.version).is_err() {
                    continue;
                }
                catalog
                    .offers
                    .entry(p.name.clone())
                    .or_default()
                    .push(Offer {
                        arch: p.arch.clone(),
                        version: p.version.clone(),
                        source_name: p.source_name.clone(),
                        source_version: p.source_version.clone(),
                        repository: index,
                    });
            }
            for e in &r.errata {
                let erratum = catalog.errata.len();
                catalog.errata.push((e.id.clone(), e.kind));
                for p in &e.packages {
                    catalog
                        .erratum_offers
                        .entry(p.name.clone())
                        .or_default()
                        .push(ErratumOffer {
                            arch: p.arch.clone(),
                            version: p.version.clone(),
                            erratum,
                        });
                }
            }
        }
        catalog
    }

    /// Whether any approved repository offers a package of this name.
    pub fn offers(&self, name: &str) -> bool {
        self.offers.contains_key(name)
    }

    fn cmp(&self, a: &str, b: &str) -> Option<Ordering> {
        version::compare(self.scheme, a, b).ok()
    }

    /// Whether `v` lies in `(installed, candidate]`.
    fn in_range(&self, v: &str, installed: &str, candidate: &str) -> bool {
        self.cmp(v, installed) == Some(Ordering::Greater)
            && matches!(
                self.cmp(v, candidate),
                Some(Ordering::Less | Ordering::Equal)
            )
    }

    /// The missing update of one installed package, classed without the
    /// host's findings; `None` when nothing newer is offered.
    pub fn update_for(&self, installed: PackageRef<'_>) -> Option<MissingUpdate> {
        let offers = self.offers.get(installed.name)?;
        version::validate(self.scheme, installed.version).ok()?;
        let mut best: Option<&Offer> = None;
        for o in offers
            .iter()
            .filter(|o| arch_matches(installed.architecture, &o.arch))
        {
            if self.cmp(&o.version, installed.version) != Some(Ordering::Greater) {
                continue;
            }
            best = match best {
                Some(b) if self.cmp(&o.version, &b.version) != Some(Ordering::Greater) => Some(b),
                _ => Some(o),
            };
        }
        let best = best?;
        let candidate = best.version.as_str();
        let same_candidate = |o: &&Offer| {
            arch_matches(installed.architecture, &o.arch)
                && self.cmp(&o.version, candidate) == Some(Ordering::Equal)
        };
        let repositories: BTreeSet<String> = offers
            .iter()
            .filter(same_candidate)
            .map(|o| self.repositories[o.repository].0.clone())
            .collect();
        let from_security_repository = offers.iter().any(|o| {
            self.repositories[o.repository].1
                && arch_matches(installed.architecture, &o.arch)
                && self.in_range(&o.version, installed.version, candidate)
        });
        let mut errata: BTreeSet<String> = BTreeSet::new();
        let mut kinds: BTreeSet<ErratumKind> = BTreeSet::new();
        for e in self
            .erratum_offers
            .get(installed.name)
            .into_iter()
            .flatten()
        {
            if arch_matches(installed.architecture, &e.arch)
                && self.in_range(&e.version, installed.version, candidate)
            {
                let (id, kind) = &self.errata[e.erratum];
                errata.insert(id.clone());
                kinds.insert(*kind);
            }
        }
        let major = major_differs(self.scheme, installed.version, candidate);
        let class = if from_security_repository || kinds.contains(&ErratumKind::Security) {
            UpdateClass::Security
        } else if major {
            UpdateClass::Major
        } else if kinds.contains(&ErratumKind::Enhancement)
            || kinds.contains(&ErratumKind::Newpackage)
        {
            UpdateClass::Enhancement
        } else if !kinds.is_empty()
            || only_release_differs(self.scheme, installed.version, candidate)
        {
            UpdateClass::Bugfix
        } else {
            UpdateClass::Enhancement
        };
        Some(MissingUpdate {
            name: installed.name.to_owned(),
            architecture: installed.architecture.to_owned(),
            installed_version: installed.version.to_owned(),
            candidate_version: candidate.to_owned(),
            candidate_architecture: best.arch.clone(),
            source_name: best.source_name.clone(),
            source_version: best.source_version.clone(),
            class,
            major,
            repositories: repositories.into_iter().collect(),
            errata: errata.into_iter().collect(),
            advisories: Vec::new(),
        })
    }

    /// Raises `update` to `security` for the open findings its candidate
    /// fixes, naming their advisories.
    pub fn apply_fixes(&self, update: &mut MissingUpdate, fixes: &[OpenFix]) {
        let candidate = match self.naming {
            Naming::Source => update.source_version.as_str(),
            Naming::Binary => update.candidate_version.as_str(),
        };
        let mut advisories: BTreeSet<String> = update.advisories.iter().cloned().collect();
        for f in fixes {
            if f.package == update.name
                && (f.architecture == update.architecture || f.architecture.is_empty())
                && matches!(
                    self.cmp(candidate, &f.fixed_version),
                    Some(Ordering::Greater | Ordering::Equal)
                )
            {
                advisories.insert(f.advisory_id.clone());
            }
        }
        if !advisories.is_empty() {
            update.class = UpdateClass::Security;
        }
        update.advisories = advisories.into_iter().collect();
    }

    /// A host's missing updates, by package name and architecture: per
    /// installed `(name, architecture)` the highest installed version only.
    pub fn missing_updates<'a>(
        &self,
        installed: impl IntoIterator<Item = PackageRef<'a>>,
        fixes: &[OpenFix],
    ) -> Vec<MissingUpdate> {
        let mut highest: HashMap<(&str, &str), PackageRef<'a>> = HashMap::new();
        for p in installed {
            if !self.offers(p.name) {
                continue;
            }
            match highest.entry((p.name, p.architecture)) {
                std::collections::hash_map::Entry::Vacant(v) => {
                    v.insert(p);
                }
                std::collections::hash_map::Entry::Occupied(mut o) => {
                    if self.cmp(p.version, o.get().version) == Some(Ordering::Greater) {
                        o.insert(p);
                    }
                }
            }
        }
        let mut out: Vec<MissingUpdate> = highest
            .into_values()
            .filter_map(|p| self.update_for(p))
            .map(|mut u| {
                self.apply_fixes(&mut u, fixes);
                u
            })
            .collect();
        out.sort_by(|a, b| (&a.name, &a.architecture).cmp(&(&b.name, &b.architecture)));
        out
    }
}

/// The leading digits of a version part, zeros trimmed (`None` when it
/// does not start with a digit).
fn leading_number(s: &str) -> Option<&str> {
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    (digits > 0).then(|| {
        let trimmed = s[..digits].trim_start_matches('0');
        if trimmed.is_empty() { "0" } else { trimmed }
    })
}

/// The first number in a version part (rpm versions may start with letters).
fn first_number(s: &str) -> Option<&str> {
    let start = s.find(|c: char| c.is_ascii_digit())?;
    leading_number(&s[start..])
}

/// Whether two first numbers are different major versions. Numbers of four
/// digits or more on both sides are dates (tzdata's `2024a`,
/// ca-certificates' `20240203`), which have no major version.
fn majors_differ(a: Option<&str>, b: Option<&str>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) if a.len() >= 4 && b.len() >= 4 => false,
        _ => a != b,
    }
}

/// Whether the upstream major version (or the epoch) differs.
pub fn major_differs(scheme: Scheme, installed: &str, candidate: &str) -> bool {
    match scheme {
        Scheme::Deb => match (deb::parse(installed), deb::parse(candidate)) {
            (Ok(a), Ok(b)) => {
                a.epoch != b.epoch
                    || majors_differ(leading_number(a.upstream), leading_number(b.upstream))
            }
            _ => false,
        },
        Scheme::Rpm => match (rpm::parse(installed), rpm::parse(candidate)) {
            (Ok(a), Ok(b)) => {
                let epoch =
                    |e: Option<&str>| leading_number(e.unwrap_or("0")).unwrap_or("0").to_owned();
                epoch(a.epoch) != epoch(b.epoch)
                    || majors_differ(first_number(a.version), first_number(b.version))
            }
            _ => false,
        },
        _ => majors_differ(first_number(installed), first_number(candidate)),
    }
}

/// Whether only the Debian revision, rpm release or apk `-rN` differs.
pub fn only_release_differs(scheme: Scheme, installed: &str, candidate: &str) -> bool {
    match scheme {
        Scheme::Deb => match (deb::parse(installed), deb::parse(candidate)) {
            (Ok(a), Ok(b)) => {
                a.epoch == b.epoch
                    && deb::verrevcmp(a.upstream.as_bytes(), b.upstream.as_bytes())
                        == Ordering::Equal
            }
            _ => false,
        },
        Scheme::Rpm => match (rpm::parse(installed), rpm::parse(candidate)) {
            (Ok(a), Ok(b)) => {
                let epoch =
                    |e: Option<&str>| leading_number(e.unwrap_or("0")).unwrap_or("0").to_owned();
                epoch(a.epoch) == epoch(b.epoch)
                    && rpm::rpmvercmp(a.version, b.version) == Ordering::Equal
            }
            _ => false,
        },
        _ => {
            let base = |v: &str| v.rsplit_once("-r").map_or(v, |(b, _)| b).to_owned();
            base(installed) == base(candidate)
        }
    }
}

#[cfg(test)]
mod tests {
    use rivet_core::inventory::PackageFormat;

    use super::*;
    use crate::repository::ErratumPackage;

    fn offered(name: &str, arch: &str, version: &str) -> OfferedPackage {
        OfferedPackage {
            name: name.into(),
            arch: arch.into(),
            version: version.into(),
            source_name: name.into(),
            source_version: version.into(),
        }
    }

    fn repo(name: &str, packages: Vec<OfferedPackage>) -> RepositoryOffer {
        RepositoryOffer {
            name: name.into(),
            security: false,
            approved: true,
            packages,
            errata: Vec::new(),
        }
    }

    fn installed<'a>(
        format: PackageFormat,
        name: &'a str,
        arch: &'a str,
        version: &'a str,
    ) -> PackageRef<'a> {
        PackageRef {
            format: Some(format),
            name,
            version,
            architecture: arch,
            source_name: name,
            source_version: version,
            ecosystem: None,
        }
    }

    fn deb<'a>(name: &'a str, arch: &'a str, version: &'a str) -> PackageRef<'a> {
        installed(PackageFormat::Deb, name, arch, version)
    }

    fn rpm<'a>(name: &'a str, arch: &'a str, version: &'a str) -> PackageRef<'a> {
        installed(PackageFormat::Rpm, name, arch, version)
    }

    fn debian(repos: &[RepositoryOffer]) -> Catalog {
        Catalog::new(Scheme::Deb, Naming::Source, repos)
    }

    fn alma(repos: &[RepositoryOffer]) -> Catalog {
        Catalog::new(Scheme::Rpm, Naming::Binary, repos)
    }

    fn one(c: &Catalog, p: PackageRef<'_>) -> MissingUpdate {
        c.update_for(p).expect("an update")
    }

    #[test]
    fn revision_only_is_bugfix_upstream_is_enhancement_major_is_major() {
        let c = debian(&[repo(
            "bookworm",
            vec![
                offered("bash", "amd64", "5.2.15-2+b8"),
                offered("curl", "amd64", "7.88.2-1"),
                offered("perl-base", "amd64", "6.0.1-1"),
                offered("zlib1g", "amd64", "2:1.2.13.dfsg-1"),
            ],
        )]);
        let u = one(&c, deb("bash", "amd64", "5.2.15-2+b7"));
        assert_eq!((u.class, u.major), (UpdateClass::Bugfix, false));
        assert_eq!(u.repositories, ["bookworm"]);
        assert_eq!(
            one(&c, deb("curl", "amd64", "7.88.1-10")).class,
            UpdateClass::Enhancement
        );
        let u = one(&c, deb("perl-base", "amd64", "5.36.0-7"));
        assert_eq!((u.class, u.major), (UpdateClass::Major, true));
        // An epoch change is a major one, whatever the upstream version.
        let u = one(&c, deb("zlib1g", "amd64", "1:1.2.13.dfsg-1"));
        assert_eq!((u.class, u.major), (UpdateClass::Major, true));
    }

    #[test]
    fn security_repository_wins_and_keeps_major() {
        let mut security = repo(
            "bookworm-security",
            vec![
                offered("libc6", "amd64", "2.36-9+deb12u11"),
                offered("openjdk", "amd64", "18.0-1"),
            ],
        );
        security.security = true;
        let main = repo(
            "bookworm",
            vec![offered("libc6", "amd64", "2.36-9+deb12u12")],
        );
        let c = debian(&[main, security]);
        // The newest comes from the main repository, but a security
        // version lies between: the update carries the security fix.
        let u = one(&c, deb("libc6", "amd64", "2.36-9+deb12u10"));
        assert_eq!(u.candidate_version, "2.36-9+deb12u12");
        assert_eq!((u.class, u.major), (UpdateClass::Security, false));
        assert_eq!(u.repositories, ["bookworm"]);
        // Installed past the security version: only a bug fix remains.
        let u = one(&c, deb("libc6", "amd64", "2.36-9+deb12u11"));
        assert_eq!(u.class, UpdateClass::Bugfix);
        let u = one(&c, deb("openjdk", "amd64", "17.0-1"));
        assert_eq!((u.class, u.major), (UpdateClass::Security, true));
    }

    #[test]
    fn open_findings_fixed_by_the_candidate_make_it_security() {
        let mut p = offered("libsystemd0", "amd64", "252.40-1~deb12u1");
        p.source_name = "systemd".into();
        let c = debian(&[repo("bookworm", vec![p])]);
        let fix = |fixed: &str, id: &str| OpenFix {
            package: "libsystemd0".into(),
            architecture: "amd64".into(),
            fixed_version: fixed.into(),
            advisory_id: id.into(),
        };
        let host = [deb("libsystemd0", "amd64", "252.39-1~deb12u2")];
        let fixes = [fix("252.40-1~deb12u1", "DSA-1"), fix("252.41-1", "DSA-2")];
        let u = &c.missing_updates(host, &fixes)[0];
        assert_eq!(u.class, UpdateClass::Security);
        assert_eq!(u.advisories, ["DSA-1"]);
        // A fix above the candidate does not make it a security update.
        let u = &c.missing_updates(host, &fixes[1..])[0];
        assert_eq!((u.class, u.advisories.len()), (UpdateClass::Enhancement, 0));
    }

    #[test]
    fn errata_class_rpm_updates_in_range() {
        let mut baseos = repo(
            "baseos",
            vec![
                offered("openssl", "x86_64", "1:3.0.7-27.el9"),
                offered("tzdata", "noarch", "2024a-1.el9"),
                offered("kernel-core", "x86_64", "5.14.0-427.13.1.el9_4"),
                offered("vim-minimal", "x86_64", "2:8.2.2637-21.el9"),
            ],
        );
        let erratum = |id: &str, kind, p: ErratumPackage| Erratum {
            id: id.into(),
            kind,
            severity: None,
            issued: None,
            title: None,
            cves: Vec::new(),
            references: Vec::new(),
            packages: vec![p],
        };
        let ep = |name: &str, arch: &str, version: &str| ErratumPackage {
            name: name.into(),
            arch: arch.into(),
            version: version.into(),
        };
        baseos.errata = vec![
            // A security erratum for a version between installed and candidate.
            erratum(
                "ALSA-1",
                ErratumKind::Security,
                ep("openssl", "x86_64", "1:3.0.7-25.el9"),
            ),
            erratum(
                "ALBA-2",
                ErratumKind::Bugfix,
                ep("openssl", "x86_64", "1:3.0.7-27.el9"),
            ),
            erratum(
                "ALBA-3",
                ErratumKind::Bugfix,
                ep("tzdata", "noarch", "2024a-1.el9"),
            ),
            erratum(
                "ALEA-4",
                ErratumKind::Enhancement,
                ep("kernel-core", "x86_64", "5.14.0-427.13.1.el9_4"),
            ),
            // Older than installed: not in range.
            erratum(
                "ALSA-0",
                ErratumKind::Security,
                ep("tzdata", "noarch", "2023c-1.el9"),
            ),
        ];
        let c = alma(&[baseos]);
        let u = one(&c, rpm("openssl", "x86_64", "1:3.0.7-24.el9"));
        assert_eq!(u.class, UpdateClass::Security);
        assert_eq!(u.errata, ["ALBA-2", "ALSA-1"]);
        // Past the security erratum: the bug fix only.
        let u = one(&c, rpm("openssl", "x86_64", "1:3.0.7-25.el9"));
        assert_eq!(
            (u.class, u.errata.clone()),
            (UpdateClass::Bugfix, vec!["ALBA-2".to_owned()])
        );
        // A new upstream version (a date, so not a major one) that an
        // erratum calls a bug fix is a bug fix.
        let u = one(&c, rpm("tzdata", "noarch", "2023d-1.el9"));
        assert_eq!(
            (u.class, u.errata.clone()),
            (UpdateClass::Bugfix, vec!["ALBA-3".to_owned()])
        );
        // A release-only change an erratum calls an enhancement.
        let u = one(&c, rpm("kernel-core", "x86_64", "5.14.0-362.8.1.el9_3"));
        assert_eq!(u.class, UpdateClass::Enhancement);
        // Epoch 2 over no epoch (0) is a major change.
        let u = one(&c, rpm("vim-minimal", "x86_64", "8.2.2637-20.el9"));
        assert_eq!((u.class, u.major), (UpdateClass::Major, true));
    }

    #[test]
    fn architectures_must_match_unless_all_or_noarch() {
        let c = debian(&[repo(
            "bookworm",
            vec![
                offered("libc6", "arm64", "2.36-9+deb12u12"),
                offered("tzdata", "all", "2026c-0+deb12u1"),
            ],
        )]);
        assert!(
            c.update_for(deb("libc6", "amd64", "2.36-9+deb12u10"))
                .is_none()
        );
        assert!(
            c.update_for(deb("libc6", "arm64", "2.36-9+deb12u10"))
                .is_some()
        );
        assert_eq!(
            one(&c, deb("tzdata", "all", "2026b-0+deb12u1")).candidate_architecture,
            "all"
        );
        let c = alma(&[repo(
            "appstream",
            vec![offered("python3-pip", "noarch", "21.3.1-1.el9")],
        )]);
        assert!(
            c.update_for(rpm("python3-pip", "x86_64", "21.2.3-7.el9"))
                .is_some()
        );
        assert!(
            c.update_for(rpm("python3-pip", "noarch", "21.2.3-7.el9"))
                .is_some()
        );
    }

    #[test]
    fn older_equal_and_unapproved_offers_are_ignored() {
        let mut unapproved = repo("backports", vec![offered("bash", "amd64", "5.3-1")]);
        unapproved.approved = false;
        let c = debian(&[
            repo(
                "bookworm",
                vec![
                    offered("bash", "amd64", "5.2.15-2"),
                    offered("bash", "amd64", "5.1-1"),
                ],
            ),
            unapproved,
        ]);
        assert!(c.update_for(deb("bash", "amd64", "5.2.15-2")).is_none());
        assert!(c.update_for(deb("bash", "amd64", "5.2.15-2+b7")).is_none());
        assert!(c.update_for(deb("dash", "amd64", "0.5.12-2")).is_none());
    }

    #[test]
    fn the_newest_of_several_repositories_wins() {
        let c = debian(&[
            repo(
                "bookworm",
                vec![offered("curl", "amd64", "7.88.1-10+deb12u5")],
            ),
            repo(
                "bookworm-updates",
                vec![offered("curl", "amd64", "7.88.1-10+deb12u8")],
            ),
            repo(
                "mirror",
                vec![offered("curl", "amd64", "7.88.1-10+deb12u8")],
            ),
        ]);
        let u = one(&c, deb("curl", "amd64", "7.88.1-10+deb12u4"));
        assert_eq!(u.candidate_version, "7.88.1-10+deb12u8");
        assert_eq!(u.repositories, ["bookworm-updates", "mirror"]);
    }

    #[test]
    fn several_installed_versions_compare_the_highest() {
        let c = alma(&[repo(
            "baseos",
            vec![offered("kernel-core", "x86_64", "5.14.0-427.13.1.el9_4")],
        )]);
        let current = [
            rpm("kernel-core", "x86_64", "5.14.0-362.8.1.el9_3"),
            rpm("kernel-core", "x86_64", "5.14.0-427.13.1.el9_4"),
        ];
        assert!(c.missing_updates(current, &[]).is_empty());
        let behind = [
            rpm("kernel-core", "x86_64", "5.14.0-284.11.1.el9_2"),
            rpm("kernel-core", "x86_64", "5.14.0-362.8.1.el9_3"),
        ];
        let u = c.missing_updates(behind, &[]);
        assert_eq!(u.len(), 1);
        assert_eq!(u[0].installed_version, "5.14.0-362.8.1.el9_3");
    }

    #[test]
    fn major_and_release_rules() {
        assert!(major_differs(Scheme::Deb, "1:2.0-1", "2:2.0-1"));
        assert!(!major_differs(Scheme::Deb, "2.36-9", "2.37-1"));
        assert!(major_differs(Scheme::Deb, "9.2p1-2", "10.0p1-1"));
        assert!(!major_differs(Scheme::Deb, "20230311", "20240203"));
        assert!(!major_differs(Scheme::Rpm, "2023d-1.el9", "2024a-1.el9"));
        assert!(!major_differs(
            Scheme::Rpm,
            "0:3.0.7-24.el9",
            "3.0.7-27.el9"
        ));
        assert!(major_differs(Scheme::Rpm, "3.0.7-24.el9", "1:3.0.7-24.el9"));
        assert!(only_release_differs(Scheme::Deb, "5.2.15-2", "5.2.15-2+b7"));
        assert!(!only_release_differs(Scheme::Deb, "5.2.15-2", "5.2.16-1"));
        assert!(only_release_differs(
            Scheme::Rpm,
            "3.0.7-24.el9",
            "0:3.0.7-27.el9"
        ));
        assert!(only_release_differs(Scheme::Apk, "1.2.3-r0", "1.2.3-r4"));
    }
}
