//! Missing updates (ASM-3), computed on demand: a host's packages against
//! the approved repositories its tenant may use for its ecosystem (its own
//! and the provider-wide ones), with its open findings' fixed versions. The
//! store reads, [`rivet_assess::updates::Catalog`] decides.
//!
//! A summary over many hosts groups them by tenant and ecosystem (which
//! decide the repositories), evaluates each distinct installed package once,
//! and then reads only which hosts hold the packages that have an update:
//! its cost is one pass of the database over the hosts' package rows, plus
//! work proportional to the (host, package) pairs that have updates.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use rivet_assess::ecosystem::{Ecosystem, of_os};
use rivet_assess::package::PackageRef;
use rivet_assess::repository::{Erratum, ErratumKind, ErratumPackage, OfferedPackage};
use rivet_assess::updates::{Catalog, MissingUpdate, OpenFix, RepositoryOffer};
use rivet_core::access::Visibility;
use rivet_core::id::{HostId, TenantId};
use rivet_core::inventory::{OsRelease, Package};
use rivet_core::update::UpdateClass;
use rivet_store::{OpenFixRow, Repository, Store, StoreError, UpdateHost};
use serde::Serialize;
use utoipa::ToSchema;

/// A host's missing updates.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct HostUpdates {
    /// The host.
    #[schema(value_type = String)]
    pub host_id: HostId,
    /// Its ecosystem (`Debian:12`), when its OS is known.
    pub ecosystem: Option<String>,
    /// The approved repositories it was compared with.
    pub repositories: Vec<String>,
    /// Why nothing could be compared (unknown OS, no approved repository).
    pub reason: Option<String>,
    /// The updates, by package name.
    pub updates: Vec<MissingUpdate>,
}

/// Hosts with missing updates, per class.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct UpdateSummary {
    /// Hosts considered.
    pub hosts: u64,
    /// Hosts with at least one missing update.
    pub hosts_with_updates: u64,
    /// Hosts with at least one update of each class.
    pub hosts_by_class: BTreeMap<String, u64>,
    /// Hosts with at least one major upgrade, whatever its class (a
    /// security update may be one).
    pub hosts_with_major_upgrades: u64,
    /// Missing updates (host × package) per class.
    pub updates_by_class: BTreeMap<String, u64>,
    /// Hosts whose ecosystem has no approved repository for their tenant.
    pub hosts_without_repositories: u64,
    /// Hosts whose operating system Rivet cannot tell.
    pub hosts_unknown_os: u64,
    /// Distinct installed packages evaluated.
    pub distinct_packages: u64,
}

fn ecosystem_of(host: &UpdateHost) -> Result<Ecosystem, String> {
    let os = OsRelease {
        id: host.os_id.clone().unwrap_or_default(),
        version_id: host.os_version.clone(),
        ..OsRelease::default()
    };
    if host.os_id.is_none() {
        return Err("the host's operating system is not known".into());
    }
    of_os(&os).map_err(|e| e.reason)
}

/// The catalog of `repositories` restricted to packages named `names`.
async fn catalog(
    store: &Store,
    ecosystem: &Ecosystem,
    repositories: &[Repository],
    names: &[String],
) -> Result<Catalog, StoreError> {
    let ids: Vec<String> = repositories.iter().map(|r| r.id.clone()).collect();
    let mut offers: HashMap<&str, RepositoryOffer> = repositories
        .iter()
        .map(|r| {
            (
                r.id.as_str(),
                RepositoryOffer {
                    name: r.name.clone(),
                    security: r.security,
                    approved: r.approved,
                    ..RepositoryOffer::default()
                },
            )
        })
        .collect();
    for (repo, p) in store.repository_offers(&ids, names).await? {
        if let Some(o) = offers.get_mut(repo.as_str()) {
            o.packages.push(OfferedPackage {
                name: p.name,
                arch: p.arch,
                version: p.version,
                source_name: p.source_name,
                source_version: p.source_version,
            });
        }
    }
    let mut errata: HashMap<(String, String), Erratum> = HashMap::new();
    for e in store.repository_erratum_offers(&ids, names).await? {
        let Some(kind) = ErratumKind::parse(&e.kind) else {
            continue;
        };
        errata
            .entry((e.repository_id.clone(), e.erratum_id.clone()))
            .or_insert_with(|| Erratum {
                id: e.erratum_id.clone(),
                kind,
                severity: None,
                issued: None,
                title: None,
                cves: Vec::new(),
                references: Vec::new(),
                packages: Vec::new(),
            })
            .packages
            .push(ErratumPackage {
                name: e.name,
                arch: e.arch,
                version: e.version,
            });
    }
    for ((repo, _), erratum) in errata {
        if let Some(o) = offers.get_mut(repo.as_str()) {
            o.errata.push(erratum);
        }
    }
    // In the order of `repositories`, so that reports are stable.
    let ordered: Vec<RepositoryOffer> = repositories
        .iter()
        .filter_map(|r| offers.remove(r.id.as_str()))
        .collect();
    Ok(Catalog::new(
        ecosystem.scheme(),
        ecosystem.naming(),
        &ordered,
    ))
}

fn fixes_of(rows: Vec<OpenFixRow>) -> HashMap<i64, Vec<OpenFix>> {
    let mut out: HashMap<i64, Vec<OpenFix>> = HashMap::new();
    for r in rows {
        out.entry(r.host_seq).or_default().push(OpenFix {
            package: r.package,
            architecture: r.architecture,
            fixed_version: r.fixed_version,
            advisory_id: r.advisory_id,
        });
    }
    out
}

/// Whether `update` is of one of `classes` (all when empty); `major`
/// selects every major upgrade, whatever its class.
pub fn selected(update: &MissingUpdate, classes: &[UpdateClass]) -> bool {
    classes.is_empty()
        || classes.contains(&update.class)
        || (update.major && classes.contains(&UpdateClass::Major))
}

/// One host's missing updates.
pub async fn for_host(store: &Store, host: &UpdateHost) -> Result<HostUpdates, StoreError> {
    let mut out = HostUpdates {
        host_id: host.id,
        ecosystem: None,
        repositories: Vec::new(),
        reason: None,
        updates: Vec::new(),
    };
    let ecosystem = match ecosystem_of(host) {
        Ok(e) => e,
        Err(reason) => {
            out.reason = Some(reason);
            return Ok(out);
        }
    };
    out.ecosystem = Some(ecosystem.key().to_owned());
    let repositories = store
        .approved_repositories(host.tenant_id, ecosystem.key())
        .await?;
    if repositories.is_empty() {
        out.reason = Some(format!(
            "no approved repository serves {} for the host's tenant",
            ecosystem.key()
        ));
        return Ok(out);
    }
    out.repositories = repositories.iter().map(|r| r.name.clone()).collect();
    let packages: Vec<Package> = store.host_packages(host.id).await?;
    let names: Vec<String> = packages
        .iter()
        .map(|p| p.name.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let catalog = catalog(store, &ecosystem, &repositories, &names).await?;
    let fixes = fixes_of(store.open_fixes(&[host.seq], &names).await?);
    out.updates = catalog.missing_updates(
        packages.iter().map(PackageRef::from),
        fixes.get(&host.seq).map(Vec::as_slice).unwrap_or(&[]),
    );
    Ok(out)
}

/// Hosts with missing updates per class, of the visible tenants (of one
/// with `tenant`).
pub async fn summary(
    store: &Store,
    vis: &Visibility,
    tenant: Option<TenantId>,
) -> Result<UpdateSummary, StoreError> {
    let hosts = store.update_hosts(vis, tenant, None).await?;
    let mut out = UpdateSummary {
        hosts: hosts.len() as u64,
        ..UpdateSummary::default()
    };
    // The repositories depend on the tenant and the ecosystem.
    let mut groups: BTreeMap<(TenantId, String), (Ecosystem, Vec<i64>)> = BTreeMap::new();
    for host in &hosts {
        match ecosystem_of(host) {
            Ok(e) => {
                groups
                    .entry((host.tenant_id, e.key().to_owned()))
                    .or_insert_with(|| (e, Vec::new()))
                    .1
                    .push(host.seq);
            }
            Err(_) => out.hosts_unknown_os += 1,
        }
    }
    let mut by_class: BTreeMap<UpdateClass, BTreeSet<i64>> = BTreeMap::new();
    let mut major: BTreeSet<i64> = BTreeSet::new();
    let mut with_updates: BTreeSet<i64> = BTreeSet::new();
    for ((tenant, key), (ecosystem, seqs)) in groups {
        let repositories = store.approved_repositories(tenant, &key).await?;
        if repositories.is_empty() {
            out.hosts_without_repositories += seqs.len() as u64;
            continue;
        }
        let ids = store.distinct_package_ids(&seqs).await?;
        out.distinct_packages += ids.len() as u64;
        let packages: HashMap<i64, Package> =
            store.packages_by_id(&ids).await?.into_iter().collect();
        let names: Vec<String> = packages
            .values()
            .map(|p| p.name.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let catalog = catalog(store, &ecosystem, &repositories, &names).await?;
        // Names with an update for some installed version; every installed
        // version of them is read, since only a host's highest counts.
        let updated: BTreeSet<&str> = packages
            .values()
            .filter(|p| catalog.update_for(PackageRef::from(*p)).is_some())
            .map(|p| p.name.as_str())
            .collect();
        let relevant: Vec<i64> = packages
            .iter()
            .filter(|(_, p)| updated.contains(p.name.as_str()))
            .map(|(id, _)| *id)
            .collect();
        let mut held: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
        for (seq, id) in store.hosts_holding(&seqs, &relevant).await? {
            held.entry(seq).or_default().push(id);
        }
        let names: Vec<String> = updated.iter().map(|n| (*n).to_owned()).collect();
        let fixes = fixes_of(store.open_fixes(&seqs, &names).await?);
        for (seq, ids) in held {
            let updates = catalog.missing_updates(
                ids.iter()
                    .filter_map(|id| packages.get(id))
                    .map(PackageRef::from),
                fixes.get(&seq).map(Vec::as_slice).unwrap_or(&[]),
            );
            for u in &updates {
                by_class.entry(u.class).or_default().insert(seq);
                *out.updates_by_class
                    .entry(u.class.as_str().to_owned())
                    .or_default() += 1;
                if u.major {
                    major.insert(seq);
                }
            }
            if !updates.is_empty() {
                with_updates.insert(seq);
            }
        }
    }
    for class in [
        UpdateClass::Security,
        UpdateClass::Bugfix,
        UpdateClass::Enhancement,
        UpdateClass::Major,
    ] {
        out.hosts_by_class.insert(
            class.as_str().to_owned(),
            by_class.get(&class).map_or(0, |s| s.len() as u64),
        );
        out.updates_by_class
            .entry(class.as_str().to_owned())
            .or_default();
    }
    out.hosts_with_major_upgrades = major.len() as u64;
    out.hosts_with_updates = with_updates.len() as u64;
    Ok(out)
}
