//! Update-class policies: the defaults, validation, every class with and
//! without the customer's order, and a change decided by its strictest patch.

use rivet_change::UpdateClass;
use rivet_change::change::{ChangeKind, Patch};
use rivet_change::policy::{
    ChangeDecision, Decision, Handling, PatchDecision, UpdatePolicy, decide, decide_change,
};

use crate::change::{new_change, package, validate};

const HANDLINGS: [Handling; 4] = [
    Handling::Automatic,
    Handling::Approval,
    Handling::OnOrder,
    Handling::Never,
];

#[test]
fn the_default_policy_decides_each_class() {
    let policy = UpdatePolicy::default();
    assert_eq!(policy.validate(), Ok(()));
    use Decision::*;
    // (class, not ordered, ordered by the customer)
    let table = [
        (UpdateClass::Security, Automatic, Automatic),
        (UpdateClass::Bugfix, NeedsApproval, NeedsApproval),
        (UpdateClass::Enhancement, NeedsApproval, NeedsApproval),
        (UpdateClass::Middleware, NeedsOrder, NeedsApproval),
        (UpdateClass::Major, Refused, Refused),
    ];
    for (class, plain, ordered) in table {
        assert_eq!(decide(&policy, class, false), plain, "{class}");
        assert_eq!(decide(&policy, class, true), ordered, "{class} ordered");
    }
}

#[test]
fn a_policy_cannot_make_major_or_middleware_automatic() {
    let major = UpdatePolicy {
        major: Handling::Automatic,
        ..UpdatePolicy::default()
    };
    assert_eq!(major.validate().unwrap_err().field, "major");
    let middleware = UpdatePolicy {
        middleware: Handling::Automatic,
        ..UpdatePolicy::default()
    };
    assert_eq!(middleware.validate().unwrap_err().field, "middleware");
    // Anything else for them is a choice the tenant may make.
    for handling in [Handling::Approval, Handling::OnOrder, Handling::Never] {
        let p = UpdatePolicy {
            major: handling,
            middleware: handling,
            ..UpdatePolicy::default()
        };
        assert_eq!(p.validate(), Ok(()), "{handling:?}");
    }
    let all_automatic_but = UpdatePolicy {
        security: Handling::Automatic,
        bugfix: Handling::Automatic,
        enhancement: Handling::Automatic,
        middleware: Handling::OnOrder,
        major: Handling::Approval,
    };
    assert_eq!(all_automatic_but.validate(), Ok(()));
}

#[test]
fn a_major_version_is_never_automatic_whatever_the_policy() {
    for handling in HANDLINGS {
        let policy = UpdatePolicy {
            major: handling,
            ..UpdatePolicy::default()
        };
        for ordered in [false, true] {
            assert_ne!(
                decide(&policy, UpdateClass::Major, ordered),
                Decision::Automatic,
                "major {handling:?}, ordered {ordered}"
            );
        }
    }
}

#[test]
fn middleware_goes_ahead_only_on_the_customers_order() {
    for handling in HANDLINGS {
        let policy = UpdatePolicy {
            middleware: handling,
            ..UpdatePolicy::default()
        };
        let plain = decide(&policy, UpdateClass::Middleware, false);
        let ordered = decide(&policy, UpdateClass::Middleware, true);
        match handling {
            // Even a policy that skipped validation waits for the order.
            Handling::Automatic | Handling::OnOrder => {
                assert_eq!(plain, Decision::NeedsOrder);
                assert_eq!(ordered, Decision::NeedsApproval);
            }
            Handling::Approval => {
                assert_eq!(
                    (plain, ordered),
                    (Decision::NeedsApproval, Decision::NeedsApproval)
                );
            }
            Handling::Never => {
                assert_eq!((plain, ordered), (Decision::Refused, Decision::Refused));
            }
        }
    }
}

#[test]
fn decisions_order_from_least_to_most_restrictive() {
    assert!(Decision::Automatic < Decision::NeedsApproval);
    assert!(Decision::NeedsApproval < Decision::NeedsOrder);
    assert!(Decision::NeedsOrder < Decision::Refused);
    let json = serde_json::to_value(UpdatePolicy::default()).unwrap();
    assert_eq!(json["middleware"], "on_order");
    assert_eq!(
        serde_json::to_value(Decision::NeedsOrder).unwrap(),
        "needs_order"
    );
}

#[test]
fn a_change_is_decided_by_its_strictest_patches() {
    let policy = UpdatePolicy::default();
    let mut new = new_change(ChangeKind::Normal);
    assert_eq!(
        decide_change(&policy, &validate(new.clone())).decision,
        Decision::Automatic
    );
    new.patches
        .push(package("php8.3", "8.3.7-1", Some(UpdateClass::Middleware)));
    new.patches
        .push(package("nginx", "1.26.0-1", Some(UpdateClass::Enhancement)));
    new.patches.push(Patch::Package {
        name: "postgresql-16".into(),
        version: "16.3-1".into(),
        arch: Some("amd64".into()),
        class: Some(UpdateClass::Middleware),
    });
    let got = decide_change(&policy, &validate(new.clone()));
    assert_eq!(
        got,
        ChangeDecision {
            decision: Decision::NeedsOrder,
            reasons: vec![
                PatchDecision {
                    patch: 2,
                    label: "php8.3 8.3.7-1".into(),
                    class: Some(UpdateClass::Middleware),
                    decision: Decision::NeedsOrder,
                },
                PatchDecision {
                    patch: 4,
                    label: "postgresql-16:amd64 16.3-1".into(),
                    class: Some(UpdateClass::Middleware),
                    decision: Decision::NeedsOrder,
                },
            ],
        }
    );
    assert_eq!(
        got.reasons[0].to_string(),
        "patches[2] (php8.3 8.3.7-1, class middleware): needs_order"
    );

    // The customer ordered it (CHG-6): it then needs approval, for the
    // middleware and the enhancement alike.
    new.requested_by_customer = true;
    let ordered = decide_change(&policy, &validate(new.clone()));
    assert_eq!(ordered.decision, Decision::NeedsApproval);
    let patches: Vec<usize> = ordered.reasons.iter().map(|r| r.patch).collect();
    assert_eq!(patches, [2, 3, 4]);

    // A major version refuses the whole change, ordered or not.
    new.patches
        .push(package("debian-release", "13", Some(UpdateClass::Major)));
    let refused = decide_change(&policy, &validate(new));
    assert_eq!(refused.decision, Decision::Refused);
    assert_eq!(refused.reasons.len(), 1);
    assert_eq!(refused.reasons[0].patch, 5);
}

#[test]
fn a_patch_of_unknown_class_needs_approval() {
    let mut new = new_change(ChangeKind::Normal);
    new.patches.push(Patch::Advisory {
        id: "DSA-5678-1".into(),
        class: None,
    });
    let got = decide_change(&UpdatePolicy::default(), &validate(new));
    assert_eq!(got.decision, Decision::NeedsApproval);
    assert_eq!(got.reasons.len(), 1);
    assert_eq!((got.reasons[0].patch, got.reasons[0].class), (2, None));
    assert_eq!(
        got.reasons[0].to_string(),
        "patches[2] (DSA-5678-1, class unknown): needs_approval"
    );
}
