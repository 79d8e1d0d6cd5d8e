//! Differential tests against the real tools on Debian's `/usr/bin/python3`:
//! `apt_pkg.version_compare` (python3-apt) for deb, `rpm.labelCompare`
//! (python3-rpm) for rpm and `packaging.version` (python3-packaging) for
//! PEP 440, on at least 100,000 random tricky pairs per scheme per run.
//!
//! The seed is printed; set `RIVET_VERCMP_SEED` to replay a run. Without the
//! Python modules the test fails when `CI=true` and is skipped otherwise.

use std::cmp::Ordering;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::thread;

use rivet_core::version::{Scheme, compare};

const PAIRS: usize = 100_000;
const PYTHON: &str = "/usr/bin/python3";
const ORACLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/version_oracle.py");

/// SplitMix64: small, seedable, and good enough to spread test cases.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

fn seed() -> u64 {
    match std::env::var("RIVET_VERCMP_SEED") {
        Ok(s) => s.parse().expect("RIVET_VERCMP_SEED must be a u64"),
        // A per-process random value, without reading the clock.
        Err(_) => RandomState::new().build_hasher().finish(),
    }
}

const NUMBERS: &[&str] = &[
    "0",
    "00",
    "1",
    "01",
    "001",
    "2",
    "9",
    "10",
    "010",
    "11",
    "99",
    "100",
    "2024",
    "18446744073709551616",
];
const WORDS: &[&str] = &[
    "a", "b", "z", "A", "Z", "rc", "beta", "dfsg", "git", "el", "deb", "ubuntu", "p", "bpo", "nmu",
];

/// A run of version components from `symbols`, numbers and words.
fn components(rng: &mut Rng, symbols: &[&str], max: usize) -> String {
    let mut s = String::new();
    for _ in 0..rng.below(max) + 1 {
        match rng.below(10) {
            0..=3 => s.push_str(rng.pick(NUMBERS)),
            4..=5 => s.push_str(rng.pick(WORDS)),
            _ => s.push_str(rng.pick(symbols)),
        }
    }
    s
}

fn deb_version(rng: &mut Rng) -> String {
    let mut s = String::new();
    let epoch = rng.chance(25);
    if epoch {
        s.push_str(rng.pick(&["0", "1", "00", "2", "10"]));
        s.push(':');
    }
    s.push_str(rng.pick(NUMBERS));
    let upstream_symbols: &[&str] = if epoch {
        &[".", "+", "~", "~", ":", "-"]
    } else {
        &[".", "+", "~", "~", "-"]
    };
    s.push_str(&components(rng, upstream_symbols, 5));
    match rng.below(4) {
        0 => {}
        1 => s.push_str(&format!("-{}", rng.pick(NUMBERS))),
        _ => {
            s.push('-');
            s.push_str(&components(rng, &[".", "+", "~", "~"], 4));
        }
    }
    s
}

fn rpm_version(rng: &mut Rng) -> String {
    let mut s = String::new();
    if rng.chance(25) {
        s.push_str(rng.pick(&["0", "1", "00", "2", "10", ""]));
        s.push(':');
    }
    let symbols = &[".", ".", "~", "^", "+", "_", "~", "^"];
    s.push_str(&components(rng, symbols, 6));
    match rng.below(4) {
        0 => {}
        1 => s.push('-'),
        _ => {
            s.push('-');
            s.push_str(&components(rng, symbols, 4));
        }
    }
    s
}

fn pep440_version(rng: &mut Rng) -> String {
    let mut s = String::new();
    if rng.chance(10) {
        s.push_str(rng.pick(&["v", "V"]));
    }
    if rng.chance(15) {
        s.push_str(rng.pick(&["1!", "0!", "2!"]));
    }
    for i in 0..rng.below(4) + 1 {
        if i > 0 {
            s.push('.');
        }
        s.push_str(rng.pick(&["0", "1", "01", "2", "10", "00"]));
    }
    let pieces = &[
        "a", "a1", "b2", "rc1", "c1", "alpha", "beta.1", "-rc.2", "pre", "preview", ".post1", "-1",
        "post", "_post2", ".rev3", "r", ".dev0", "dev", ".dev1", "+local", "+l.1", "+A-b_c", "+",
        "-", ".", "x",
    ];
    for _ in 0..rng.below(4) {
        s.push_str(rng.pick(pieces));
    }
    s
}

/// Mutate `v` a little, so that many pairs are close or equal.
fn near(rng: &mut Rng, v: &str, extras: &[&str]) -> String {
    let mut s = v.to_owned();
    match rng.below(6) {
        0 => {}
        1 => s.push_str(rng.pick(extras)),
        2 if !s.is_empty() => {
            let at = rng.below(s.len());
            if s.is_char_boundary(at) {
                s.insert_str(at, rng.pick(extras));
            }
        }
        3 if s.len() > 1 => {
            let at = rng.below(s.len());
            if s.is_char_boundary(at) && s.is_char_boundary(at + 1) {
                s.remove(at);
            }
        }
        4 => s = s.replacen('1', rng.pick(&["01", "2", "0", "10"]), 1),
        _ => s = s.replacen('.', rng.pick(extras), 1),
    }
    s
}

/// Ask the oracle about every pair; `None` when its module is missing.
fn oracle(scheme: &str, pairs: &[(String, String)]) -> Option<Vec<String>> {
    let mut child = Command::new(PYTHON)
        .arg(ORACLE)
        .arg(scheme)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {PYTHON}: {e}"));
    let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
    let mut first = String::new();
    stdout.read_line(&mut first).expect("reading the oracle");
    if first.trim() != "ready" {
        println!("{scheme}: reference unavailable: {}", first.trim());
        child.wait().expect("waiting for the oracle");
        return None;
    }
    let mut stdin = child.stdin.take().expect("piped stdin");
    let input: String = pairs.iter().map(|(a, b)| format!("{a}\t{b}\n")).collect();
    // Write from another thread: the oracle answers while it reads.
    let writer = thread::spawn(move || stdin.write_all(input.as_bytes()));
    let answers: Vec<String> = stdout.lines().map(|l| l.expect("oracle output")).collect();
    writer
        .join()
        .expect("writer thread")
        .expect("writing to the oracle");
    assert!(
        child.wait().expect("waiting for the oracle").success(),
        "oracle failed"
    );
    assert_eq!(answers.len(), pairs.len(), "oracle answered too few lines");
    Some(answers)
}

fn answer(o: Ordering) -> &'static str {
    match o {
        Ordering::Less => "-1",
        Ordering::Equal => "0",
        Ordering::Greater => "1",
    }
}

/// Compare Rivet with the oracle on `PAIRS` generated pairs.
///
/// With `validity`, the oracle's refusals ("E") must match Rivet's exactly;
/// otherwise (apt and librpm compare anything) pairs Rivet refuses are
/// counted and must stay a minority, so the run still tests orders.
fn differential(
    scheme: Scheme,
    oracle_name: &str,
    validity: bool,
    generate: impl Fn(&mut Rng) -> (String, String),
) {
    let seed = seed();
    println!("{scheme}: seed {seed} (set RIVET_VERCMP_SEED={seed} to replay)");
    let mut rng = Rng(seed);
    let pairs: Vec<(String, String)> = (0..PAIRS).map(|_| generate(&mut rng)).collect();
    let Some(answers) = oracle(oracle_name, &pairs) else {
        let ci = std::env::var("CI").is_ok_and(|v| v == "true");
        assert!(
            !ci,
            "{scheme}: the reference implementation is missing and CI=true"
        );
        println!("{scheme}: SKIPPED, install python3-apt, python3-rpm and python3-packaging");
        return;
    };
    let mut disagreements = Vec::new();
    let (mut refused, mut compared) = (0, 0);
    for ((a, b), theirs) in pairs.iter().zip(&answers) {
        let ours = match compare(scheme, a, b) {
            Ok(o) => answer(o),
            Err(_) => "E",
        };
        if ours == "E" {
            refused += 1;
            if !validity {
                continue;
            }
        }
        compared += 1;
        if ours != theirs {
            disagreements.push(format!("{a:?} vs {b:?}: rivet {ours}, reference {theirs}"));
        }
    }
    println!(
        "{scheme}: {} pairs, {compared} checked, {refused} refused by Rivet, {} disagreements",
        pairs.len(),
        disagreements.len()
    );
    assert!(
        disagreements.is_empty(),
        "{scheme}: {} disagreements (seed {seed}), first ones:\n{}",
        disagreements.len(),
        disagreements[..disagreements.len().min(20)].join("\n")
    );
    assert!(
        compared * 2 > pairs.len(),
        "{scheme}: too few valid pairs ({compared})"
    );
}

#[test]
fn deb_matches_apt_pkg() {
    differential(Scheme::Deb, "deb", false, |rng| {
        let a = deb_version(rng);
        let b = if rng.chance(50) {
            near(rng, &a, &["~", "+", ".", "0", "a", "~~", "-1", "+b1", ":"])
        } else {
            deb_version(rng)
        };
        (a, b)
    });
}

#[test]
fn rpm_matches_label_compare() {
    differential(Scheme::Rpm, "rpm", false, |rng| {
        let a = rpm_version(rng);
        let b = if rng.chance(50) {
            near(
                rng,
                &a,
                &["~", "^", "+", ".", "_", "0", "a", "-", "-1", ":"],
            )
        } else {
            rpm_version(rng)
        };
        (a, b)
    });
}

#[test]
fn pep440_matches_packaging() {
    differential(Scheme::Pep440, "pep440", true, |rng| {
        let a = pep440_version(rng);
        let b = if rng.chance(50) {
            near(
                rng,
                &a,
                &["a", ".post1", ".dev1", "+x", "0", "-", "rc", "!"],
            )
        } else {
            pep440_version(rng)
        };
        (a, b)
    });
}
