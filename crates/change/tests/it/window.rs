//! Maintenance windows across daylight saving, monthly rules, freezes and
//! several windows per host, checked against UTC instants worked out by hand.

use jiff::{SignedDuration, Timestamp};
use rivet_change::window::{
    Freeze, FreezeSpec, HORIZON, Interval, Window, WindowSpec, is_open, next_opening, openings,
};

pub fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn iv(start: &str, end: &str) -> Interval {
    Interval {
        start: ts(start),
        end: ts(end),
    }
}

pub fn window(tz: &str, start: &str, rrule: &str, hours: i64) -> Window {
    Window::new(WindowSpec {
        name: "w".into(),
        time_zone: tz.into(),
        start: start.parse().unwrap(),
        rrule: rrule.into(),
        duration: SignedDuration::from_hours(hours),
    })
    .unwrap()
}

fn freeze(start: &str, end: &str) -> Freeze {
    Freeze::new(FreezeSpec {
        start: ts(start),
        end: ts(end),
        reason: "year-end closing".into(),
    })
    .unwrap()
}

fn sundays(tz: &str, time: &str) -> Window {
    window(tz, &format!("2026-01-04T{time}"), "FREQ=WEEKLY;BYDAY=SU", 2)
}

#[test]
fn berlin_spring_forward_starts_after_the_gap_and_lasts_two_hours() {
    let w = sundays("Europe/Berlin", "02:00");
    let got = w.occurrences(ts("2026-03-21T00:00:00Z"), ts("2026-04-06T00:00:00Z"));
    assert_eq!(
        got,
        vec![
            // 02:00 CET (+01:00).
            iv("2026-03-22T01:00:00Z", "2026-03-22T03:00:00Z"),
            // 02:00 does not exist on 29 March: read with the offset before
            // the gap it is 03:00 CEST; two hours later it is 05:00 CEST.
            iv("2026-03-29T01:00:00Z", "2026-03-29T03:00:00Z"),
            // 02:00 CEST (+02:00).
            iv("2026-04-05T00:00:00Z", "2026-04-05T02:00:00Z"),
        ]
    );
    // 02:30 on the same night falls in the gap too: 03:30 CEST.
    let half = sundays("Europe/Berlin", "02:30");
    assert_eq!(
        half.occurrence_at(ts("2026-03-29T02:00:00Z")),
        Some(iv("2026-03-29T01:30:00Z", "2026-03-29T03:30:00Z"))
    );
}

#[test]
fn berlin_fall_back_takes_the_first_of_the_repeated_hours() {
    let w = sundays("Europe/Berlin", "02:00");
    let got = w.occurrences(ts("2026-10-17T00:00:00Z"), ts("2026-11-02T00:00:00Z"));
    assert_eq!(
        got,
        vec![
            iv("2026-10-18T00:00:00Z", "2026-10-18T02:00:00Z"),
            // 02:00 happens twice on 25 October: the first (CEST, +02:00);
            // two hours later it is 03:00 CET.
            iv("2026-10-25T00:00:00Z", "2026-10-25T02:00:00Z"),
            iv("2026-11-01T01:00:00Z", "2026-11-01T03:00:00Z"),
        ]
    );
}

#[test]
fn new_york_spring_forward_and_fall_back() {
    let spring = sundays("America/New_York", "02:30");
    let got = spring.occurrences(ts("2026-03-01T00:00:00Z"), ts("2026-03-16T00:00:00Z"));
    assert_eq!(
        got,
        vec![
            // 02:30 EST (-05:00).
            iv("2026-03-01T07:30:00Z", "2026-03-01T09:30:00Z"),
            // 02:30 does not exist on 8 March: 03:30 EDT.
            iv("2026-03-08T07:30:00Z", "2026-03-08T09:30:00Z"),
            // 02:30 EDT (-04:00).
            iv("2026-03-15T06:30:00Z", "2026-03-15T08:30:00Z"),
        ]
    );
    let fall = sundays("America/New_York", "01:30");
    let got = fall.occurrences(ts("2026-10-25T00:00:00Z"), ts("2026-11-09T00:00:00Z"));
    assert_eq!(
        got,
        vec![
            iv("2026-10-25T05:30:00Z", "2026-10-25T07:30:00Z"),
            // 01:30 happens twice on 1 November: the first, EDT.
            iv("2026-11-01T05:30:00Z", "2026-11-01T07:30:00Z"),
            iv("2026-11-08T06:30:00Z", "2026-11-08T08:30:00Z"),
        ]
    );
}

#[test]
fn second_tuesday_of_the_month() {
    let w = window(
        "Europe/Berlin",
        "2026-01-13T02:00:00",
        "FREQ=MONTHLY;BYDAY=2TU",
        3,
    );
    let starts: Vec<Timestamp> = w
        .occurrences(ts("2026-01-01T00:00:00Z"), ts("2026-06-01T00:00:00Z"))
        .iter()
        .map(|o| o.start)
        .collect();
    assert_eq!(
        starts,
        vec![
            ts("2026-01-13T01:00:00Z"),
            ts("2026-02-10T01:00:00Z"),
            ts("2026-03-10T01:00:00Z"),
            ts("2026-04-14T00:00:00Z"),
            ts("2026-05-12T00:00:00Z"),
        ]
    );
    // The last Friday, every other month, and weekdays by set position.
    let last_friday = window(
        "UTC",
        "2026-01-30T20:00:00",
        "FREQ=MONTHLY;INTERVAL=2;BYDAY=-1FR",
        1,
    );
    let got: Vec<Timestamp> = last_friday
        .occurrences(ts("2026-01-01T00:00:00Z"), ts("2026-07-01T00:00:00Z"))
        .iter()
        .map(|o| o.start)
        .collect();
    assert_eq!(
        got,
        vec![
            ts("2026-01-30T20:00:00Z"),
            ts("2026-03-27T20:00:00Z"),
            ts("2026-05-29T20:00:00Z"),
        ]
    );
    let last_weekday = window(
        "UTC",
        "2026-01-01T20:00:00",
        "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1",
        1,
    );
    // 31 May 2026 is a Sunday: the last weekday of May is Friday the 29th.
    assert_eq!(
        next_opening(&[last_weekday], &[], ts("2026-05-01T00:00:00Z")).map(|o| o.start),
        Some(ts("2026-05-29T20:00:00Z"))
    );
}

#[test]
fn the_31st_skips_short_months() {
    let w = window("UTC", "2026-01-31T01:00:00", "FREQ=MONTHLY", 1);
    let got: Vec<Timestamp> = w
        .occurrences(ts("2026-01-01T00:00:00Z"), ts("2026-06-01T00:00:00Z"))
        .iter()
        .map(|o| o.start)
        .collect();
    assert_eq!(
        got,
        vec![
            ts("2026-01-31T01:00:00Z"),
            ts("2026-03-31T01:00:00Z"),
            ts("2026-05-31T01:00:00Z"),
        ]
    );
}

#[test]
fn a_freeze_cancels_the_windows_it_overlaps() {
    let w = [sundays("Europe/Berlin", "02:00")];
    // Sundays 20 and 27 December and 3 January are frozen; the freeze ends
    // at 02:00 UTC on 3 January, in the middle of that occurrence (01:00 to
    // 03:00 UTC), which is cancelled whole, not trimmed.
    let f = [freeze("2026-12-19T00:00:00Z", "2027-01-03T02:00:00Z")];
    assert_eq!(
        next_opening(&w, &f, ts("2026-12-18T00:00:00Z")),
        Some(iv("2027-01-10T01:00:00Z", "2027-01-10T03:00:00Z"))
    );
    assert!(!is_open(&w, &f, ts("2027-01-03T02:30:00Z")));
    assert!(is_open(&w, &[], ts("2027-01-03T02:30:00Z")));
    assert!(is_open(&w, &f, ts("2027-01-10T01:00:00Z")));
    // The end is exclusive.
    assert!(!is_open(&w, &f, ts("2027-01-10T03:00:00Z")));
}

#[test]
fn a_host_with_several_windows() {
    let w = [
        sundays("Europe/Berlin", "02:00"),
        // Wednesdays 22:00 Berlin for 1 hour.
        window(
            "Europe/Berlin",
            "2026-01-07T22:00:00",
            "FREQ=WEEKLY;BYDAY=WE",
            1,
        ),
        // Sundays 03:00 Berlin for 2 hours: overlaps the first, merges.
        window(
            "Europe/Berlin",
            "2026-01-04T03:00:00",
            "FREQ=WEEKLY;BYDAY=SU",
            2,
        ),
    ];
    // From Monday 15 June: Wednesday comes first (22:00 CEST = 20:00Z).
    assert_eq!(
        next_opening(&w, &[], ts("2026-06-15T08:00:00Z")),
        Some(iv("2026-06-17T20:00:00Z", "2026-06-17T21:00:00Z"))
    );
    // From Thursday: Sunday 02:00 to 05:00 CEST, the two windows merged.
    assert_eq!(
        next_opening(&w, &[], ts("2026-06-18T08:00:00Z")),
        Some(iv("2026-06-21T00:00:00Z", "2026-06-21T03:00:00Z"))
    );
    // Open now: the opening that holds the instant, with its real start.
    assert_eq!(
        next_opening(&w, &[], ts("2026-06-21T02:59:59Z")),
        Some(iv("2026-06-21T00:00:00Z", "2026-06-21T03:00:00Z"))
    );
    let week = openings(
        &w,
        &[],
        ts("2026-06-15T00:00:00Z"),
        ts("2026-06-22T00:00:00Z"),
    );
    assert_eq!(week.len(), 2);
}

#[test]
fn searches_end_when_a_rule_never_occurs_again() {
    let twice = window("UTC", "2026-01-04T02:00:00", "FREQ=WEEKLY;COUNT=2", 2);
    assert_eq!(
        next_opening(
            std::slice::from_ref(&twice),
            &[],
            ts("2026-01-05T00:00:00Z")
        ),
        Some(iv("2026-01-11T02:00:00Z", "2026-01-11T04:00:00Z"))
    );
    assert_eq!(
        next_opening(&[twice], &[], ts("2026-01-12T00:00:00Z")),
        None
    );
    let until = window("UTC", "2026-01-04T02:00:00", "FREQ=DAILY;UNTIL=20260110", 1);
    assert_eq!(
        next_opening(&[until], &[], ts("2026-01-10T03:00:00Z")),
        None
    );
    // 30 February never comes; the search still ends.
    let never = window(
        "UTC",
        "2026-01-01T02:00:00",
        "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30",
        1,
    );
    assert_eq!(
        next_opening(&[never], &[], ts("2026-01-01T00:00:00Z")),
        None
    );
    // A window beyond the horizon is not found either.
    let far = window("UTC", "2030-01-01T02:00:00", "FREQ=DAILY", 1);
    assert_eq!(
        next_opening(std::slice::from_ref(&far), &[], ts("2026-01-01T00:00:00Z")),
        None
    );
    assert!(next_opening(&[far], &[], ts("2029-01-01T00:00:00Z")).is_some());
    assert_eq!(HORIZON, SignedDuration::from_hours(24 * 731));
}

#[test]
fn overlapping_occurrences_of_one_window_merge() {
    // Daily for 30 hours: always open once it has begun.
    let w = window("UTC", "2026-01-01T00:00:00", "FREQ=DAILY", 30);
    let got = w.occurrences(ts("2026-01-01T00:00:00Z"), ts("2026-01-04T00:00:00Z"));
    assert_eq!(
        got,
        vec![iv("2026-01-01T00:00:00Z", "2026-01-04T06:00:00Z")]
    );
    assert!(w.occurrence_at(ts("2025-12-31T23:59:59Z")).is_none());
}

#[test]
fn invalid_windows_name_the_field() {
    let spec = WindowSpec {
        name: "sunday-night".into(),
        time_zone: "Europe/Berlin".into(),
        start: "2026-01-04T02:00:00".parse().unwrap(),
        rrule: "FREQ=WEEKLY;BYDAY=SU".into(),
        duration: SignedDuration::from_hours(2),
    };
    assert!(Window::new(spec.clone()).is_ok());
    let err = |s: WindowSpec| Window::new(s).unwrap_err();
    let e = err(WindowSpec {
        time_zone: "Europe/Atlantis".into(),
        ..spec.clone()
    });
    assert_eq!(e.field, "time_zone");
    assert!(e.reason.contains("Europe/Atlantis"));
    let e = err(WindowSpec {
        rrule: "FREQ=WEEKLY;BYDAY=SX".into(),
        ..spec.clone()
    });
    assert_eq!(e.field, "rrule");
    assert!(e.reason.contains("\"SX\" is not a weekday"), "{e}");
    let e = err(WindowSpec {
        rrule: "FREQ=WEEKLY;BYWEEKNO=3".into(),
        ..spec.clone()
    });
    assert_eq!(e.field, "rrule");
    for hours in [0, -1, 24 * 7 + 1] {
        let e = err(WindowSpec {
            duration: SignedDuration::from_hours(hours),
            ..spec.clone()
        });
        assert_eq!(e.field, "duration", "{hours} h");
    }
    assert!(
        Window::new(WindowSpec {
            duration: SignedDuration::from_hours(24 * 7),
            ..spec.clone()
        })
        .is_ok()
    );
    let e = err(WindowSpec {
        name: "sunday night".into(),
        ..spec.clone()
    });
    assert_eq!(e.field, "name");
}

#[test]
fn invalid_freezes_name_the_field() {
    let spec = FreezeSpec {
        start: ts("2026-12-20T00:00:00Z"),
        end: ts("2027-01-04T00:00:00Z"),
        reason: "year-end".into(),
    };
    assert!(Freeze::new(spec.clone()).is_ok());
    let e = Freeze::new(FreezeSpec {
        end: spec.start,
        ..spec.clone()
    })
    .unwrap_err();
    assert_eq!(e.field, "end");
    // 366 days is the limit: 20 December 2026 to 21 December 2027.
    assert!(
        Freeze::new(FreezeSpec {
            end: ts("2027-12-21T00:00:00Z"),
            ..spec.clone()
        })
        .is_ok()
    );
    let e = Freeze::new(FreezeSpec {
        end: ts("2027-12-22T00:00:00Z"),
        ..spec.clone()
    })
    .unwrap_err();
    assert_eq!(e.field, "end");
    let e = Freeze::new(FreezeSpec {
        reason: " ".into(),
        ..spec
    })
    .unwrap_err();
    assert_eq!(e.field, "reason");
}

#[test]
fn windows_read_and_write_json() {
    let json = r#"{"name":"sunday-night","time_zone":"Europe/Berlin","start":"2026-01-04T02:00:00","rrule":"FREQ=WEEKLY;BYDAY=SU","duration":"2h"}"#;
    let w: Window = serde_json::from_str(json).unwrap();
    assert_eq!(w.spec().duration, SignedDuration::from_hours(2));
    let again: Window = serde_json::from_str(&serde_json::to_string(&w).unwrap()).unwrap();
    assert_eq!(again, w);
    let bad = json.replace("Europe/Berlin", "Mars/Olympus");
    let err = serde_json::from_str::<Window>(&bad)
        .unwrap_err()
        .to_string();
    assert!(err.contains("time_zone"), "{err}");
}

#[test]
fn havana_changes_at_midnight_and_no_occurrence_is_lost() {
    // Cuba moves its clocks at 00:00: to 01:00 on 8 March 2026 and, in the
    // bundled tzdata (2026f), back to 00:00 only on 7 November 2027 (Debian
    // 12's tzdata 2025b still says 1 November 2026: the reason the database
    // is bundled). The rrule crate drops occurrences whose local midnight is
    // in a gap or fold; here 00:30 in the gap is 01:30 CDT, and the repeated
    // 00:30 is the first (CDT).
    let w = window("America/Havana", "2026-03-01T00:30:00", "FREQ=DAILY", 1);
    let starts = |from: &str, to: &str| -> Vec<Timestamp> {
        w.occurrences(ts(from), ts(to))
            .iter()
            .map(|o| o.start)
            .collect()
    };
    assert_eq!(
        starts("2026-03-07T00:00:00Z", "2026-03-10T00:00:00Z"),
        vec![
            ts("2026-03-07T05:30:00Z"),
            ts("2026-03-08T05:30:00Z"),
            ts("2026-03-09T04:30:00Z"),
        ]
    );
    assert_eq!(
        starts("2027-11-06T00:00:00Z", "2027-11-09T00:00:00Z"),
        vec![
            ts("2027-11-06T04:30:00Z"),
            ts("2027-11-07T04:30:00Z"),
            ts("2027-11-08T05:30:00Z"),
        ]
    );
}
