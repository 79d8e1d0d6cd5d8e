//! Every published version vector in `shared/data/versions/`: the tools' own
//! test data (dpkg, rpm, apk-tools, pypa/packaging), OSV-Scalibr's lists and
//! the sets generated against the real dpkg, packaging and librpm.
//!
//! A vector whose side Rivet refuses as invalid must be listed in the test
//! with the reason; any other refusal, and any wrong order, fails.

use std::cmp::Ordering;
use std::fs;

use rivet_core::version::{Scheme, apk, compare, rpm};

fn read(name: &str) -> String {
    let path = format!(
        "{}/../../../shared/data/versions/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"))
}

/// Meaningful lines: not blank, not a `#` or `//` comment.
fn lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty() && !l.starts_with('#') && !l.starts_with("//"))
}

fn op(symbol: &str) -> Ordering {
    match symbol {
        "<" | "-1" => Ordering::Less,
        "=" | "0" => Ordering::Equal,
        ">" | "1" => Ordering::Greater,
        other => panic!("unknown operator {other:?}"),
    }
}

/// `a <op> b` separated by single spaces (versions never hold spaces).
fn triple(line: &str) -> (&str, &str, &str) {
    let mut parts = line.split(' ');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(a), Some(o), Some(b), None) => (a, o, b),
        _ => panic!("malformed vector line {line:?}"),
    }
}

/// Check `a <op> b` lines; return the lines refused as invalid.
fn check(
    scheme: Scheme,
    name: &str,
    parsed: impl Iterator<Item = (usize, String, Ordering, String)>,
) -> (usize, Vec<String>) {
    let mut failures = Vec::new();
    let mut refused = Vec::new();
    let mut count = 0;
    for (line, a, expected, b) in parsed {
        count += 1;
        match compare(scheme, &a, &b) {
            Ok(got) if got == expected => {}
            Ok(got) => failures.push(format!(
                "{name}:{line}: {a} vs {b}: expected {expected:?}, got {got:?}"
            )),
            Err(e) => refused.push(format!("{a} {b} ({e})")),
        }
        // The order must read the same both ways.
        if let Ok(got) = compare(scheme, &b, &a)
            && got != expected.reverse()
        {
            failures.push(format!("{name}:{line}: reversed {b} vs {a}: got {got:?}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    (count, refused)
}

fn tsv(text: &str) -> impl Iterator<Item = (usize, String, Ordering, String)> + '_ {
    lines(text).map(|(n, l)| {
        let f: Vec<&str> = l.split('\t').collect();
        (n, f[0].to_owned(), op(f[2]), f[1].to_owned())
    })
}

/// apk's tsv puts the operator in the middle: `a<TAB>op<TAB>b`.
fn apk_tsv(text: &str) -> impl Iterator<Item = (usize, String, Ordering, String)> + '_ {
    lines(text).map(|(n, l)| {
        let f: Vec<&str> = l.split('\t').collect();
        (n, f[0].to_owned(), op(f[1]), f[2].to_owned())
    })
}

fn spaced(text: &str) -> impl Iterator<Item = (usize, String, Ordering, String)> + '_ {
    lines(text).map(|(n, l)| {
        let (a, o, b) = triple(l);
        (n, a.to_owned(), op(o), b.to_owned())
    })
}

/// Refused lines must be exactly the expected ones, so that a new refusal
/// (or a new acceptance) is seen and judged.
fn assert_refused(name: &str, refused: &[String], expected: &[&str]) {
    let got: Vec<&str> = refused
        .iter()
        .map(|r| r.split(" (").next().unwrap_or(r))
        .collect();
    assert_eq!(
        got,
        expected,
        "{name}: refused lines differ:\n{}",
        refused.join("\n")
    );
}

/// The same for long lists, by count; the message lists them all.
fn assert_refused_count(name: &str, refused: &[String], expected: usize) {
    assert_eq!(
        refused.len(),
        expected,
        "{name}: refused lines:\n{}",
        refused.join("\n")
    );
}

#[test]
fn dpkg_upstream() {
    let (n, refused) = check(
        Scheme::Deb,
        "dpkg-upstream",
        tsv(&read("dpkg-upstream.tsv")),
    );
    assert_eq!(n, 43);
    assert_refused("dpkg-upstream", &refused, &[]);
}

#[test]
fn scalibr_debian() {
    let (n, refused) = check(
        Scheme::Deb,
        "scalibr-debian",
        spaced(&read("scalibr-debian-versions.txt")),
    );
    assert!(n > 20, "only {n} lines");
    assert_refused("scalibr-debian", &refused, &[]);
}

#[test]
fn scalibr_debian_generated() {
    let text = read("scalibr-debian-versions-generated.txt");
    let (n, refused) = check(Scheme::Deb, "scalibr-debian-generated", spaced(&text));
    assert!(n > 10_000, "only {n} lines");
    assert_refused("scalibr-debian-generated", &refused, &[]);
}

#[test]
fn rpmvercmp_upstream() {
    let text = read("rpmvercmp-upstream.tsv");
    let mut n = 0;
    for (line, a, expected, b) in tsv(&text) {
        n += 1;
        assert_eq!(rpm::rpmvercmp(&a, &b), expected, "line {line}: {a} vs {b}");
    }
    assert_eq!(n, 91);
    let (_, refused) = check(Scheme::Rpm, "rpmvercmp-upstream", tsv(&text));
    assert_refused("rpmvercmp-upstream", &refused, &[]);
}

#[test]
fn scalibr_redhat() {
    let (_, refused) = check(
        Scheme::Rpm,
        "scalibr-redhat",
        spaced(&read("scalibr-redhat-versions.txt")),
    );
    assert_refused("scalibr-redhat", &refused, &[]);
}

#[test]
fn rpm_almalinux_generated() {
    let text = read("rpm-almalinux-generated.txt");
    let (n, refused) = check(Scheme::Rpm, "rpm-almalinux-generated", spaced(&text));
    assert_eq!(n, 16_569);
    assert_refused("rpm-almalinux-generated", &refused, &[]);
}

#[test]
fn apk_upstream() {
    let text = read("apk-upstream.tsv");
    let mut n = 0;
    for (line, a, expected, b) in apk_tsv(&text) {
        n += 1;
        // `apk version -t` orders invalid strings too, and so does compare_any.
        assert_eq!(
            apk::compare_any(&a, &b),
            expected,
            "line {line}: {a} vs {b}"
        );
    }
    assert!(n >= 700, "only {n} lines");
    // Two lines of apk's own data compare strings its validator refuses.
    let (_, refused) = check(Scheme::Apk, "apk-upstream", apk_tsv(&text));
    assert_refused("apk-upstream", &refused, &["23_foo 4_beta", "1.0 1.0bc"]);
}

#[test]
fn apk_upstream_validity_and_fuzzy() {
    let text = read("apk-upstream-validity-and-fuzzy.txt");
    let (mut fuzzy, mut valid, mut invalid) = (0, 0, 0);
    for (line, l) in lines(&text) {
        if let Some(bad) = l.strip_prefix('!') {
            invalid += 1;
            assert!(apk::parse(bad).is_err(), "line {line}: {bad:?} accepted");
        } else if l.contains(' ') {
            fuzzy += 1;
            let (a, o, b) = triple(l);
            let fuzzy_eq = apk::compare_fuzzy(a, b) == Ordering::Equal;
            let strict = apk::compare_any(a, b);
            let holds = match o {
                "~" => fuzzy_eq,
                "!~" => !fuzzy_eq,
                "<~" => fuzzy_eq || strict == Ordering::Less,
                ">~" => fuzzy_eq || strict == Ordering::Greater,
                other => panic!("line {line}: unknown operator {other}"),
            };
            assert!(holds, "line {line}: {l}");
        } else {
            valid += 1;
            assert!(
                apk::parse(l).is_ok(),
                "line {line}: {l:?} refused: {:?}",
                apk::parse(l)
            );
        }
    }
    assert_eq!((fuzzy, valid, invalid), (16, 6, 25));
}

#[test]
fn scalibr_alpine() {
    let text = read("scalibr-alpine-versions.txt");
    // Scalibr keeps a section of strings apk refuses (`1-r`, `0..8`, `6.6.2p1`,
    // `1.2_blah`, `.1`, `a`…): Rivet reports each invalid.
    let (_, refused) = check(Scheme::Apk, "scalibr-alpine", spaced(&text));
    assert_refused_count("scalibr-alpine", &refused, 37);
    // Where apk refuses a side, `apk version -t` still answers; on these 12
    // lines Scalibr's expectation is apk-tools 2's answer, which apk-tools 3
    // changed (it stops at the first bad token: `.2` = `.1`, `a` = `b`).
    let differs: Vec<String> = spaced(&text)
        .filter(|(_, a, _, b)| apk::parse(a).is_err() || apk::parse(b).is_err())
        .filter(|(_, a, o, b)| apk::compare_any(a, b) != *o)
        .map(|(_, a, o, b)| format!("{a} {o:?} {b}"))
        .collect();
    assert_eq!(
        differs,
        [
            "1-r Equal 1-r0",
            "0..1..0 Less 0..1..1",
            "0...1...0 Less 0...1...1",
            "0...1...0.r1 Less 0...1...0.r2",
            "0...1...0r1 Less 0...1...0r2",
            "0..8 Greater 0...8",
            "0.8.21.r2 Greater 0.8.21.r1",
            "6.6.2p1 Less 6.6.2p2",
            "1-r0-1 Equal 1-r-2",
            ".2 Greater .1",
            "a Less b",
            "c Greater b",
        ]
    );
}

#[test]
fn pep440_sorted() {
    let text = read("pep440-sorted.txt");
    let versions: Vec<&str> = lines(&text).map(|(_, l)| l).collect();
    assert_eq!(versions.len(), 92);
    // Every pair, not only neighbours: the list is a total order.
    for (i, a) in versions.iter().enumerate() {
        for (j, b) in versions.iter().enumerate() {
            assert_eq!(compare(Scheme::Pep440, a, b), Ok(i.cmp(&j)), "{a} vs {b}");
        }
    }
}

#[test]
fn scalibr_pypi() {
    // Legacy (pre-PEP 440) versions, which packaging 22+ and pip refuse;
    // the differential test checks the refusals against Debian's packaging.
    let (_, refused) = check(
        Scheme::Pep440,
        "scalibr-pypi",
        spaced(&read("scalibr-pypi-versions.txt")),
    );
    assert_refused(
        "scalibr-pypi",
        &refused,
        &[
            "0.1-bulbasaur 0.1-charmander",
            "0.1-charmander 0.9-doduo",
            "0.9-doduo 0.9-eevee",
            "0.9-eevee 0.9-fearow",
            "0.9-fearow 0.9-gyarados",
            "0.9-gyarados 0.9-horsea",
            "0.9-horsea 0.9-ivysaur",
            "0.9-ivysaur 1.0",
            "-class.-jw.util.version.version-pre 1.0",
            "-class.-jw.util.version.version-preview 1.0",
            "-class.-jw.util.version.version-dev 1.0",
        ],
    );
}

#[test]
fn scalibr_pypi_generated() {
    let text = read("scalibr-pypi-versions-generated.txt");
    let (n, refused) = check(Scheme::Pep440, "scalibr-pypi-generated", spaced(&text));
    assert!(n > 5_000, "only {n} lines");
    // Legacy versions again (`0.7.10p1`, `0.3m1`, `trunk`, timestamps…).
    assert_refused_count("scalibr-pypi-generated", &refused, 69);
}

#[test]
fn scalibr_semver() {
    // Not SemVer: one number, and five components (Scalibr reads the extra
    // ones as build metadata; npm and Cargo refuse both strings).
    let (_, refused) = check(
        Scheme::Semver,
        "scalibr-semver",
        spaced(&read("scalibr-semver-versions.txt")),
    );
    assert_refused(
        "scalibr-semver",
        &refused,
        &[
            "999999999999999999999999999991 999999999999999999999999999999",
            "1.1.3.4.5 1.1.3.4.5",
        ],
    );
}

#[test]
fn scalibr_maven() {
    let text = read("scalibr-maven-versions.txt");
    // One known disagreement: Scalibr (after Maven 3.9's reworked parser,
    // which reads `ga-1` as one combined item) has `1-1 = 1-ga-1`; Rivet
    // follows ComparableVersion as of Maven 3.8, where `1-ga-1` < `1-1`.
    let known = ("1-1", "1-ga-1");
    let vectors = spaced(&text).filter(|(_, a, _, b)| (a.as_str(), b.as_str()) != known);
    let (n, refused) = check(Scheme::Maven, "scalibr-maven", vectors);
    assert!(n > 100, "only {n} lines");
    assert_refused("scalibr-maven", &refused, &[]);
    assert_eq!(
        compare(Scheme::Maven, known.0, known.1),
        Ok(Ordering::Greater)
    );
}
