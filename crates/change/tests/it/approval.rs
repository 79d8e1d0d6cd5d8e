//! Approval rules: what a change needs, the CAB quorum of distinct members,
//! four eyes, the customer approver for downtime and work outside a window,
//! rejection, and which votes are refused.

use jiff::SignedDuration;
use rivet_change::approval::{
    Approval, ApprovalContext, ApprovalPolicy, ApprovalStatus, CustomerApproval, Missing,
    Requirement, Verdict, VoteError, cast, check_vote, requirements, settle, status,
};
use rivet_change::change::{Change, ChangeKind, ChangeState};
use rivet_core::access::Role;
use rivet_core::tenant::TenantKind;

use crate::change::{
    CAB_A, CAB_B, CUSTOMER, DAY, HOUR, OTHER_CUSTOMER, REQUESTER, in_state, new_change, standard,
    submitted, t, tenant, user, validate,
};

const PROVIDER: u8 = 99;

const INSIDE: ApprovalContext = ApprovalContext {
    outside_window: false,
    tenant_kind: TenantKind::Customer,
};

fn cab(n: u8, decision: Verdict, at: i64) -> Approval {
    Approval {
        by: user(n),
        role: Role::CabMember,
        tenant: tenant(PROVIDER),
        decision,
        comment: match decision {
            Verdict::Approve => String::new(),
            Verdict::Reject => "backout plan untested".into(),
        },
        at: t(at),
    }
}

fn customer(n: u8, of: u8, decision: Verdict, at: i64) -> Approval {
    Approval {
        role: Role::CustomerApprover,
        tenant: tenant(of),
        ..cab(n, decision, at)
    }
}

/// A normal change with `downtime`, submitted at one hour.
fn submitted_with_downtime(downtime: SignedDuration) -> Change {
    let mut new = new_change(ChangeKind::Normal);
    new.expected_downtime = downtime;
    let mut c = validate(new);
    c.submit(t(HOUR), user(REQUESTER), None, "").unwrap();
    c
}

#[test]
fn the_default_is_one_cab_member_and_the_customer_when_affected() {
    assert_eq!(
        ApprovalPolicy::default(),
        ApprovalPolicy {
            cab_quorum: 1,
            customer: CustomerApproval::WhenAffected
        }
    );
    assert!(ApprovalPolicy::default().validate().is_ok());
    let huge = ApprovalPolicy {
        cab_quorum: 26,
        ..ApprovalPolicy::default()
    };
    assert_eq!(huge.validate().unwrap_err().field, "cab_quorum");
    let json = serde_json::to_value(ApprovalPolicy::default()).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"cab_quorum": 1, "customer": "when_affected"})
    );
}

#[test]
fn the_customer_approves_when_its_systems_go_down_or_work_is_outside_a_window() {
    let policy = ApprovalPolicy::default();
    let quiet = submitted_with_downtime(SignedDuration::ZERO);
    let down = submitted_with_downtime(SignedDuration::from_mins(20));
    let outside = ApprovalContext {
        outside_window: true,
        ..INSIDE
    };
    let cab1 = || Requirement::Cab { quorum: 1 };
    let customer_for = |downtime, outside_window| Requirement::Customer {
        tenant: tenant(CUSTOMER),
        downtime,
        outside_window,
    };
    assert_eq!(requirements(&quiet, &policy, &INSIDE).needs, [cab1()]);
    assert_eq!(
        requirements(&down, &policy, &INSIDE).needs,
        [cab1(), customer_for(true, false)]
    );
    assert_eq!(
        requirements(&quiet, &policy, &outside).needs,
        [cab1(), customer_for(false, true)]
    );
    assert_eq!(
        requirements(&down, &policy, &outside).needs,
        [cab1(), customer_for(true, true)]
    );
    let always = ApprovalPolicy {
        customer: CustomerApproval::Always,
        cab_quorum: 0,
    };
    assert_eq!(
        requirements(&quiet, &always, &INSIDE).needs,
        [customer_for(false, false)]
    );
    let never = ApprovalPolicy {
        customer: CustomerApproval::Never,
        ..policy
    };
    assert_eq!(requirements(&down, &never, &outside).needs, [cab1()]);
    // The provider's own hosts: there is no customer to ask.
    let provider = ApprovalContext {
        outside_window: true,
        tenant_kind: TenantKind::Provider,
    };
    assert_eq!(requirements(&down, &policy, &provider).needs, [cab1()]);

    // The customer's approval completes it; the CAB's alone does not.
    let reqs = requirements(&down, &policy, &INSIDE);
    let votes = vec![cab(CAB_A, Verdict::Approve, 2 * HOUR)];
    assert_eq!(
        status(&reqs, &votes),
        ApprovalStatus::Pending {
            missing: vec![Missing::Customer {
                tenant: tenant(CUSTOMER)
            }]
        }
    );
    let mut votes = votes;
    votes.push(customer(20, CUSTOMER, Verdict::Approve, 3 * HOUR));
    assert_eq!(status(&reqs, &votes), ApprovalStatus::Approved);
}

#[test]
fn emergency_and_standard_changes_need_no_approval() {
    let policy = ApprovalPolicy {
        cab_quorum: 3,
        customer: CustomerApproval::Always,
    };
    for kind in [ChangeKind::Emergency, standard()] {
        let c = in_state(&kind, ChangeState::Approved).unwrap();
        let reqs = requirements(&c, &policy, &INSIDE);
        assert!(reqs.needs.is_empty(), "{}", kind.name());
        assert_eq!(status(&reqs, &[]), ApprovalStatus::Approved);
        // Nobody votes on them.
        assert_eq!(
            check_vote(&c, &cab(CAB_A, Verdict::Approve, 2 * HOUR)),
            Err(VoteError::NotAwaitingApproval(ChangeState::Approved))
        );
    }
}

#[test]
fn the_quorum_counts_distinct_cab_members() {
    let policy = ApprovalPolicy {
        cab_quorum: 2,
        customer: CustomerApproval::Never,
    };
    let mut c = submitted();
    let mut votes = Vec::new();
    let pending = |approvals| ApprovalStatus::Pending {
        missing: vec![Missing::Cab {
            approvals,
            quorum: 2,
        }],
    };
    let first = cab(CAB_A, Verdict::Approve, 2 * HOUR);
    let status1 = cast(&mut c, &policy, &INSIDE, &mut votes, first).unwrap();
    assert_eq!(status1, pending(1));
    // The same member again is still one member.
    let again = cab(CAB_A, Verdict::Approve, 3 * HOUR);
    let status2 = cast(&mut c, &policy, &INSIDE, &mut votes, again).unwrap();
    assert_eq!(status2, pending(1));
    assert_eq!(c.state(), ChangeState::Submitted);
    assert_eq!(votes.len(), 2, "both votes are recorded for the audit");
    let second = cab(CAB_B, Verdict::Approve, 4 * HOUR);
    let status3 = cast(&mut c, &policy, &INSIDE, &mut votes, second).unwrap();
    assert_eq!(status3, ApprovalStatus::Approved);
    assert_eq!(c.state(), ChangeState::Approved);
    let last = c.history().last().unwrap();
    assert_eq!((last.by, last.at), (user(CAB_B), t(4 * HOUR)));
    // Approved, it takes no more votes.
    let late = cab(CAB_A, Verdict::Reject, 5 * HOUR);
    assert_eq!(
        cast(&mut c, &policy, &INSIDE, &mut votes, late),
        Err(VoteError::NotAwaitingApproval(ChangeState::Approved))
    );
}

#[test]
fn customer_approvers_do_not_count_towards_the_cab_quorum() {
    let reqs = requirements(&submitted(), &ApprovalPolicy::default(), &INSIDE);
    let votes = [customer(20, CUSTOMER, Verdict::Approve, 2 * HOUR)];
    assert_eq!(
        status(&reqs, &votes),
        ApprovalStatus::Pending {
            missing: vec![Missing::Cab {
                approvals: 0,
                quorum: 1
            }]
        }
    );
}

#[test]
fn four_eyes_the_requester_never_approves_their_own_change() {
    let c = submitted();
    let own = cab(REQUESTER, Verdict::Approve, 2 * HOUR);
    assert_eq!(check_vote(&c, &own), Err(VoteError::OwnChange));
    // A customer's own order: its approver does not approve it either.
    let own_order = customer(REQUESTER, CUSTOMER, Verdict::Approve, 2 * HOUR);
    assert_eq!(check_vote(&c, &own_order), Err(VoteError::OwnChange));
    // Even stored, the requester's vote does not count.
    let reqs = requirements(&c, &ApprovalPolicy::default(), &INSIDE);
    assert!(matches!(
        status(&reqs, &[own]),
        ApprovalStatus::Pending { .. }
    ));
}

#[test]
fn only_cab_members_and_the_tenants_customer_approvers_vote() {
    let c = submitted();
    for role in [
        Role::Admin,
        Role::ChangeManager,
        Role::SecurityOfficer,
        Role::Operator,
        Role::CustomerViewer,
    ] {
        let vote = Approval {
            role,
            ..cab(CAB_A, Verdict::Approve, 2 * HOUR)
        };
        assert_eq!(check_vote(&c, &vote), Err(VoteError::WrongRole(role)));
    }
    let foreign = customer(21, OTHER_CUSTOMER, Verdict::Approve, 2 * HOUR);
    assert_eq!(check_vote(&c, &foreign), Err(VoteError::WrongTenant));
    let own = customer(20, CUSTOMER, Verdict::Approve, 2 * HOUR);
    assert_eq!(check_vote(&c, &own), Ok(()));

    // Stored anyway, neither counts.
    let down = submitted_with_downtime(SignedDuration::from_hours(1));
    let policy = ApprovalPolicy {
        cab_quorum: 0,
        ..ApprovalPolicy::default()
    };
    let reqs = requirements(&down, &policy, &INSIDE);
    let admin = Approval {
        role: Role::Admin,
        ..cab(CAB_A, Verdict::Reject, 2 * HOUR)
    };
    let foreign_reject = customer(21, OTHER_CUSTOMER, Verdict::Reject, 2 * HOUR);
    assert_eq!(
        status(&reqs, &[admin, foreign_reject, foreign]),
        ApprovalStatus::Pending {
            missing: vec![Missing::Customer {
                tenant: tenant(CUSTOMER)
            }]
        }
    );
}

#[test]
fn votes_wait_for_a_submitted_change() {
    for state in [
        ChangeState::Draft,
        ChangeState::Approved,
        ChangeState::Completed,
    ] {
        let c = in_state(&ChangeKind::Normal, state).unwrap();
        assert_eq!(
            check_vote(&c, &cab(CAB_A, Verdict::Approve, 2 * DAY)),
            Err(VoteError::NotAwaitingApproval(state))
        );
    }
}

#[test]
fn a_rejection_needs_a_comment_and_rejects_the_change() {
    let policy = ApprovalPolicy::default();
    let mut c = submitted();
    let mut votes = Vec::new();
    let mut silent = cab(CAB_A, Verdict::Reject, 2 * HOUR);
    silent.comment = " ".into();
    assert_eq!(
        cast(&mut c, &policy, &INSIDE, &mut votes, silent),
        Err(VoteError::CommentRequired)
    );
    assert!(votes.is_empty(), "a refused vote is not recorded");
    let long = Approval {
        comment: "x".repeat(4_001),
        ..cab(CAB_A, Verdict::Approve, 2 * HOUR)
    };
    assert_eq!(check_vote(&c, &long), Err(VoteError::BadComment));

    let reject = cab(CAB_A, Verdict::Reject, 2 * HOUR);
    let got = cast(&mut c, &policy, &INSIDE, &mut votes, reject).unwrap();
    assert_eq!(
        got,
        ApprovalStatus::Rejected {
            by: user(CAB_A),
            comment: "backout plan untested".into()
        }
    );
    assert_eq!(c.state(), ChangeState::Rejected);
    let last = c.history().last().unwrap();
    assert_eq!(
        (last.by, last.at, last.comment.as_str()),
        (user(CAB_A), t(2 * HOUR), "backout plan untested")
    );
}

#[test]
fn a_rejection_stands_over_a_full_quorum() {
    // A customer may refuse work on its systems even when only the CAB's
    // approval was required.
    let reqs = requirements(&submitted(), &ApprovalPolicy::default(), &INSIDE);
    let votes = [
        cab(CAB_A, Verdict::Approve, 2 * HOUR),
        customer(20, CUSTOMER, Verdict::Reject, 3 * HOUR),
    ];
    assert!(matches!(
        status(&reqs, &votes),
        ApprovalStatus::Rejected { by, .. } if by == user(20)
    ));
}

#[test]
fn a_users_latest_vote_counts() {
    let reqs = requirements(&submitted(), &ApprovalPolicy::default(), &INSIDE);
    let approve = cab(CAB_A, Verdict::Approve, 2 * HOUR);
    let reject = cab(CAB_A, Verdict::Reject, 3 * HOUR);
    // By time, not by position.
    assert!(matches!(
        status(&reqs, &[reject.clone(), approve.clone()]),
        ApprovalStatus::Rejected { .. }
    ));
    let change_of_mind = cab(CAB_A, Verdict::Approve, 4 * HOUR);
    assert_eq!(
        status(&reqs, &[approve, reject, change_of_mind]),
        ApprovalStatus::Approved
    );
}

#[test]
fn votes_of_an_earlier_round_do_not_count() {
    let policy = ApprovalPolicy::default();
    let mut c = submitted();
    let mut votes = Vec::new();
    cast(
        &mut c,
        &policy,
        &INSIDE,
        &mut votes,
        cab(CAB_A, Verdict::Reject, 2 * HOUR),
    )
    .unwrap();
    c.revise(t(3 * HOUR), user(REQUESTER), "backout tested")
        .unwrap();
    c.submit(t(4 * HOUR), user(REQUESTER), None, "").unwrap();
    let reqs = requirements(&c, &policy, &INSIDE);
    assert_eq!(reqs.since, Some(t(4 * HOUR)));
    assert!(matches!(
        status(&reqs, &votes),
        ApprovalStatus::Pending { .. }
    ));
    cast(
        &mut c,
        &policy,
        &INSIDE,
        &mut votes,
        cab(CAB_A, Verdict::Approve, 5 * HOUR),
    )
    .unwrap();
    assert_eq!(c.state(), ChangeState::Approved);
}

#[test]
fn a_change_that_needs_nobody_is_approved_when_settled() {
    let policy = ApprovalPolicy {
        cab_quorum: 0,
        customer: CustomerApproval::WhenAffected,
    };
    let mut c = submitted();
    let reqs = requirements(&c, &policy, &INSIDE);
    assert!(reqs.needs.is_empty());
    let got = settle(&mut c, &reqs, &[], t(HOUR), user(REQUESTER)).unwrap();
    assert_eq!(got, ApprovalStatus::Approved);
    assert_eq!(c.state(), ChangeState::Approved);
    assert_eq!(
        c.history().last().unwrap().comment,
        "no approval required by the approval policy"
    );
    // Settling again does nothing to an approved change.
    settle(&mut c, &reqs, &[], t(2 * HOUR), user(REQUESTER)).unwrap();
    assert_eq!(c.history().len(), 2);
}
