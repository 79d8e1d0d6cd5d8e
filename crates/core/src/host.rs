//! Hosts in the CMDB (INV-4, INV-6): their attributes, the digest that tells
//! whether the server already holds an inventory, the delta an agent sends
//! instead of a whole inventory, and the software changes between two
//! package sets.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::Timestamp;
use crate::inventory::{
    HostFacts, Inventory, Package, PackageFormat, Problem, RebootStatus, StaleProcess,
    UnfinishedPackage,
};
use crate::validate::Invalid;

/// Whether a host serves others or is used by a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum HostRole {
    /// A server: rebooted automatically in its maintenance window.
    Server,
    /// A client (workstation, laptop): rebooted by its user.
    Client,
}

/// How much harm an outage of the host does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Criticality {
    /// Little.
    Low,
    /// Some.
    Medium,
    /// Much.
    High,
    /// The business stops.
    Critical,
}

/// Who answers for the host's patching: the provider or the customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Responsibility {
    /// The provider (internal IT or the managed-service provider).
    Provider,
    /// The customer.
    Customer,
}

/// Which software on a host the provider manages (INV-6, S002).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ManagedScope {
    /// The operating system.
    OperatingSystem,
    /// Standard applications preinstalled by the provider.
    StandardApplications,
    /// Middleware (web servers, databases, runtimes).
    Middleware,
    /// Software the customer installed.
    CustomerSoftware,
}

/// The attributes people give a host (INV-6). The customer is the host's
/// tenant.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct HostAttributes {
    /// The environment, e.g. `production`, `staging`.
    #[serde(default)]
    pub environment: Option<String>,
    /// Server or client.
    #[serde(default)]
    pub role: Option<HostRole>,
    /// How critical the host is.
    #[serde(default)]
    pub criticality: Option<Criticality>,
    /// The person or team that owns the host.
    #[serde(default)]
    pub owner: Option<String>,
    /// Who answers for its patching.
    #[serde(default)]
    pub responsible: Option<Responsibility>,
    /// Which of its software the provider manages.
    #[serde(default)]
    pub managed_scope: BTreeSet<ManagedScope>,
    /// Groups the host belongs to.
    #[serde(default)]
    pub groups: BTreeSet<String>,
    /// Free tags.
    #[serde(default)]
    pub tags: BTreeSet<String>,
    /// The pilot ring it is rolled out in, e.g. `pilot`, `broad`.
    #[serde(default)]
    pub ring: Option<String>,
    /// The name of its maintenance window.
    #[serde(default)]
    pub maintenance_window: Option<String>,
}

/// At most this many groups and as many tags per host.
pub const MAX_LABELS: usize = 64;

impl HostAttributes {
    /// Checks every field, naming the first that is wrong.
    pub fn validate(&self) -> Result<(), Invalid> {
        for (field, value) in [
            ("environment", &self.environment),
            ("ring", &self.ring),
            ("maintenance_window", &self.maintenance_window),
        ] {
            if let Some(value) = value {
                label(field, value)?;
            }
        }
        if let Some(owner) = &self.owner {
            crate::validate::display_name("owner", owner, 200)?;
        }
        for (field, set) in [("groups", &self.groups), ("tags", &self.tags)] {
            if set.len() > MAX_LABELS {
                return Err(Invalid {
                    field,
                    reason: format!("at most {MAX_LABELS} entries"),
                });
            }
            for value in set {
                label(field, value)?;
            }
        }
        Ok(())
    }
}

/// A label (group, tag, ring, environment, window name): 1 to 64 of
/// `A-Z a-z 0-9 . _ - : = /`, starting with a letter or digit.
pub fn label(field: &'static str, value: &str) -> Result<(), Invalid> {
    let ok_first = value
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric());
    if value.is_empty() || value.len() > 64 || !ok_first {
        return Err(Invalid {
            field,
            reason: format!(
                "{:?} must be 1 to 64 characters and start with a letter or digit",
                value.chars().take(80).collect::<String>()
            ),
        });
    }
    if let Some(c) = value
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':' | '=' | '/')))
    {
        return Err(Invalid {
            field,
            reason: format!(
                "{c:?} is not allowed in {value:?} (use letters, digits and . _ - : = /)"
            ),
        });
    }
    Ok(())
}

/// The SHA-256 of an inventory's canonical form, as 64 lowercase hex
/// digits. Equal digests mean equal inventories, whenever they were
/// collected.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(try_from = "String", into = "String")]
pub struct InventoryDigest(String);

impl InventoryDigest {
    /// The digest as hex.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for InventoryDigest {
    type Error = String;
    fn try_from(value: String) -> Result<Self, String> {
        if value.len() == 64
            && value
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        {
            Ok(InventoryDigest(value))
        } else {
            Err("an inventory digest is 64 lowercase hex digits".into())
        }
    }
}

impl From<InventoryDigest> for String {
    fn from(d: InventoryDigest) -> String {
        d.0
    }
}

impl std::fmt::Display for InventoryDigest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The order packages are kept in: format, name, architecture, version
/// (as text: a total order, not a version order).
pub fn package_order(a: &Package, b: &Package) -> Ordering {
    (a.format as u8, &a.name, &a.architecture, &a.version).cmp(&(
        b.format as u8,
        &b.name,
        &b.architecture,
        &b.version,
    ))
}

/// Brings an inventory into its canonical form: packages in
/// [`package_order`] without duplicates, installation times in whole seconds
/// (the precision the store keeps).
pub fn canonicalize(inventory: &mut Inventory) {
    for package in &mut inventory.packages {
        truncate_installed_at(package);
    }
    inventory.packages.sort_by(package_order);
    inventory.packages.dedup();
}

fn truncate_installed_at(package: &mut Package) {
    if let Some(at) = package.installed_at {
        package.installed_at = Timestamp::from_second(at.as_second()).ok();
    }
}

/// The digest of an inventory: everything in it except when it was
/// collected. The inventory must be in canonical form ([`canonicalize`]).
pub fn digest(inventory: &Inventory) -> InventoryDigest {
    let mut hasher = Sha256::new();
    let rest = Rest::of(inventory);
    // Serialising plain data to a Vec cannot fail.
    let rest = serde_json::to_vec(&rest).unwrap_or_default();
    hasher.update((rest.len() as u64).to_be_bytes());
    hasher.update(&rest);
    for package in &inventory.packages {
        let line = serde_json::to_vec(package).unwrap_or_default();
        hasher.update((line.len() as u64).to_be_bytes());
        hasher.update(&line);
    }
    InventoryDigest(hex::encode(hasher.finalize()))
}

/// Everything of an inventory but its packages and collection time: what
/// the server keeps as one document per host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InventoryRest {
    /// Facts about the host.
    pub host: HostFacts,
    /// Packages left half-way.
    pub unfinished_packages: Vec<UnfinishedPackage>,
    /// Whether the host must reboot.
    pub reboot: RebootStatus,
    /// Processes that must restart.
    pub stale_processes: Vec<StaleProcess>,
    /// What the agent could not read.
    pub problems: Vec<Problem>,
}

#[derive(Serialize)]
struct Rest<'a> {
    host: &'a HostFacts,
    unfinished_packages: &'a [UnfinishedPackage],
    reboot: &'a RebootStatus,
    stale_processes: &'a [StaleProcess],
    problems: &'a [Problem],
}

impl<'a> Rest<'a> {
    fn of(inventory: &'a Inventory) -> Self {
        Rest {
            host: &inventory.host,
            unfinished_packages: &inventory.unfinished_packages,
            reboot: &inventory.reboot,
            stale_processes: &inventory.stale_processes,
            problems: &inventory.problems,
        }
    }
}

impl InventoryRest {
    /// The non-package part of an inventory.
    pub fn of(inventory: &Inventory) -> Self {
        InventoryRest {
            host: inventory.host.clone(),
            unfinished_packages: inventory.unfinished_packages.clone(),
            reboot: inventory.reboot.clone(),
            stale_processes: inventory.stale_processes.clone(),
            problems: inventory.problems.clone(),
        }
    }

    /// The inventory this part and these packages make.
    pub fn into_inventory(self, collected_at: Timestamp, packages: Vec<Package>) -> Inventory {
        let mut inventory = Inventory {
            collected_at,
            host: self.host,
            packages,
            unfinished_packages: self.unfinished_packages,
            reboot: self.reboot,
            stale_processes: self.stale_processes,
            problems: self.problems,
        };
        canonicalize(&mut inventory);
        inventory
    }
}

/// What changed between an inventory the server holds (`base`) and a new one
/// (`digest`): the new non-package part whole, packages as differences.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InventoryDelta {
    /// The digest of the inventory this delta applies to.
    pub base: InventoryDigest,
    /// The digest of the inventory it makes.
    pub digest: InventoryDigest,
    /// When the new inventory was collected.
    pub collected_at: Timestamp,
    /// The new non-package part.
    pub rest: InventoryRest,
    /// Packages in the new inventory but not in the base.
    pub added: Vec<Package>,
    /// Packages in the base but not in the new inventory.
    pub removed: Vec<Package>,
}

impl InventoryDelta {
    /// The delta from `base` to `new`, both canonical.
    pub fn between(base: &Inventory, new: &Inventory) -> Self {
        let old: BTreeSet<PackageRef<'_>> = base.packages.iter().map(PackageRef).collect();
        let now: BTreeSet<PackageRef<'_>> = new.packages.iter().map(PackageRef).collect();
        InventoryDelta {
            base: digest(base),
            digest: digest(new),
            collected_at: new.collected_at,
            rest: InventoryRest::of(new),
            added: now.difference(&old).map(|p| p.0.clone()).collect(),
            removed: old.difference(&now).map(|p| p.0.clone()).collect(),
        }
    }

    /// Applies the delta to the base's packages and checks that the result
    /// has the promised digest.
    pub fn apply(self, base_packages: Vec<Package>) -> Result<Inventory, DeltaMismatch> {
        let mut packages: BTreeSet<OwnedRef> = base_packages.into_iter().map(OwnedRef).collect();
        for mut p in self.removed {
            truncate_installed_at(&mut p);
            packages.remove(&OwnedRef(p));
        }
        for mut p in self.added {
            truncate_installed_at(&mut p);
            packages.insert(OwnedRef(p));
        }
        let inventory = self.rest.into_inventory(
            self.collected_at,
            packages.into_iter().map(|p| p.0).collect(),
        );
        let got = digest(&inventory);
        if got == self.digest {
            Ok(inventory)
        } else {
            Err(DeltaMismatch {
                expected: self.digest,
                got,
            })
        }
    }
}

/// A delta that did not reproduce its digest: the agent's idea of the base
/// differs from the server's, and a full inventory is needed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the delta makes an inventory with digest {got}, not the promised {expected}")]
pub struct DeltaMismatch {
    /// The digest the agent promised.
    pub expected: InventoryDigest,
    /// The digest the delta produced.
    pub got: InventoryDigest,
}

#[derive(PartialEq, Eq)]
struct PackageRef<'a>(&'a Package);
impl Ord for PackageRef<'_> {
    fn cmp(&self, other: &Self) -> Ordering {
        package_order(self.0, other.0).then_with(|| full_key(self.0).cmp(&full_key(other.0)))
    }
}
impl PartialOrd for PackageRef<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[derive(PartialEq, Eq)]
struct OwnedRef(Package);
impl Ord for OwnedRef {
    fn cmp(&self, other: &Self) -> Ordering {
        PackageRef(&self.0).cmp(&PackageRef(&other.0))
    }
}
impl PartialOrd for OwnedRef {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

type FullKey<'a> = (&'a str, &'a str, Option<&'a str>, Option<Timestamp>);
fn full_key(p: &Package) -> FullKey<'_> {
    (
        &p.source_name,
        &p.source_version,
        p.repository.as_deref(),
        p.installed_at,
    )
}

/// What happened to a package between two inventories.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// It appeared.
    Installed,
    /// Its version went up.
    Upgraded,
    /// Its version went down.
    Downgraded,
    /// It disappeared.
    Removed,
}

impl ChangeKind {
    /// The name used in the API and the store.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Installed => "installed",
            ChangeKind::Upgraded => "upgraded",
            ChangeKind::Downgraded => "downgraded",
            ChangeKind::Removed => "removed",
        }
    }

    /// The kind from its name.
    pub fn parse(s: &str) -> Option<Self> {
        [
            ChangeKind::Installed,
            ChangeKind::Upgraded,
            ChangeKind::Downgraded,
            ChangeKind::Removed,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// One software change on a host (INV-4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SoftwareChange<'a> {
    /// What happened.
    pub kind: ChangeKind,
    /// The package before (none when installed).
    pub old: Option<&'a Package>,
    /// The package after (none when removed).
    pub new: Option<&'a Package>,
}

/// The software changes from the package set `old` to `new`. Packages are
/// matched by format, name and architecture; where one version of a name was
/// replaced by one other version, that is an upgrade or a downgrade by the
/// format's version order; otherwise versions that disappeared are removals
/// and versions that appeared are installations (several kernels side by
/// side, say). Identical packages are no change.
pub fn software_changes<'a>(old: &'a [Package], new: &'a [Package]) -> Vec<SoftwareChange<'a>> {
    type Key<'k> = (u8, &'k str, &'k str);
    let mut by_key: BTreeMap<Key<'a>, (Vec<&'a Package>, Vec<&'a Package>)> = BTreeMap::new();
    for p in old {
        by_key
            .entry((p.format as u8, &p.name, &p.architecture))
            .or_default()
            .0
            .push(p);
    }
    for p in new {
        by_key
            .entry((p.format as u8, &p.name, &p.architecture))
            .or_default()
            .1
            .push(p);
    }
    let mut changes = Vec::new();
    for (_, (before, after)) in by_key {
        let gone: Vec<&Package> = before
            .iter()
            .copied()
            .filter(|b| !after.iter().any(|a| a.version == b.version))
            .collect();
        let came: Vec<&Package> = after
            .iter()
            .copied()
            .filter(|a| !before.iter().any(|b| b.version == a.version))
            .collect();
        match (gone.as_slice(), came.as_slice()) {
            ([o], [n]) => {
                let kind = match compare(o.format, &n.version, &o.version) {
                    Ordering::Less => ChangeKind::Downgraded,
                    _ => ChangeKind::Upgraded,
                };
                changes.push(SoftwareChange {
                    kind,
                    old: Some(o),
                    new: Some(n),
                });
            }
            _ => {
                changes.extend(gone.into_iter().map(|o| SoftwareChange {
                    kind: ChangeKind::Removed,
                    old: Some(o),
                    new: None,
                }));
                changes.extend(came.into_iter().map(|n| SoftwareChange {
                    kind: ChangeKind::Installed,
                    old: None,
                    new: Some(n),
                }));
            }
        }
    }
    changes
}

fn compare(format: PackageFormat, a: &str, b: &str) -> Ordering {
    // A version the scheme cannot parse orders as text: the change is still
    // recorded, as an upgrade unless the text says otherwise.
    crate::version::compare(format.scheme(), a, b).unwrap_or_else(|_| a.cmp(b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::PackageFormat;

    fn pkg(name: &str, version: &str) -> Package {
        Package {
            format: PackageFormat::Deb,
            name: name.into(),
            version: version.into(),
            architecture: "amd64".into(),
            source_name: name.into(),
            source_version: version.into(),
            repository: None,
            installed_at: None,
        }
    }

    fn inventory(packages: Vec<Package>) -> Inventory {
        let mut inv = Inventory {
            collected_at: Timestamp::from_second(1_700_000_000).unwrap(),
            host: HostFacts::default(),
            packages,
            unfinished_packages: vec![],
            reboot: RebootStatus::default(),
            stale_processes: vec![],
            problems: vec![],
        };
        canonicalize(&mut inv);
        inv
    }

    #[test]
    fn digest_ignores_collection_time_and_package_order() {
        let a = inventory(vec![pkg("a", "1"), pkg("b", "2")]);
        let mut b = inventory(vec![pkg("b", "2"), pkg("a", "1")]);
        b.collected_at = Timestamp::from_second(1_800_000_000).unwrap();
        assert_eq!(digest(&a), digest(&b));
        let c = inventory(vec![pkg("a", "1"), pkg("b", "3")]);
        assert_ne!(digest(&a), digest(&c));
        let mut d = a.clone();
        d.reboot.required = true;
        assert_ne!(digest(&a), digest(&d));
    }

    #[test]
    fn a_delta_reproduces_the_new_inventory() {
        let base = inventory(vec![pkg("a", "1"), pkg("b", "2"), pkg("c", "1")]);
        let mut new = inventory(vec![pkg("a", "1"), pkg("b", "3"), pkg("d", "1")]);
        new.host.hostname = Some("web1".into());
        let delta = InventoryDelta::between(&base, &new);
        assert_eq!(delta.added.len(), 2);
        assert_eq!(delta.removed.len(), 2);
        let applied = delta.clone().apply(base.packages.clone()).unwrap();
        assert_eq!(applied, new);
        // Applied to a different base, the digest no longer matches.
        let err = delta.apply(vec![pkg("z", "9")]).unwrap_err();
        assert_eq!(err.expected, digest(&new));
    }

    #[test]
    fn changes_are_classified_by_version_order() {
        let old = [
            pkg("libc6", "2.36-9"),
            pkg("curl", "7.88.1-10"),
            pkg("vim", "2:9.0"),
        ];
        let new = [
            pkg("libc6", "2.36-9+deb12u4"),
            pkg("curl", "7.88.1-9"),
            pkg("jq", "1.6"),
        ];
        let mut got: Vec<(ChangeKind, &str)> = software_changes(&old, &new)
            .iter()
            .map(|c| (c.kind, c.old.or(c.new).unwrap().name.as_str()))
            .collect();
        got.sort();
        assert_eq!(
            got,
            vec![
                (ChangeKind::Installed, "jq"),
                (ChangeKind::Upgraded, "libc6"),
                (ChangeKind::Downgraded, "curl"),
                (ChangeKind::Removed, "vim"),
            ]
        );
        assert!(software_changes(&old, &old).is_empty());
    }

    #[test]
    fn side_by_side_versions_are_installed_and_removed() {
        let old = [pkg("linux-image", "6.1.1"), pkg("linux-image", "6.1.2")];
        let new = [
            pkg("linux-image", "6.1.2"),
            pkg("linux-image", "6.1.3"),
            pkg("linux-image", "6.1.4"),
        ];
        let kinds: Vec<ChangeKind> = software_changes(&old, &new)
            .iter()
            .map(|c| c.kind)
            .collect();
        assert_eq!(
            kinds,
            vec![
                ChangeKind::Removed,
                ChangeKind::Installed,
                ChangeKind::Installed
            ]
        );
    }

    #[test]
    fn attributes_are_validated_by_field() {
        let mut a = HostAttributes {
            tags: ["pci".to_string(), "team=web".into()].into(),
            ..Default::default()
        };
        assert_eq!(a.validate(), Ok(()));
        a.groups.insert("bad label".into());
        assert_eq!(a.validate().unwrap_err().field, "groups");
        let bad: Result<HostAttributes, _> = serde_json::from_str(r#"{"colour":"red"}"#);
        assert!(bad.unwrap_err().to_string().contains("colour"));
    }
}
