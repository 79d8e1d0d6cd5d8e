//! The service loop's decisions with the time and randomness passed in:
//! collection on the server's interval with ±10 % jitter, long polls held
//! until the next collection, `collect_now`, and exponential backoff.

use std::time::Duration;

use jiff::SignedDuration;
use rivet_agent::schedule::{
    Action, Backoff, DEFAULT_INTERVAL_SECS, MIN_COLLECTION_GAP_SECS, MIN_POLL_GAP_SECS, Schedule,
};
use rivet_core::agent::{CheckinResponse, InventoryWanted};

use crate::at;

fn secs(n: i64) -> SignedDuration {
    SignedDuration::from_secs(n)
}

fn response(interval: u32, max_wait: u32, collect_now: bool) -> CheckinResponse {
    CheckinResponse {
        inventory: InventoryWanted::Nothing,
        collect_now,
        checkin_interval_secs: interval,
        max_wait_secs: max_wait,
        poll_interval_secs: 0,
        server_time: at(),
        jobs: Vec::new(),
    }
}

#[test]
fn a_new_agent_collects_at_once() {
    let schedule = Schedule::new(Backoff::default(), None, at(), 0.5);
    assert_eq!(schedule.next_action(at()), Action::Collect);
}

#[test]
fn a_restarted_agent_waits_for_its_interval() {
    let last = at() - secs(100);
    let schedule = Schedule::new(Backoff::default(), Some(last), at(), 0.5);
    // random 0.5 is the middle of the jitter: exactly the interval.
    assert_eq!(schedule.next_collection(), last + secs(900));
    assert_eq!(
        schedule.next_action(at()),
        Action::Poll { wait_secs: 300 },
        "polls are capped by the default longest wait"
    );
    let stale = Schedule::new(Backoff::default(), Some(at() - secs(901)), at(), 0.5);
    assert_eq!(stale.next_action(at()), Action::Collect);
    // A collection time in the future (a clock that jumped back) is ignored.
    let future = Schedule::new(Backoff::default(), Some(at() + secs(3600)), at(), 0.5);
    assert_eq!(future.next_action(at()), Action::Collect);
}

#[test]
fn collections_are_an_interval_apart_give_or_take_ten_percent() {
    let interval = i64::from(DEFAULT_INTERVAL_SECS);
    for (random, expected) in [
        (0.0, interval * 9 / 10),
        (0.5, interval),
        (0.999_999_9, interval * 11 / 10),
    ] {
        let mut schedule = Schedule::new(Backoff::default(), None, at(), 0.5);
        schedule.collected(at(), random);
        let got = schedule.next_collection().duration_since(at()).as_secs();
        assert!((got - expected).abs() <= 1, "{random}: {got} vs {expected}");
    }
    // Nonsense random numbers do not break the schedule.
    for random in [f64::NAN, -3.0, 7.0, f64::INFINITY] {
        let mut schedule = Schedule::new(Backoff::default(), None, at(), 0.5);
        schedule.collected(at(), random);
        let got = schedule.next_collection().duration_since(at()).as_secs();
        assert!((810..=990).contains(&got), "{random}: {got}");
    }
}

#[test]
fn polls_are_held_until_the_next_collection_and_spaced() {
    let mut schedule = Schedule::new(Backoff::default(), None, at(), 0.5);
    schedule.collected(at(), 0.5);
    schedule.checked_in(&response(900, 300, false), at(), at());
    // Right after a check-in, the next poll waits for the minimum gap.
    assert_eq!(
        schedule.next_action(at()),
        Action::Sleep {
            until: at() + secs(MIN_POLL_GAP_SECS.into())
        }
    );
    let later = at() + secs(MIN_POLL_GAP_SECS.into());
    assert_eq!(schedule.next_action(later), Action::Poll { wait_secs: 300 });
    let near = at() + secs(800);
    assert_eq!(schedule.next_action(near), Action::Poll { wait_secs: 100 });
    assert_eq!(schedule.next_action(at() + secs(900)), Action::Collect);
}

#[test]
fn a_large_fleet_polls_as_far_apart_as_its_server_says() {
    let mut schedule = Schedule::new(Backoff::default(), None, at(), 0.5);
    schedule.collected(at(), 0.5);
    let paced = CheckinResponse {
        poll_interval_secs: 120,
        ..response(900, 60, false)
    };
    // A poll held its full minute: the next starts 120 s after it started.
    schedule.checked_in(&paced, at(), at() + secs(60));
    assert_eq!(
        schedule.next_action(at() + secs(60)),
        Action::Sleep {
            until: at() + secs(120)
        }
    );
    assert_eq!(
        schedule.next_action(at() + secs(120)),
        Action::Poll { wait_secs: 60 }
    );
    // A poll answered at once, spaced alike, never closer than the minimum
    // gap whatever the server says.
    let eager = CheckinResponse {
        poll_interval_secs: 1,
        ..response(900, 60, false)
    };
    schedule.checked_in(&eager, at() + secs(120), at() + secs(120));
    assert_eq!(
        schedule.next_action(at() + secs(121)),
        Action::Sleep {
            until: at() + secs(120 + i64::from(MIN_POLL_GAP_SECS))
        }
    );
}

#[test]
fn a_server_that_does_not_hold_requests_is_not_polled() {
    let mut schedule = Schedule::new(Backoff::default(), None, at(), 0.5);
    schedule.collected(at(), 0.5);
    schedule.checked_in(&response(900, 0, false), at(), at());
    assert_eq!(
        schedule.next_action(at() + secs(60)),
        Action::Sleep {
            until: at() + secs(900)
        }
    );
}

#[test]
fn the_servers_interval_applies_and_a_shorter_one_at_once() {
    let mut schedule = Schedule::new(Backoff::default(), None, at(), 0.5);
    schedule.collected(at(), 0.5);
    schedule.checked_in(&response(3600, 300, false), at(), at());
    assert_eq!(schedule.interval_secs(), 3600);
    // The running interval stays; the next one is the new length.
    assert_eq!(schedule.next_collection(), at() + secs(900));
    let t = at() + secs(900);
    schedule.collected(t, 0.5);
    assert_eq!(schedule.next_collection(), t + secs(3600));
    schedule.checked_in(&response(120, 300, false), t, t);
    assert_eq!(schedule.next_collection(), t + secs(120));
    // Absurd intervals are clamped.
    schedule.checked_in(&response(0, 300, false), t, t);
    assert_eq!(schedule.interval_secs(), 60);
}

#[test]
fn collect_now_collects_at_once_but_not_in_a_loop() {
    let mut schedule = Schedule::new(Backoff::default(), None, at(), 0.5);
    let t = at() + secs(100);
    schedule.collected(at(), 0.5);
    schedule.checked_in(&response(900, 300, true), t, t);
    assert_eq!(schedule.next_action(t), Action::Collect);
    // A server that keeps saying collect_now right after a collection.
    schedule.collected(t, 0.5);
    schedule.checked_in(&response(900, 300, true), t, t);
    assert_eq!(
        schedule.next_collection(),
        t + secs(MIN_COLLECTION_GAP_SECS)
    );
    assert_ne!(schedule.next_action(t), Action::Collect);
}

#[test]
fn failures_back_off_exponentially_to_the_maximum() {
    let backoff = Backoff::default();
    let delays: Vec<u64> = (1..=8).map(|n| backoff.delay(n, 0.5).as_secs()).collect();
    assert_eq!(delays, [5, 10, 20, 40, 80, 160, 300, 300]);
    // ±20 % jitter, never above the maximum.
    assert_eq!(backoff.delay(1, 0.0), Duration::from_secs(4));
    assert_eq!(backoff.delay(2, 0.999_999).as_secs(), 11);
    assert_eq!(backoff.delay(30, 0.999_999), Duration::from_secs(300));
    assert_eq!(backoff.delay(u32::MAX, 0.5), Duration::from_secs(300));
    let tight = Backoff {
        initial_secs: 5,
        max_secs: 30,
    };
    assert_eq!(tight.delay(10, 0.5), Duration::from_secs(30));
}

#[test]
fn a_failure_sleeps_then_retries_and_success_resets() {
    let mut schedule = Schedule::new(Backoff::default(), None, at(), 0.5);
    assert_eq!(schedule.failed(at(), 0.5), Duration::from_secs(5));
    assert_eq!(
        schedule.next_action(at()),
        Action::Sleep {
            until: at() + secs(5)
        }
    );
    // The collection is still due after the wait.
    assert_eq!(schedule.next_action(at() + secs(5)), Action::Collect);
    let t = at() + secs(5);
    assert_eq!(schedule.failed(t, 0.5), Duration::from_secs(10));
    assert_eq!(schedule.failures(), 2);
    let t = t + secs(10);
    schedule.collected(t, 0.5);
    schedule.checked_in(&response(900, 300, false), t, t);
    assert_eq!(schedule.failures(), 0);
    assert_eq!(schedule.failed(t, 0.5), Duration::from_secs(5));
}

#[test]
fn a_collection_can_be_made_due() {
    let mut schedule = Schedule::new(Backoff::default(), Some(at() - secs(10)), at(), 0.5);
    assert_ne!(schedule.next_action(at()), Action::Collect);
    schedule.collect_at(at());
    assert_eq!(schedule.next_action(at()), Action::Collect);
}
