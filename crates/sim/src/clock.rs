//! The simulator's only reads of the clock. Everything else takes the time
//! as a parameter (style.md); these two are the exceptions a load generator
//! cannot do without.

use std::time::Instant;

use rivet_core::Timestamp;

/// The monotonic clock, for latencies and pacing.
// Measuring latency and keeping a request rate is what this tool is for, and
// both need the real monotonic clock.
#[allow(clippy::disallowed_methods)]
pub fn monotonic() -> Instant {
    Instant::now()
}

/// The wall clock, for signing agent requests and stamping inventories.
// The server refuses agent requests whose signed time is more than five
// minutes from its own, so the simulated agents must sign the real time.
#[allow(clippy::disallowed_methods)]
pub fn wall() -> Timestamp {
    Timestamp::now()
}
