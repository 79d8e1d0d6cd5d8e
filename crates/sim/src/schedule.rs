//! The steady phase's plan, as pure functions of the check-in's number: when
//! it is due, which host makes it, and whether that host's inventory changed
//! first.

use std::time::Duration;

use crate::rng::Rng;

/// When the `n`-th check-in (from 0) is due after the phase starts, at
/// `rate` check-ins per second; `None` for rate 0 (as fast as possible).
pub fn due(n: u64, rate: f64) -> Option<Duration> {
    (rate > 0.0).then(|| Duration::from_secs_f64(n as f64 / rate))
}

/// Spreads check-ins over `hosts` hosts: consecutive check-ins go to hosts
/// far apart, and every `hosts` consecutive check-ins reach each host once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spread {
    hosts: u64,
    stride: u64,
    offset: u64,
}

impl Spread {
    /// A spread over `hosts` (> 0) hosts, its order chosen by `seed`.
    pub fn new(hosts: u64, seed: u64) -> Spread {
        let hosts = hosts.max(1);
        // A stride coprime with the host count visits every host once per
        // round; near the golden section it scatters neighbours.
        let mut stride = ((hosts as f64 * 0.618_033_988_7) as u64).max(1);
        while gcd(stride, hosts) != 1 {
            stride += 1;
        }
        Spread {
            hosts,
            stride,
            offset: Rng::of(&[seed, 5]).below(hosts),
        }
    }

    /// The host (an index below the host count) of check-in `n`.
    pub fn host(&self, n: u64) -> u64 {
        ((u128::from(n) * u128::from(self.stride) + u128::from(self.offset))
            % u128::from(self.hosts)) as u64
    }
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// Whether check-in `n` of the run `seed` first changes its host's
/// inventory, for a `fraction` (0 to 1) of all check-ins.
pub fn changes(seed: u64, n: u64, fraction: f64) -> bool {
    Rng::of(&[seed, 6, n]).chance(fraction)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn check_ins_are_due_at_the_rate() {
        assert_eq!(due(0, 100.0), Some(Duration::ZERO));
        assert_eq!(due(250, 100.0), Some(Duration::from_millis(2500)));
        assert_eq!(due(3, 0.5), Some(Duration::from_secs(6)));
        assert_eq!(due(10, 0.0), None);
    }

    #[test]
    fn every_round_reaches_every_host_once() {
        for hosts in [1, 2, 7, 10, 100, 1000, 4096] {
            let spread = Spread::new(hosts, 3);
            for round in 0..3 {
                let seen: BTreeSet<u64> = (round * hosts..(round + 1) * hosts)
                    .map(|n| spread.host(n))
                    .collect();
                assert_eq!(seen.len() as u64, hosts, "{hosts} hosts, round {round}");
                assert!(seen.iter().all(|&h| h < hosts));
            }
        }
        // Neighbouring check-ins are far apart, so that concurrent requests
        // rarely meet at one host.
        let spread = Spread::new(1000, 3);
        let gap = spread.host(1).abs_diff(spread.host(0));
        assert!(gap > 100, "{gap}");
    }

    #[test]
    fn the_changed_fraction_is_kept() {
        let changed = (0..20_000).filter(|&n| changes(1, n, 0.1)).count();
        assert!((1800..2200).contains(&changed), "{changed}");
        assert_eq!((0..1000).filter(|&n| changes(1, n, 0.0)).count(), 0);
        assert_eq!((0..1000).filter(|&n| changes(1, n, 1.0)).count(), 1000);
        let again = (0..20_000).filter(|&n| changes(1, n, 0.1)).count();
        assert_eq!(changed, again, "the same seed, the same check-ins change");
    }
}
