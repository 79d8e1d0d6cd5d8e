//! Change requests: validation naming fields, every transition allowed and
//! refused (all states × actions, per kind), emergency and standard paths,
//! and the installation order. The fixtures here are shared with the
//! approval and policy tests.

use std::collections::{BTreeMap, BTreeSet};

use jiff::{SignedDuration, Timestamp};
use proptest::prelude::*;
use rivet_change::UpdateClass;
use rivet_change::change::{
    Action, AmendError, Change, ChangeId, ChangeKind, ChangeState, ChangeTemplate, NewChange,
    Order, OrderError, Patch, Refusal, Risk, Schedule, Target, TemplateMismatch, TransitionError,
    next_state,
};
use rivet_core::id::{TenantId, UserId};

/// 2024-06-03T00:00:00Z, a Monday: every time in these tests is an offset.
pub const BASE: i64 = 1_717_372_800;
pub const HOUR: i64 = 3_600;
pub const DAY: i64 = 86_400;

pub fn t(offset: i64) -> Timestamp {
    Timestamp::from_second(BASE + offset).unwrap()
}

pub fn user(n: u8) -> UserId {
    UserId::new(t(0), [n; 10])
}

pub fn tenant(n: u8) -> TenantId {
    TenantId::new(t(0), [n; 10])
}

/// The users of the story: who requests, approves, operates, reviews.
pub const REQUESTER: u8 = 1;
pub const CAB_A: u8 = 2;
pub const CAB_B: u8 = 3;
pub const OPERATOR: u8 = 4;
pub const REVIEWER: u8 = 5;
pub const CUSTOMER: u8 = 10;
pub const OTHER_CUSTOMER: u8 = 11;

pub fn package(name: &str, version: &str, class: Option<UpdateClass>) -> Patch {
    Patch::Package {
        name: name.into(),
        version: version.into(),
        arch: None,
        class,
    }
}

pub fn template() -> ChangeTemplate {
    ChangeTemplate {
        id: "monthly-security".into(),
        name: "Monthly security patches".into(),
        allowed_classes: BTreeSet::from([UpdateClass::Security, UpdateClass::Bugfix]),
        max_risk: Risk::Medium,
    }
}

pub fn standard() -> ChangeKind {
    ChangeKind::Standard {
        template: "monthly-security".into(),
    }
}

/// A valid request: two security fixes for the customer's web group, from
/// one day after BASE to thirty days after, with no downtime.
pub fn new_change(kind: ChangeKind) -> NewChange {
    NewChange {
        kind,
        title: "OpenSSL security update".into(),
        description: "Fixes CVE-2024-0727".into(),
        patches: vec![
            package("libssl3", "3.0.13-1~deb12u1", Some(UpdateClass::Security)),
            package("openssl", "3.0.13-1~deb12u1", Some(UpdateClass::Security)),
        ],
        targets: vec![Target::Group("web".into())],
        schedule: Schedule {
            earliest_start: t(DAY),
            deadline: Some(t(30 * DAY)),
        },
        risk: Risk::Low,
        impact: "TLS services restart".into(),
        expected_downtime: SignedDuration::ZERO,
        backout_plan: "Reinstall 3.0.11-1~deb12u2 from the patch store".into(),
        test_evidence: "Pilot ring ran a week without problems".into(),
        order: Order::DependenciesFirst,
        requested_by_customer: false,
    }
}

pub fn validate(new: NewChange) -> Change {
    new.validate(
        ChangeId::new(t(0), [7; 10]),
        tenant(CUSTOMER),
        user(REQUESTER),
        t(0),
    )
    .expect("a valid change")
}

pub fn draft(kind: ChangeKind) -> Change {
    validate(new_change(kind))
}

/// A normal change, submitted at one hour.
pub fn submitted() -> Change {
    let mut c = draft(ChangeKind::Normal);
    c.submit(t(HOUR), user(REQUESTER), None, "").unwrap();
    c
}

/// A change of `kind` brought into `state` by allowed transitions, each an
/// hour after the last; `None` when the kind never reaches that state.
pub fn in_state(kind: &ChangeKind, state: ChangeState) -> Option<Change> {
    use ChangeState::*;
    let mut c = draft(kind.clone());
    let by = user(OPERATOR);
    let reach_approved = |c: &mut Change| match kind {
        ChangeKind::Normal => {
            c.submit(t(HOUR), user(REQUESTER), None, "").unwrap();
            c.approve(t(2 * HOUR), user(CAB_A), "").unwrap();
        }
        ChangeKind::Standard { .. } => c
            .submit(t(HOUR), user(REQUESTER), Some(&template()), "")
            .unwrap(),
        ChangeKind::Emergency => c
            .expedite(t(HOUR), user(REQUESTER), "exploited in the wild")
            .unwrap(),
    };
    let reach_in_progress = |c: &mut Change| {
        reach_approved(c);
        c.schedule(t(3 * HOUR), by, t(DAY), "").unwrap();
        c.start(t(DAY), by).unwrap();
    };
    match state {
        Draft => {}
        Submitted | Rejected if *kind != ChangeKind::Normal => return None,
        Submitted => c.submit(t(HOUR), user(REQUESTER), None, "").unwrap(),
        Rejected => {
            c.submit(t(HOUR), user(REQUESTER), None, "").unwrap();
            c.reject(t(2 * HOUR), user(CAB_A), "no backout tested")
                .unwrap();
        }
        Approved => reach_approved(&mut c),
        Scheduled => {
            reach_approved(&mut c);
            c.schedule(t(3 * HOUR), by, t(DAY), "").unwrap();
        }
        InProgress => reach_in_progress(&mut c),
        Completed => {
            reach_in_progress(&mut c);
            c.complete(t(DAY + HOUR), by, "").unwrap();
        }
        Failed => {
            reach_in_progress(&mut c);
            c.fail(t(DAY + HOUR), by, "dpkg: error processing openssl")
                .unwrap();
        }
        RolledBack => {
            reach_in_progress(&mut c);
            c.roll_back(t(DAY + HOUR), by, "TLS handshakes fail")
                .unwrap();
        }
        Cancelled => c.cancel(t(HOUR), user(REQUESTER), "superseded").unwrap(),
        Reviewed => {
            reach_in_progress(&mut c);
            c.complete(t(DAY + HOUR), by, "").unwrap();
            c.review(t(2 * DAY), user(REVIEWER), "went as planned")
                .unwrap();
        }
    }
    assert_eq!(c.state(), state);
    Some(c)
}

/// Performs `action` with arguments that satisfy every guard, so that only
/// the state decides.
fn act(c: &mut Change, action: Action, at: Timestamp) -> Result<(), TransitionError> {
    let by = user(REVIEWER);
    match action {
        Action::Submit => c.submit(at, by, Some(&template()), "ready"),
        Action::Expedite => c.expedite(at, by, "exploited in the wild"),
        Action::Approve => c.approve(at, by, "fine"),
        Action::Reject => c.reject(at, by, "not this month"),
        Action::Revise => c.revise(at, by, ""),
        Action::Schedule => c.schedule(at, by, at + SignedDuration::from_hours(1), ""),
        Action::Start => c.start(at, by),
        Action::Complete => c.complete(at, by, "verified"),
        Action::Fail => c.fail(at, by, "verification failed"),
        Action::RollBack => c.roll_back(at, by, "service down"),
        Action::Cancel => c.cancel(at, by, "no longer needed"),
        Action::Review => c.review(at, by, "reviewed in the CAB"),
    }
}

/// The allowed transitions, written out independently of the code's table:
/// (from, action, kinds it applies to: n(ormal) s(tandard) e(mergency), to).
const ALLOWED: &[(ChangeState, Action, &str, ChangeState)] = {
    use Action as A;
    use ChangeState::*;
    &[
        (Draft, A::Submit, "n", Submitted),
        (Draft, A::Submit, "s", Approved),
        (Draft, A::Expedite, "e", Approved),
        (Submitted, A::Approve, "nse", Approved),
        (Submitted, A::Reject, "nse", Rejected),
        (Rejected, A::Revise, "nse", Draft),
        (Approved, A::Schedule, "nse", Scheduled),
        (Scheduled, A::Schedule, "nse", Scheduled),
        (Scheduled, A::Start, "nse", InProgress),
        (Approved, A::Start, "e", InProgress),
        (InProgress, A::Complete, "nse", Completed),
        (InProgress, A::Fail, "nse", Failed),
        (InProgress, A::RollBack, "nse", RolledBack),
        (Failed, A::RollBack, "nse", RolledBack),
        (Draft, A::Cancel, "nse", Cancelled),
        (Submitted, A::Cancel, "nse", Cancelled),
        (Approved, A::Cancel, "nse", Cancelled),
        (Scheduled, A::Cancel, "nse", Cancelled),
        (Completed, A::Review, "nse", Reviewed),
        (Failed, A::Review, "nse", Reviewed),
        (RolledBack, A::Review, "nse", Reviewed),
        (Cancelled, A::Review, "nse", Reviewed),
    ]
};

fn kinds() -> [(ChangeKind, char); 3] {
    [
        (ChangeKind::Normal, 'n'),
        (standard(), 's'),
        (ChangeKind::Emergency, 'e'),
    ]
}

fn expected(letter: char, state: ChangeState, action: Action) -> Option<ChangeState> {
    ALLOWED
        .iter()
        .find(|(from, a, k, _)| *from == state && *a == action && k.contains(letter))
        .map(|(_, _, _, to)| *to)
}

#[test]
fn the_transition_table_matches_the_specification() {
    for (kind, letter) in kinds() {
        for state in ChangeState::ALL {
            for action in Action::ALL {
                assert_eq!(
                    next_state(&kind, state, action),
                    expected(letter, state, action),
                    "{} change, {state}, {action}",
                    kind.name()
                );
            }
        }
    }
}

#[test]
fn every_state_and_action_of_a_real_change() {
    let mut tried = 0;
    let mut allowed = 0;
    for (kind, letter) in kinds() {
        for state in ChangeState::ALL {
            let Some(before) = in_state(&kind, state) else {
                continue;
            };
            for action in Action::ALL {
                tried += 1;
                let what = format!("{} change, {state}, {action}", kind.name());
                let mut c = before.clone();
                let at = t(5 * DAY);
                assert_eq!(
                    c.allows(action),
                    expected(letter, state, action).is_some(),
                    "{what}"
                );
                match (act(&mut c, action, at), expected(letter, state, action)) {
                    (Ok(()), Some(to)) => {
                        allowed += 1;
                        assert_eq!(c.state(), to, "{what}");
                        assert_eq!(c.history().len(), before.history().len() + 1, "{what}");
                        let last = c.history().last().unwrap();
                        assert_eq!(
                            (last.at, last.by, last.action, last.from, last.to),
                            (at, user(REVIEWER), action, state, to),
                            "{what}"
                        );
                    }
                    (Err(err), None) => {
                        assert_eq!(
                            err,
                            TransitionError::NotAllowed {
                                state,
                                action,
                                kind: kind.name()
                            },
                            "{what}"
                        );
                        assert_eq!(c, before, "{what}: a refused action changes nothing");
                    }
                    (result, expected) => {
                        panic!("{what}: got {result:?}, expected {expected:?}")
                    }
                }
            }
        }
    }
    // 11 states of a normal change and 9 of each other kind, 12 actions.
    assert_eq!(tried, (11 + 9 + 9) * 12);
    assert_eq!(allowed, 19 + 15 + 16);
}

#[test]
fn a_refusal_names_the_state_and_the_action() {
    let mut c = in_state(&ChangeKind::Normal, ChangeState::Completed).unwrap();
    let err = c.cancel(t(3 * DAY), user(OPERATOR), "").unwrap_err();
    assert_eq!(
        err.to_string(),
        "cannot cancel a change that is completed (normal change)"
    );
    let mut c = in_state(&ChangeKind::Normal, ChangeState::InProgress).unwrap();
    let err = c.cancel(t(3 * DAY), user(OPERATOR), "").unwrap_err();
    assert_eq!(
        err.to_string(),
        "cannot cancel a change that is in_progress (normal change)"
    );
}

#[test]
fn a_full_life_is_recorded_in_order() {
    let mut c = draft(ChangeKind::Normal);
    c.submit(t(HOUR), user(REQUESTER), None, "for Tuesday's CAB")
        .unwrap();
    c.approve(t(2 * HOUR), user(CAB_A), "ok").unwrap();
    c.schedule(
        t(3 * HOUR),
        user(OPERATOR),
        t(DAY + 2 * HOUR),
        "window Tue 02:00",
    )
    .unwrap();
    c.start(t(DAY + 2 * HOUR), user(OPERATOR)).unwrap();
    c.complete(t(DAY + 3 * HOUR), user(OPERATOR), "all 12 hosts verified")
        .unwrap();
    c.review(t(3 * DAY), user(REVIEWER), "").unwrap();
    let got: Vec<_> = c
        .history()
        .iter()
        .map(|h| (h.at, h.by, h.from, h.to, h.comment.as_str()))
        .collect();
    use ChangeState::*;
    assert_eq!(
        got,
        [
            (
                t(HOUR),
                user(REQUESTER),
                Draft,
                Submitted,
                "for Tuesday's CAB"
            ),
            (t(2 * HOUR), user(CAB_A), Submitted, Approved, "ok"),
            (
                t(3 * HOUR),
                user(OPERATOR),
                Approved,
                Scheduled,
                "window Tue 02:00"
            ),
            (t(DAY + 2 * HOUR), user(OPERATOR), Scheduled, InProgress, ""),
            (
                t(DAY + 3 * HOUR),
                user(OPERATOR),
                InProgress,
                Completed,
                "all 12 hosts verified"
            ),
            (t(3 * DAY), user(REVIEWER), Completed, Reviewed, ""),
        ]
    );
    assert_eq!(c.planned_start(), Some(t(DAY + 2 * HOUR)));
    let review = c.post_implementation_review().unwrap();
    assert_eq!((review.by, review.at), (user(REVIEWER), t(3 * DAY)));
    assert!(!c.needs_review(), "a normal change owes no review");
}

#[test]
fn an_emergency_change_is_expedited_and_owes_a_review_until_reviewed() {
    let mut c = draft(ChangeKind::Emergency);
    assert!(!c.needs_review(), "not before it is expedited");
    let err = c.submit(t(HOUR), user(REQUESTER), None, "").unwrap_err();
    assert!(matches!(err, TransitionError::NotAllowed { .. }), "{err}");

    let err = c.expedite(t(HOUR), user(REQUESTER), " ").unwrap_err();
    assert!(matches!(
        err,
        TransitionError::Refused {
            reason: Refusal::CommentRequired,
            ..
        }
    ));
    c.expedite(t(HOUR), user(REQUESTER), "CVE-2024-3094 exploited")
        .unwrap();
    assert_eq!(c.state(), ChangeState::Approved);
    assert_eq!(c.history().len(), 1, "no CAB, no customer step");
    assert!(c.needs_review());
    let week = SignedDuration::from_hours(7 * 24);
    assert_eq!(c.review_due(week), Some(t(HOUR + 7 * DAY)));

    // RLO-7: at once, without a schedule; but not before its earliest start.
    let err = c.start(t(DAY - 1), user(OPERATOR)).unwrap_err();
    assert!(matches!(
        err,
        TransitionError::Refused {
            reason: Refusal::TooEarly(at),
            ..
        } if at == t(DAY)
    ));
    c.start(t(DAY), user(OPERATOR)).unwrap();
    assert!(c.needs_review());
    c.complete(t(DAY + HOUR), user(OPERATOR), "").unwrap();
    assert!(c.needs_review(), "completed is not reviewed");

    let err = c.review(t(2 * DAY), user(REVIEWER), "").unwrap_err();
    assert!(matches!(
        err,
        TransitionError::Refused {
            reason: Refusal::CommentRequired,
            ..
        }
    ));
    let err = c
        .review(t(2 * DAY), user(REQUESTER), "all fine, says I")
        .unwrap_err();
    assert!(matches!(
        err,
        TransitionError::Refused {
            reason: Refusal::OwnReview,
            ..
        }
    ));
    assert!(c.needs_review());
    c.review(t(2 * DAY), user(REVIEWER), "justified; patch held")
        .unwrap();
    assert!(!c.needs_review());
    assert_eq!(c.review_due(week), None);
    assert_eq!(c.state(), ChangeState::Reviewed);
    let review = c.post_implementation_review().unwrap();
    assert_eq!(
        (review.by, review.at, review.notes.as_str()),
        (user(REVIEWER), t(2 * DAY), "justified; patch held")
    );
}

#[test]
fn a_cancelled_emergency_change_still_owes_its_review() {
    let mut c = in_state(&ChangeKind::Emergency, ChangeState::Approved).unwrap();
    c.cancel(t(2 * HOUR), user(REQUESTER), "vendor withdrew the patch")
        .unwrap();
    assert!(c.needs_review());
    c.review(t(DAY), user(REVIEWER), "cancel was right")
        .unwrap();
    assert!(!c.needs_review());
    // Cancelled as a draft it was never expedited, so nothing is owed.
    let mut c = draft(ChangeKind::Emergency);
    c.cancel(t(HOUR), user(REQUESTER), "").unwrap();
    assert!(!c.needs_review());
}

#[test]
fn a_normal_change_is_scheduled_before_it_starts() {
    let mut c = in_state(&ChangeKind::Normal, ChangeState::Approved).unwrap();
    let err = c.start(t(2 * DAY), user(OPERATOR)).unwrap_err();
    assert!(matches!(err, TransitionError::NotAllowed { .. }));
    c.schedule(t(3 * HOUR), user(OPERATOR), t(2 * DAY), "")
        .unwrap();
    let err = c.start(t(2 * DAY - 1), user(OPERATOR)).unwrap_err();
    assert!(matches!(
        err,
        TransitionError::Refused {
            reason: Refusal::TooEarly(at),
            ..
        } if at == t(2 * DAY)
    ));
    // Re-planned earlier, it may start then.
    c.schedule(t(4 * HOUR), user(OPERATOR), t(DAY), "customer asked")
        .unwrap();
    assert_eq!(c.state(), ChangeState::Scheduled);
    assert_eq!(c.planned_start(), Some(t(DAY)));
    c.start(t(DAY), user(OPERATOR)).unwrap();
}

#[test]
fn a_planned_start_must_lie_within_the_schedule() {
    let c = in_state(&ChangeKind::Normal, ChangeState::Approved).unwrap();
    for (at, planned, problem) in [
        (t(2 * DAY), t(DAY + HOUR), "is in the past"),
        (t(3 * HOUR), t(DAY - 1), "is before the earliest start"),
        (t(3 * HOUR), t(30 * DAY + 1), "is after the deadline"),
    ] {
        let mut c = c.clone();
        let err = c.schedule(at, user(OPERATOR), planned, "").unwrap_err();
        assert!(err.to_string().contains(problem), "{err}");
        assert_eq!(c.state(), ChangeState::Approved);
        assert_eq!(c.planned_start(), None);
    }
    let mut c = c.clone();
    c.schedule(t(3 * HOUR), user(OPERATOR), t(30 * DAY), "at the deadline")
        .unwrap();
}

#[test]
fn why_is_required_for_rejecting_failing_and_rolling_back() {
    let mut c = submitted();
    let err = c.reject(t(2 * HOUR), user(CAB_A), "  ").unwrap_err();
    assert_eq!(
        err.to_string(),
        "cannot reject the change (submitted): a comment saying why is required"
    );
    assert_eq!(c.state(), ChangeState::Submitted);
    let c = in_state(&ChangeKind::Normal, ChangeState::InProgress).unwrap();
    for action in [Action::Fail, Action::RollBack] {
        let mut c = c.clone();
        let result = match action {
            Action::Fail => c.fail(t(2 * DAY), user(OPERATOR), ""),
            _ => c.roll_back(t(2 * DAY), user(OPERATOR), ""),
        };
        assert!(matches!(
            result,
            Err(TransitionError::Refused {
                reason: Refusal::CommentRequired,
                ..
            })
        ));
        assert_eq!(c.state(), ChangeState::InProgress);
    }
    let mut c = submitted();
    let long = "x".repeat(4_001);
    assert!(matches!(
        c.approve(t(2 * HOUR), user(CAB_A), &long),
        Err(TransitionError::Refused {
            reason: Refusal::Comment(_),
            ..
        })
    ));
}

#[test]
fn a_rejected_change_is_revised_amended_and_submitted_again() {
    let mut c = in_state(&ChangeKind::Normal, ChangeState::Rejected).unwrap();
    assert!(matches!(
        c.amend(new_change(ChangeKind::Normal)),
        Err(AmendError::NotDraft(ChangeState::Rejected))
    ));
    c.revise(t(3 * HOUR), user(REQUESTER), "backout tested now")
        .unwrap();
    assert_eq!(c.state(), ChangeState::Draft);
    let mut new = new_change(ChangeKind::Normal);
    new.test_evidence = "Backout tested on staging".into();
    new.title = String::new();
    let err = c.amend(new.clone()).unwrap_err();
    assert!(
        err.to_string().contains("title: must not be empty"),
        "{err}"
    );
    new.title = "OpenSSL security update, backout tested".into();
    c.amend(new).unwrap();
    assert_eq!(c.title(), "OpenSSL security update, backout tested");
    assert_eq!(c.history().len(), 3, "amending keeps the history");
    assert_eq!(c.submitted_at(), Some(t(HOUR)));
    c.submit(t(4 * HOUR), user(REQUESTER), None, "").unwrap();
    assert_eq!(c.state(), ChangeState::Submitted);
    assert_eq!(c.submitted_at(), Some(t(4 * HOUR)), "the latest round");
}

#[test]
fn a_standard_change_is_pre_approved_when_it_fits_its_template() {
    let mut c = draft(standard());
    c.submit(t(HOUR), user(REQUESTER), Some(&template()), "March")
        .unwrap();
    assert_eq!(c.state(), ChangeState::Approved);
    let [entry] = c.history() else {
        panic!("one entry: {:?}", c.history())
    };
    assert_eq!(
        (entry.action, entry.from, entry.to),
        (Action::Submit, ChangeState::Draft, ChangeState::Approved)
    );
    assert_eq!(
        entry.comment,
        "pre-approved by standard change template monthly-security (Monthly security patches): March"
    );
}

#[test]
fn a_standard_change_that_does_not_fit_stays_a_draft() {
    let refused = |c: &mut Change, template: Option<&ChangeTemplate>| -> TemplateMismatch {
        match c.submit(t(HOUR), user(REQUESTER), template, "") {
            Err(TransitionError::Refused {
                reason: Refusal::Template(m),
                ..
            }) => m,
            other => panic!("{other:?}"),
        }
    };
    let mut c = draft(standard());
    assert_eq!(refused(&mut c, None), TemplateMismatch::Missing);
    let other = ChangeTemplate {
        id: "quarterly".into(),
        ..template()
    };
    assert!(matches!(
        refused(&mut c, Some(&other)),
        TemplateMismatch::OtherTemplate { .. }
    ));
    let mut new = new_change(standard());
    new.patches
        .push(package("nginx", "1.26.0-1", Some(UpdateClass::Enhancement)));
    new.patches.push(package("curl", "8.5.0-2", None));
    let mut c = validate(new.clone());
    assert_eq!(
        refused(&mut c, Some(&template())),
        TemplateMismatch::ClassNotAllowed {
            patch: 2,
            class: UpdateClass::Enhancement
        }
    );
    new.patches.remove(2);
    let mut c = validate(new);
    assert_eq!(
        refused(&mut c, Some(&template())),
        TemplateMismatch::ClassUnknown { patch: 2 }
    );
    let mut new = new_change(standard());
    new.risk = Risk::High;
    let mut c = validate(new);
    assert_eq!(
        refused(&mut c, Some(&template())),
        TemplateMismatch::RiskTooHigh {
            risk: Risk::High,
            max: Risk::Medium
        }
    );
    assert_eq!(c.state(), ChangeState::Draft);
    assert!(c.history().is_empty());
    assert_eq!(
        template().fits(&draft(ChangeKind::Normal)),
        Err(TemplateMismatch::NotStandard)
    );
}

#[test]
fn a_template_never_pre_approves_major_or_middleware_updates() {
    assert_eq!(template().validate(), Ok(()));
    for class in [UpdateClass::Major, UpdateClass::Middleware] {
        let mut tpl = template();
        tpl.allowed_classes.insert(class);
        let err = tpl.validate().unwrap_err();
        assert_eq!(err.errors[0].field, "allowed_classes");
        assert!(err.errors[0].message.contains(class.as_str()));
    }
    let empty = ChangeTemplate {
        id: "bad id".into(),
        name: " ".into(),
        allowed_classes: BTreeSet::new(),
        max_risk: Risk::Low,
    };
    let fields: Vec<_> = empty
        .validate()
        .unwrap_err()
        .errors
        .into_iter()
        .map(|e| e.field)
        .collect();
    assert_eq!(fields, ["id", "name", "allowed_classes"]);
}

/// The fields a request's validation complains about.
fn invalid_fields(new: NewChange) -> Vec<String> {
    new.validate(
        ChangeId::new(t(0), [7; 10]),
        tenant(CUSTOMER),
        user(REQUESTER),
        t(0),
    )
    .unwrap_err()
    .errors
    .into_iter()
    .map(|e| e.field)
    .collect()
}

/// Breaks one field of a valid request.
type Spoil = fn(&mut NewChange);

#[test]
fn validation_names_the_field() {
    let cases: Vec<(&str, Spoil)> = vec![
        ("title", |n| n.title = "  ".into()),
        ("title", |n| n.title = "é".repeat(201)),
        ("title", |n| n.title = "a\u{7}b".into()),
        ("description", |n| n.description = "x".repeat(10_001)),
        ("patches", |n| n.patches.clear()),
        ("targets", |n| n.targets.clear()),
        ("patches[1].version", |n| {
            n.patches[1] = package("openssl", "", None)
        }),
        ("patches[1].name", |n| {
            n.patches[1] = package("open ssl", "3.0", None)
        }),
        ("patches[0].version", |n| {
            n.patches[0] = package("libssl3", "3.0\n", None)
        }),
        ("patches[2].id", |n| {
            n.patches.push(Patch::Advisory {
                id: "".into(),
                class: None,
            })
        }),
        ("patches[2].arch", |n| {
            n.patches.push(Patch::Package {
                name: "zlib1g".into(),
                version: "1.2.13".into(),
                arch: Some("".into()),
                class: None,
            })
        }),
        ("patches[2]", |n| {
            n.patches.push(package("openssl", "3.0.14-1", None))
        }),
        ("targets[1]", |n| {
            n.targets.push(Target::Group(" web ".into()))
        }),
        ("targets[1].host", |n| {
            n.targets.push(Target::Host("".into()))
        }),
        ("targets[1].tenant", |n| {
            n.targets.push(Target::Tenant(tenant(OTHER_CUSTOMER)))
        }),
        ("schedule.deadline", |n| {
            n.schedule.deadline = Some(n.schedule.earliest_start)
        }),
        ("expected_downtime", |n| {
            n.expected_downtime = SignedDuration::from_hours(7 * 24 + 1)
        }),
        ("expected_downtime", |n| {
            n.expected_downtime = SignedDuration::from_secs(-1)
        }),
        ("backout_plan", |n| n.backout_plan = " ".into()),
        ("kind.template", |n| {
            n.kind = ChangeKind::Standard {
                template: "".into(),
            }
        }),
        ("order.steps[2]", |n| {
            n.order = Order::Steps(vec!["libssl3".into(), "openssl".into(), "curl".into()])
        }),
        ("order.steps[1]", |n| {
            n.order = Order::Steps(vec!["libssl3".into(), "libssl3".into(), "openssl".into()])
        }),
        ("order.steps", |n| {
            n.order = Order::Steps(vec!["openssl".into()])
        }),
    ];
    for (field, spoil) in cases {
        let mut new = new_change(ChangeKind::Normal);
        spoil(&mut new);
        assert_eq!(invalid_fields(new), [field], "spoiling {field}");
    }
}

#[test]
fn validation_reports_every_problem_at_once() {
    let mut new = new_change(ChangeKind::Emergency);
    new.title = String::new();
    new.patches[1] = package("openssl", "", None);
    new.backout_plan = String::new();
    let err = new
        .validate(
            ChangeId::new(t(0), [7; 10]),
            tenant(CUSTOMER),
            user(REQUESTER),
            t(0),
        )
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid change request: title: must not be empty; \
         patches[1].version: must not be empty; \
         backout_plan: is required for normal and emergency changes"
    );
    assert_eq!(
        err.field("patches[1].version").unwrap().to_string(),
        "patches[1].version: must not be empty"
    );
}

#[test]
fn validation_accepts_what_is_merely_unusual() {
    // A standard change's backout plan is its template's.
    let mut new = new_change(standard());
    new.backout_plan = String::new();
    validate(new);
    // Multiarch: one package for two architectures is two patches.
    let mut new = new_change(ChangeKind::Normal);
    new.patches = ["amd64", "i386"]
        .map(|arch| Patch::Package {
            name: "libc6".into(),
            version: "2.36-9+deb12u7".into(),
            arch: Some(arch.into()),
            class: Some(UpdateClass::Security),
        })
        .to_vec();
    new.targets = vec![Target::Tenant(tenant(CUSTOMER)), Target::Host("h-1".into())];
    new.expected_downtime = SignedDuration::from_hours(7 * 24);
    new.title = "  Trimmed  ".into();
    let c = validate(new);
    assert_eq!(c.title(), "Trimmed");
    assert_eq!(c.state(), ChangeState::Draft);
    assert!(c.history().is_empty());
    // The same package for no particular architecture overlaps with both.
    let mut new = new_change(ChangeKind::Normal);
    new.patches.push(Patch::Package {
        name: "openssl".into(),
        version: "3.0.13-1~deb12u1".into(),
        arch: Some("amd64".into()),
        class: None,
    });
    assert_eq!(invalid_fields(new), ["patches[2]"]);
    // Advisory ids compare without regard to case.
    let mut new = new_change(ChangeKind::Normal);
    for id in ["CVE-2024-0727", "cve-2024-0727"] {
        new.patches.push(Patch::Advisory {
            id: id.into(),
            class: None,
        });
    }
    assert_eq!(invalid_fields(new), ["patches[3]"]);
}

#[test]
fn a_change_reads_and_writes_the_api_json() {
    let json = serde_json::json!({
        "kind": {"type": "standard", "template": "monthly-security"},
        "title": "March security patches",
        "patches": [
            {"type": "advisory", "id": "RHSA-2024:1234", "class": "security"},
            {"type": "package", "name": "openssl", "version": "1:3.0.7-27.el9", "arch": "x86_64"}
        ],
        "targets": [{"ring": "pilot"}, {"host": "web-1"}],
        "schedule": {"earliest_start": "2024-06-04T00:00:00Z"},
        "risk": "low",
        "expected_downtime": "PT15M",
        "order": {"steps": ["openssl"]}
    });
    let new: NewChange = serde_json::from_value(json.clone()).unwrap();
    assert_eq!(new.expected_downtime, SignedDuration::from_mins(15));
    assert_eq!(new.patches[0].class(), Some(UpdateClass::Security));
    let c = validate(new);
    let stored = serde_json::to_value(&c).unwrap();
    assert_eq!(stored["state"], "draft");
    assert_eq!(stored["kind"]["type"], "standard");
    assert_eq!(stored["targets"][0]["ring"], "pilot");
    let back: Change = serde_json::from_value(stored).unwrap();
    assert_eq!(back, c);

    let mut c = in_state(&ChangeKind::Normal, ChangeState::InProgress).unwrap();
    c.roll_back(t(2 * DAY), user(OPERATOR), "halted").unwrap();
    let stored = serde_json::to_value(&c).unwrap();
    assert_eq!(stored["state"], "rolled_back");
    assert_eq!(stored["history"][4]["from"], "in_progress");
    assert_eq!(stored["history"][4]["action"], "roll_back");

    let mut typo = json;
    typo["titel"] = "x".into();
    let err = serde_json::from_value::<NewChange>(typo).unwrap_err();
    assert!(err.to_string().contains("titel"), "{err}");
}

#[test]
fn state_and_action_names_round_trip() {
    for state in ChangeState::ALL {
        assert_eq!(ChangeState::parse(state.as_str()), Some(state));
        let json = serde_json::to_value(state).unwrap();
        assert_eq!(json, state.as_str());
    }
    for action in Action::ALL {
        assert_eq!(Action::parse(action.as_str()), Some(action));
        assert_eq!(serde_json::to_value(action).unwrap(), action.as_str());
    }
    assert_eq!(ChangeState::parse("in progress"), None);
    assert_eq!(Action::parse("rollback"), None);
}

#[test]
fn change_ids_sort_by_creation_and_parse() {
    let early = ChangeId::new(t(0), [0xff; 10]);
    let late = ChangeId::new(t(1), [0; 10]);
    assert!(early < late);
    assert_eq!(early.to_string().parse::<ChangeId>(), Ok(early));
    assert!("change-1".parse::<ChangeId>().is_err());
}

fn deps(pairs: &[(&str, &[&str])]) -> BTreeMap<String, BTreeSet<String>> {
    pairs
        .iter()
        .map(|(p, ds)| (p.to_string(), ds.iter().map(|d| d.to_string()).collect()))
        .collect()
}

fn change_of(names: &[&str]) -> Change {
    let mut new = new_change(ChangeKind::Normal);
    new.patches = names.iter().map(|n| package(n, "1.0", None)).collect();
    new.patches.push(Patch::Advisory {
        id: "DSA-5678-1".into(),
        class: None,
    });
    validate(new)
}

fn order_names(c: &Change, map: &BTreeMap<String, BTreeSet<String>>) -> Vec<String> {
    c.install_order(map)
        .unwrap()
        .into_iter()
        .map(|p| p.package_name().unwrap().to_owned())
        .collect()
}

#[test]
fn packages_install_dependencies_first() {
    let c = change_of(&["openssl", "nginx", "libssl3", "libc6", "curl"]);
    let map = deps(&[
        ("openssl", &["libssl3", "libc6"]),
        ("libssl3", &["libc6"]),
        ("nginx", &["libssl3", "libpcre2-8-0"]), // not in the change: ignored
        ("curl", &["curl"]),                     // itself: ignored
    ]);
    // Ties keep the change's order: curl depends on nothing here.
    assert_eq!(
        order_names(&c, &map),
        ["libc6", "libssl3", "openssl", "nginx", "curl"]
    );
    // Without any known dependencies, the order given.
    assert_eq!(
        order_names(&c, &BTreeMap::new()),
        ["openssl", "nginx", "libssl3", "libc6", "curl"]
    );
}

#[test]
fn a_dependency_cycle_is_named() {
    let c = change_of(&["a", "b", "c", "d"]);
    let map = deps(&[("a", &["d"]), ("b", &["c"]), ("c", &["d"]), ("d", &["b"])]);
    let err = c.install_order(&map).unwrap_err();
    assert_eq!(
        err,
        OrderError::Cycle(["b", "c", "d", "b"].map(String::from).to_vec())
    );
    assert_eq!(
        err.to_string(),
        "the packages depend on each other in a cycle: b → c → d → b"
    );
}

#[test]
fn explicit_steps_are_the_order() {
    let mut new = new_change(ChangeKind::Normal);
    new.patches = vec![
        package("openssl", "3.0.13", None),
        Patch::Package {
            name: "libc6".into(),
            version: "2.36".into(),
            arch: Some("amd64".into()),
            class: None,
        },
        Patch::Package {
            name: "libc6".into(),
            version: "2.36".into(),
            arch: Some("i386".into()),
            class: None,
        },
    ];
    new.order = Order::Steps(vec!["openssl".into(), "libc6".into()]);
    let c = validate(new);
    // The steps win over the dependencies the caller knows.
    let map = deps(&[("openssl", &["libc6"])]);
    let got: Vec<String> = c
        .install_order(&map)
        .unwrap()
        .iter()
        .map(|p| p.to_string())
        .collect();
    assert_eq!(
        got,
        ["openssl 3.0.13", "libc6:amd64 2.36", "libc6:i386 2.36"]
    );
}

proptest! {
    /// On any dependency map over the change's packages, the order is a
    /// permutation in which each package follows its dependencies, or the
    /// error names a real cycle.
    #[test]
    fn dependencies_first_or_a_real_cycle(
        edges in proptest::collection::vec((0usize..8, 0usize..8), 0..14),
    ) {
        let names = ["p0", "p1", "p2", "p3", "p4", "p5", "p6", "p7"];
        let c = change_of(&names);
        let mut map: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (from, to) in &edges {
            map.entry(names[*from].into()).or_default().insert(names[*to].into());
        }
        let depends = |a: &str, b: &str| a != b && map.get(a).is_some_and(|d| d.contains(b));
        match c.install_order(&map) {
            Ok(order) => {
                let order: Vec<&str> = order.iter().map(|p| p.package_name().unwrap()).collect();
                let mut sorted = order.clone();
                sorted.sort();
                prop_assert_eq!(sorted, names.to_vec());
                for (i, a) in order.iter().enumerate() {
                    for b in &order[i + 1..] {
                        prop_assert!(!depends(a, b), "{} before its dependency {}", a, b);
                    }
                }
            }
            Err(OrderError::Cycle(cycle)) => {
                prop_assert!(cycle.len() >= 3, "{:?}", cycle);
                prop_assert_eq!(cycle.first(), cycle.last());
                for pair in cycle.windows(2) {
                    prop_assert!(depends(&pair[0], &pair[1]), "{:?}", cycle);
                }
            }
            Err(other) => prop_assert!(false, "{}", other),
        }
    }

    /// Whatever actions are tried in whatever order, the history is a chain
    /// from draft to the current state and a refused action changes nothing.
    #[test]
    fn the_history_is_a_chain(
        kind in 0usize..3,
        actions in proptest::collection::vec(0usize..12, 0..30),
    ) {
        let mut c = draft(kinds()[kind].0.clone());
        for (i, a) in actions.into_iter().enumerate() {
            let before = c.clone();
            let at = t(2 * DAY + i as i64 * HOUR);
            if act(&mut c, Action::ALL[a], at).is_err() {
                prop_assert_eq!(&c, &before);
            }
        }
        let mut state = ChangeState::Draft;
        for step in c.history() {
            prop_assert_eq!(step.from, state);
            state = step.to;
        }
        prop_assert_eq!(state, c.state());
    }
}
