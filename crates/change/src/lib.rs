//! Rivet's change engine (CHG-1 to CHG-7, RLO-1 to RLO-7), pure: nothing here
//! performs I/O or reads the clock. Every decision takes the time as a
//! parameter (`at: Timestamp`), so that a one-week soak or a window across a
//! daylight-saving change is tested exhaustively in microseconds.
//!
//! - [`change`]: change requests and their state machine.
//! - [`approval`]: which roles must approve a change, and whether they have.
//! - [`policy`]: update-class policies (automatic, approval, on order, never).
//! - [`window`]: maintenance windows as recurrence rules, and change freezes.
//! - [`ring`]: ring plans and the promotion decision.
//! - [`rollout`]: the execution plan: each host's jobs, batches, halts.

pub mod approval;
pub mod change;
pub mod policy;
pub mod ring;
pub mod rollout;
pub mod window;

pub use jiff::Timestamp;
pub use rivet_core::update::UpdateClass;
