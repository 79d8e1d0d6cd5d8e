//! Properties of every scheme's comparison on generated input: no panic on
//! any string, and on valid versions a total order (antisymmetric,
//! transitive, and consistent with equality).

use std::cmp::Ordering;

use proptest::prelude::*;
use rivet_core::version::{Scheme, compare, run_vercmp};

/// Strings built from the characters versions are made of, so that many are
/// valid and the rest fail in interesting places.
fn versionish() -> impl Strategy<Value = String> {
    let regex = |r: &str| proptest::string::string_regex(r).expect("a valid regex");
    prop_oneof![
        3 => regex("(v|[0-9]{1,3}!|[0-9]{1,2}:)?[0-9]{0,3}([.~^+_:!-]{0,2}[0-9a-zA-Z]{0,3}){0,5}"),
        // SemVer's grammar is too narrow to hit by chance.
        1 => regex("v?(0|[1-9][0-9]?)[.](0|[1-9])[.](0|[1-9][0-9]?)(-[0-9a-zA-Z-]{1,3}([.][0-9a-zA-Z-]{1,3}){0,2})?([+][0-9a-z]{1,3})?"),
    ]
}

fn scheme() -> impl Strategy<Value = Scheme> {
    proptest::sample::select(Scheme::ALL.to_vec())
}

fn ok(scheme: Scheme, a: &str, b: &str) -> Option<Ordering> {
    compare(scheme, a, b).ok()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    #[test]
    fn any_string_is_answered(scheme in scheme(), a in any::<String>(), b in versionish()) {
        let _ = compare(scheme, &a, &b);
        let _ = compare(scheme, &b, &a);
        let mut out = Vec::new();
        let line = format!("{a}\t{b}\n{b}\t{a}\n{a}\n");
        run_vercmp(scheme, line.as_bytes(), &mut out).expect("writing to a Vec");
        prop_assert_eq!(out.iter().filter(|&&c| c == b'\n').count(), line.lines().count());
    }

    #[test]
    fn antisymmetric_and_reflexive(scheme in scheme(), a in versionish(), b in versionish()) {
        if let (Some(ab), Some(ba)) = (ok(scheme, &a, &b), ok(scheme, &b, &a)) {
            prop_assert_eq!(ab, ba.reverse());
            prop_assert_eq!(ok(scheme, &a, &a), Some(Ordering::Equal));
        }
    }

    #[test]
    fn transitive_and_consistent(
        scheme in scheme(),
        a in versionish(),
        b in versionish(),
        c in versionish(),
    ) {
        if let (Some(ab), Some(bc), Some(ac)) = (ok(scheme, &a, &b), ok(scheme, &b, &c), ok(scheme, &a, &c)) {
            // a ≤ b ≤ c implies a ≤ c, with equality only if both are equal.
            if ab != Ordering::Greater && bc != Ordering::Greater {
                prop_assert_ne!(ac, Ordering::Greater);
            }
            if ab != Ordering::Less && bc != Ordering::Less {
                prop_assert_ne!(ac, Ordering::Less);
            }
            // Equal versions compare the same to everything.
            if ab == Ordering::Equal {
                prop_assert_eq!(ac, bc);
            }
        }
    }
}

/// Random triples rarely land in the same neighbourhood; sorting a pool and
/// checking every pair against the sorted order tests transitivity densely.
#[test]
fn sorted_pools_are_consistent() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    for scheme in Scheme::ALL {
        let mut pool: Vec<String> = (0..400)
            .map(|_| {
                versionish()
                    .new_tree(&mut runner)
                    .expect("a value")
                    .current()
            })
            .filter(|v| compare(scheme, v, v).is_ok())
            .collect();
        assert!(
            pool.len() > 20,
            "{scheme}: only {} valid versions",
            pool.len()
        );
        pool.sort_by(|a, b| compare(scheme, a, b).expect("validated"));
        for (i, a) in pool.iter().enumerate() {
            for b in &pool[i + 1..] {
                assert_ne!(
                    compare(scheme, a, b),
                    Ok(Ordering::Greater),
                    "{scheme}: {a:?} sorted before {b:?}"
                );
            }
        }
    }
}
