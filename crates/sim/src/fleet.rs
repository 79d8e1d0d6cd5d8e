//! The simulated fleet: which distribution each host runs and what its
//! inventory is, computed on demand from the shared [`Pools`], the fleet's
//! seed, the host's index and its generation.
//!
//! Nothing per host is kept but those numbers: a host's inventory in
//! generation `g` is its base inventory (a deterministic choice of packages
//! and versions) with the mutations of generations `1..=g` applied, each a
//! few upgrades plus one install or removal, as a real host's unattended
//! upgrades would make. So 100,000 hosts cost 100,000 small records, and the
//! same seed always gives the same fleet.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

use rivet_core::Timestamp;
use rivet_core::host::canonicalize;
use rivet_core::inventory::{
    Address, HostFacts, Inventory, Package, PackageManager, RebootStatus, Virtualization,
    VirtualizationKind,
};

use crate::pool::{Distro, Pools, Release, bump};
use crate::rng::Rng;

/// How many hosts of each distribution, as relative weights.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Mix(pub BTreeMap<String, u32>);

impl Mix {
    /// Parses `debian=40,ubuntu=30,almalinux=20,alpine=10`.
    pub fn parse(text: &str) -> Result<Mix, String> {
        let mut weights = BTreeMap::new();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, weight) = part
                .split_once('=')
                .ok_or_else(|| format!("{part:?} is not NAME=WEIGHT"))?;
            let name = name.trim();
            if Distro::from_name(name).is_none() {
                return Err(format!(
                    "unknown distribution {name:?} (expected debian, ubuntu, almalinux or alpine)"
                ));
            }
            let weight: u32 = weight
                .trim()
                .parse()
                .map_err(|_| format!("the weight of {name} ({weight:?}) is not a whole number"))?;
            if weights.insert(name.to_owned(), weight).is_some() {
                return Err(format!("{name} is given twice"));
            }
        }
        if weights.values().all(|&w| w == 0) {
            return Err("the mix gives no distribution a weight above 0".into());
        }
        Ok(Mix(weights))
    }

    /// The distribution of a host whose dice rolled `roll`.
    fn pick(&self, roll: &mut Rng) -> Distro {
        let total: u64 = self.0.values().map(|&w| u64::from(w)).sum();
        let mut at = roll.below(total);
        for (name, &weight) in &self.0 {
            if at < u64::from(weight) {
                return Distro::from_name(name).unwrap_or(Distro::Debian);
            }
            at -= u64::from(weight);
        }
        Distro::Debian
    }
}

/// Which release a host runs and how large it is: everything about a host
/// that does not change.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HostSpec {
    /// The fleet's seed.
    pub seed: u64,
    /// The host's number in the fleet.
    pub index: u32,
    /// Its distribution.
    pub distro: Distro,
    /// Which of the distribution's releases (an index into
    /// [`Pools::releases`]).
    pub release: usize,
    /// The chance that it has a given optional package.
    pub optional_share: f64,
}

/// Where a host stands on one package.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct SlotState {
    installed: bool,
    /// An index into the slot's versions; beyond the last, a [`bump`].
    version: u32,
}

impl HostSpec {
    /// The spec of host `index` of the fleet `seed`.
    pub fn new(pools: &Pools, mix: &Mix, seed: u64, index: u32) -> HostSpec {
        let mut rng = Rng::of(&[seed, u64::from(index), 1]);
        let distro = mix.pick(&mut rng);
        let releases = pools.releases(distro);
        let total: u64 = releases.iter().map(|r| u64::from(r.weight.max(1))).sum();
        let mut at = rng.below(total.max(1));
        let mut release = 0;
        for (i, r) in releases.iter().enumerate() {
            if at < u64::from(r.weight.max(1)) {
                release = i;
                break;
            }
            at -= u64::from(r.weight.max(1));
        }
        // Hosts differ in size: from 80 % to 120 % of the average.
        let size = 0.8 + 0.4 * rng.unit();
        let optional_share = releases
            .get(release)
            .map_or(0.0, |r| (r.optional_share * size).min(1.0));
        HostSpec {
            seed,
            index,
            distro,
            release,
            optional_share,
        }
    }

    /// The host's name.
    pub fn hostname(&self) -> String {
        format!("sim-{}-{:06}", self.distro.name(), self.index)
    }

    fn release<'p>(&self, pools: &'p Pools) -> &'p Release {
        &pools.releases(self.distro)[self.release]
    }

    fn rng(&self, parts: &[u64]) -> Rng {
        let mut all = vec![self.seed, u64::from(self.index)];
        all.extend_from_slice(parts);
        Rng::of(&all)
    }

    /// Where the host stands on package `slot` before any mutation.
    fn base(&self, release: &Release, slot: usize) -> SlotState {
        let mut rng = self.rng(&[2, slot as u64]);
        let s = &release.slots[slot];
        let installed = s.essential || rng.chance(self.optional_share);
        let newest = s.versions.len() as u32 - 1;
        // Most hosts run the newest build they know of; the rest lag behind
        // by a uniformly chosen number of updates (and so stay vulnerable
        // to what those fixed).
        let version = if newest == 0 || rng.chance(0.6) {
            newest
        } else {
            rng.below(u64::from(newest)) as u32
        };
        SlotState { installed, version }
    }

    /// The packages' states in `generation`, as overrides of [`Self::base`].
    fn mutations(&self, release: &Release, generation: u32) -> BTreeMap<usize, SlotState> {
        let mut changed: BTreeMap<usize, SlotState> = BTreeMap::new();
        let slots = release.slots.len() as u64;
        for g in 1..=generation {
            let mut rng = self.rng(&[3, u64::from(g)]);
            let state = |changed: &BTreeMap<usize, SlotState>, slot: usize| {
                changed
                    .get(&slot)
                    .copied()
                    .unwrap_or_else(|| self.base(release, slot))
            };
            // A few upgrades of installed packages.
            let upgrades = 1 + rng.below(3);
            let mut done = 0;
            for _ in 0..64 {
                let slot = rng.below(slots) as usize;
                let mut s = state(&changed, slot);
                if s.installed {
                    s.version += 1;
                    changed.insert(slot, s);
                    done += 1;
                    if done == upgrades {
                        break;
                    }
                }
            }
            // And one optional package installed or removed.
            for _ in 0..64 {
                let slot = rng.below(slots) as usize;
                if !release.slots[slot].essential {
                    let mut s = state(&changed, slot);
                    s.installed = !s.installed;
                    changed.insert(slot, s);
                    break;
                }
            }
        }
        changed
    }

    /// The host's inventory in `generation` (0 is the base), canonical.
    pub fn inventory(&self, pools: &Pools, generation: u32, collected_at: Timestamp) -> Inventory {
        let release = self.release(pools);
        let changed = self.mutations(release, generation);
        let format = self.distro.format();
        let mut packages =
            Vec::with_capacity((release.slots.len() as f64 * self.optional_share) as usize + 128);
        for (i, slot) in release.slots.iter().enumerate() {
            let state = changed
                .get(&i)
                .copied()
                .unwrap_or_else(|| self.base(release, i));
            if !state.installed {
                continue;
            }
            let known = slot.versions.len() as u32;
            let newest = &slot.versions[slot.versions.len() - 1];
            let version = match slot.versions.get(state.version as usize) {
                Some(v) => v.clone(),
                None => bump(format, newest, state.version + 1 - known),
            };
            packages.push(Package {
                format,
                name: slot.name.clone(),
                version: version.clone(),
                architecture: slot.architecture.clone(),
                source_name: slot.source_name.clone(),
                source_version: version,
                repository: None,
                installed_at: None,
            });
        }
        let mut inventory = Inventory {
            collected_at,
            host: self.facts(release),
            packages,
            unfinished_packages: Vec::new(),
            reboot: RebootStatus::default(),
            stale_processes: Vec::new(),
            problems: Vec::new(),
        };
        canonicalize(&mut inventory);
        inventory
    }

    fn facts(&self, release: &Release) -> HostFacts {
        let mut rng = self.rng(&[4]);
        let hostname = self.hostname();
        let machine_id = format!("{:016x}{:016x}", rng.next_u64(), rng.next_u64());
        let [_, _, b, c] = self.index.to_be_bytes();
        HostFacts {
            fqdn: Some(format!("{hostname}.sim.example")),
            hostname: Some(hostname),
            machine_id: Some(machine_id),
            os: Some(release.os.clone()),
            architecture: Some(release.architecture.to_owned()),
            running_kernel: Some(release.kernel.clone()),
            installed_kernels: Vec::new(),
            virtualization: Some(Virtualization {
                kind: VirtualizationKind::Vm,
                technology: Some("kvm".to_owned()),
            }),
            boot_time: Timestamp::from_second(1_750_000_000 + i64::from(self.index % 86_400)).ok(),
            addresses: vec![Address {
                interface: "eth0".to_owned(),
                address: IpAddr::V4(Ipv4Addr::new(10, (self.index >> 16) as u8, b, c)),
                prefix_len: 8,
            }],
            package_managers: match self.distro {
                Distro::Debian | Distro::Ubuntu => vec![PackageManager::Dpkg, PackageManager::Apt],
                Distro::AlmaLinux => vec![PackageManager::Rpm, PackageManager::Dnf],
                Distro::Alpine => vec![PackageManager::Apk],
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use rivet_core::host::{InventoryDelta, digest, software_changes};

    use super::*;
    use crate::pool::tests::real_pools;

    fn at() -> Timestamp {
        Timestamp::from_second(1_800_000_000).unwrap()
    }

    fn mix() -> Mix {
        Mix::parse("debian=40,ubuntu=30,almalinux=20,alpine=10").unwrap()
    }

    #[test]
    fn mixes_are_parsed_and_checked() {
        assert_eq!(mix().0.len(), 4);
        for (bad, says) in [
            ("debian", "NAME=WEIGHT"),
            ("gentoo=1", "unknown distribution \"gentoo\""),
            ("debian=x", "not a whole number"),
            ("debian=1,debian=2", "twice"),
            ("debian=0", "no distribution"),
            ("", "no distribution"),
        ] {
            let err = Mix::parse(bad).unwrap_err();
            assert!(err.contains(says), "{bad:?}: {err}");
        }
    }

    #[test]
    fn the_mix_decides_the_distributions() {
        let pools = real_pools();
        let mix = mix();
        let mut counts: BTreeMap<Distro, u32> = BTreeMap::new();
        for index in 0..2000 {
            *counts
                .entry(HostSpec::new(&pools, &mix, 7, index).distro)
                .or_default() += 1;
        }
        let share = |d| counts.get(&d).copied().unwrap_or(0);
        assert!((700..900).contains(&share(Distro::Debian)), "{counts:?}");
        assert!((500..700).contains(&share(Distro::Ubuntu)), "{counts:?}");
        assert!((300..500).contains(&share(Distro::AlmaLinux)), "{counts:?}");
        assert!((120..280).contains(&share(Distro::Alpine)), "{counts:?}");
        let only_alpine = Mix::parse("alpine=1,debian=0").unwrap();
        assert_eq!(
            HostSpec::new(&pools, &only_alpine, 7, 3).distro,
            Distro::Alpine
        );
    }

    #[test]
    fn the_same_seed_gives_the_same_inventory() {
        let pools = real_pools();
        for index in 0..8 {
            let spec = HostSpec::new(&pools, &mix(), 11, index);
            let a = spec.inventory(&pools, 2, at());
            let b = HostSpec::new(&pools, &mix(), 11, index).inventory(&pools, 2, at());
            assert_eq!(digest(&a), digest(&b));
            // The collection time is not part of the digest.
            let later = spec.inventory(&pools, 2, Timestamp::from_second(1).unwrap());
            assert_eq!(digest(&a), digest(&later));
        }
        let a = HostSpec::new(&pools, &mix(), 11, 0).inventory(&pools, 0, at());
        let b = HostSpec::new(&pools, &mix(), 12, 0).inventory(&pools, 0, at());
        assert_ne!(digest(&a), digest(&b), "another seed, another fleet");
    }

    #[test]
    fn inventories_are_canonical_and_realistically_sized() {
        let pools = real_pools();
        let mut sizes: BTreeMap<Distro, Vec<usize>> = BTreeMap::new();
        for index in 0..200 {
            let spec = HostSpec::new(&pools, &mix(), 5, index);
            let inventory = spec.inventory(&pools, 0, at());
            let mut copy = inventory.clone();
            canonicalize(&mut copy);
            assert_eq!(copy, inventory, "host {index} is canonical");
            let names: BTreeSet<_> = inventory
                .packages
                .iter()
                .map(|p| (&p.name, &p.architecture))
                .collect();
            assert_eq!(names.len(), inventory.packages.len(), "one version each");
            let host = &inventory.host;
            assert_eq!(host.hostname.as_deref(), Some(spec.hostname().as_str()));
            assert_eq!(host.os.as_ref().unwrap().id, spec.distro.name());
            sizes
                .entry(spec.distro)
                .or_default()
                .push(inventory.packages.len());
        }
        let mean = |d: Distro| {
            let s = &sizes[&d];
            s.iter().sum::<usize>() / s.len()
        };
        for distro in [Distro::Debian, Distro::Ubuntu, Distro::AlmaLinux] {
            assert!(
                (550..800).contains(&mean(distro)),
                "{distro:?}: {}",
                mean(distro)
            );
        }
        assert!(
            (100..200).contains(&mean(Distro::Alpine)),
            "{}",
            mean(Distro::Alpine)
        );
    }

    #[test]
    fn hosts_mix_old_and_new_versions() {
        let pools = real_pools();
        let only_alma = Mix::parse("almalinux=1").unwrap();
        let (mut old, mut newest) = (0, 0);
        for index in 0..20 {
            let spec = HostSpec::new(&pools, &only_alma, 3, index);
            let release = &pools.releases(Distro::AlmaLinux)[spec.release];
            for p in spec.inventory(&pools, 0, at()).packages {
                let slot = release.slots.iter().find(|s| s.name == p.name).unwrap();
                if slot.versions.len() > 1 {
                    if slot.versions.last() == Some(&p.version) {
                        newest += 1;
                    } else {
                        old += 1;
                    }
                }
            }
        }
        assert!(old > 0 && newest > old, "old {old}, newest {newest}");
    }

    #[test]
    fn a_generation_changes_a_few_packages_and_its_delta_applies() {
        let pools = real_pools();
        for index in 0..40 {
            let spec = HostSpec::new(&pools, &mix(), 9, index);
            let mut previous = spec.inventory(&pools, 0, at());
            for generation in 1..4 {
                let next = spec.inventory(&pools, generation, at());
                assert_ne!(
                    digest(&previous),
                    digest(&next),
                    "host {index} gen {generation}"
                );
                let changes = software_changes(&previous.packages, &next.packages);
                assert!(
                    (1..=5).contains(&changes.len()),
                    "host {index} gen {generation}: {} changes",
                    changes.len()
                );
                let delta = InventoryDelta::between(&previous, &next);
                assert_eq!(delta.base, digest(&previous));
                let applied = delta.apply(previous.packages.clone()).unwrap();
                assert_eq!(digest(&applied), digest(&next));
                previous = next;
            }
        }
    }
}
