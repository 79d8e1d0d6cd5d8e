//! Ring plans: validation, and the promotion decision with its reasons.

use jiff::{SignedDuration, Timestamp};
use rivet_change::ring::{
    FailureThreshold, Hold, OpenProblem, ProblemReportId, Promotion, Ring, RingOutcome, RingPlan,
    promotion,
};
use rivet_core::id::HostId;

use crate::window::ts;

pub fn host(n: u128) -> HostId {
    HostId(uuid::Uuid::from_u128(n))
}

fn pilot() -> Ring {
    Ring {
        hosts: [host(1), host(2), host(3), host(4)].into(),
        ..Ring::new("pilot")
    }
}

fn finished(at: &str) -> RingOutcome {
    RingOutcome {
        hosts: 4,
        succeeded: 4,
        finished_at: Some(ts(at)),
        ..RingOutcome::default()
    }
}

#[test]
fn the_soak_passes_at_exactly_seven_days_and_not_a_second_before() {
    let ring = pilot();
    let outcome = finished("2026-03-02T10:00:00Z");
    let before = promotion(&ring, &outcome, ts("2026-03-09T09:59:59Z"));
    assert_eq!(
        before,
        Promotion::Held {
            reasons: vec![Hold::SoakRemaining {
                until: ts("2026-03-09T10:00:00Z")
            }]
        }
    );
    let exactly = promotion(&ring, &outcome, ts("2026-03-09T10:00:00Z"));
    assert_eq!(
        exactly,
        Promotion::Approved {
            since: ts("2026-03-09T10:00:00Z")
        }
    );
    // A nanosecond before is still held.
    let nano = ts("2026-03-09T10:00:00Z") - SignedDuration::from_nanos(1);
    assert!(!promotion(&ring, &outcome, nano).is_approved());
    // The soak is counted from the end, in elapsed time: across the spring
    // change a week is 168 hours all the same.
    let across = finished("2026-03-25T10:00:00Z");
    assert!(!promotion(&ring, &across, ts("2026-04-01T09:59:59Z")).is_approved());
    assert!(promotion(&ring, &across, ts("2026-04-01T10:00:00Z")).is_approved());
}

#[test]
fn an_unfinished_ring_is_held_whatever_the_time() {
    let ring = pilot();
    let outcome = RingOutcome {
        hosts: 4,
        succeeded: 2,
        failed: vec![],
        finished_at: None,
        ..RingOutcome::default()
    };
    assert_eq!(
        promotion(&ring, &outcome, ts("2027-01-01T00:00:00Z")),
        Promotion::Held {
            reasons: vec![Hold::HostsUnfinished { unfinished: 2 }]
        }
    );
}

#[test]
fn every_reason_is_listed() {
    let ring = Ring {
        failure_threshold: FailureThreshold::Hosts(2),
        ..pilot()
    };
    let report = ProblemReportId(uuid::Uuid::from_u128(77));
    let outcome = RingOutcome {
        hosts: 4,
        succeeded: 2,
        failed: vec![host(3)],
        rolled_back: vec![host(4)],
        finished_at: Some(ts("2026-03-02T10:00:00Z")),
        open_problems: vec![OpenProblem {
            id: report,
            host: host(1),
        }],
    };
    let decision = promotion(&ring, &outcome, ts("2026-03-03T00:00:00Z"));
    assert_eq!(
        decision,
        Promotion::Held {
            reasons: vec![
                Hold::SoakRemaining {
                    until: ts("2026-03-09T10:00:00Z")
                },
                Hold::ProblemReportOpen {
                    id: report,
                    host: host(1)
                },
                Hold::FailureThresholdReached {
                    failed: 2,
                    threshold: 2
                },
                Hold::RolledBack { host: host(4) },
            ]
        }
    );
    // The decision is stored and shown as JSON.
    let json = serde_json::to_value(&decision).unwrap();
    assert_eq!(json["decision"], "held");
    assert_eq!(json["reasons"][2]["reason"], "failure_threshold_reached");
    // After the soak, one failure under a threshold of two is no reason.
    let one_failure = RingOutcome {
        succeeded: 3,
        failed: vec![host(3)],
        rolled_back: vec![],
        open_problems: vec![],
        ..outcome
    };
    assert!(promotion(&ring, &one_failure, ts("2026-03-09T10:00:00Z")).is_approved());
}

#[test]
fn a_zero_soak_promotes_when_the_ring_finishes() {
    let ring = Ring {
        soak: SignedDuration::ZERO,
        ..pilot()
    };
    let at: Timestamp = ts("2026-03-02T10:00:00Z");
    assert!(promotion(&ring, &finished("2026-03-02T10:00:00Z"), at).is_approved());
}

#[test]
fn plans_are_validated_by_field() {
    let broad = Ring {
        groups: ["web".to_string()].into(),
        failure_threshold: FailureThreshold::Percent(10),
        max_in_flight: Some(20),
        ..Ring::new("broad")
    };
    assert!(RingPlan::new(vec![pilot(), broad.clone()]).is_ok());
    let field = |rings: Vec<Ring>| RingPlan::new(rings).unwrap_err().field;
    assert_eq!(field(vec![]), "rings");
    assert_eq!(field(vec![pilot(), Ring::new("pilot")]), "name");
    assert_eq!(field(vec![Ring::new("all"), broad.clone()]), "hosts");
    let twice = Ring {
        hosts: [host(1)].into(),
        ..broad.clone()
    };
    assert_eq!(field(vec![pilot(), twice]), "hosts");
    let long_soak = Ring {
        soak: SignedDuration::from_hours(24 * 90) + SignedDuration::from_secs(1),
        ..broad.clone()
    };
    assert_eq!(field(vec![pilot(), long_soak]), "soak");
    let ninety = Ring {
        soak: SignedDuration::from_hours(24 * 90),
        ..broad.clone()
    };
    assert!(RingPlan::new(vec![pilot(), ninety]).is_ok());
    for threshold in [
        FailureThreshold::Hosts(0),
        FailureThreshold::Percent(0),
        FailureThreshold::Percent(101),
    ] {
        let bad = Ring {
            failure_threshold: threshold,
            ..broad.clone()
        };
        assert_eq!(field(vec![pilot(), bad]), "failure_threshold");
    }
    let none_at_once = Ring {
        max_in_flight: Some(0),
        ..broad.clone()
    };
    assert_eq!(field(vec![pilot(), none_at_once]), "max_in_flight");
    let e = RingPlan::new(vec![pilot(), Ring::new("bad name")]).unwrap_err();
    assert_eq!(e.field, "name");
    // A single ring needs no named pilot.
    assert!(RingPlan::new(vec![Ring::new("all")]).is_ok());
}

#[test]
fn plans_read_json_with_defaults() {
    let json = r#"[
        {"name": "pilot", "hosts": ["00000000-0000-0000-0000-000000000001"]},
        {"name": "broad", "groups": ["web"], "soak": "336h", "failure_threshold": {"percent": 5}, "max_in_flight": 10}
    ]"#;
    let plan: RingPlan = serde_json::from_str(json).unwrap();
    let rings = plan.rings();
    assert_eq!(rings[0].soak, SignedDuration::from_hours(24 * 7));
    assert_eq!(rings[0].failure_threshold, FailureThreshold::Hosts(1));
    assert_eq!(rings[1].soak, SignedDuration::from_hours(24 * 14));
    assert_eq!(rings[1].failure_threshold, FailureThreshold::Percent(5));
    assert_eq!(plan.find("broad").map(|(i, _)| i), Some(1));
    let bad = json.replace("\"pilot\", \"hosts\"", "\"broad\", \"hosts\"");
    let err = serde_json::from_str::<RingPlan>(&bad)
        .unwrap_err()
        .to_string();
    assert!(err.contains("used twice"), "{err}");
}
