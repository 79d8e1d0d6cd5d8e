//! The change engine's integration tests: one binary, a module per subject.

mod approval;
mod change;
mod policy;
mod ring;
mod rollout;
mod window;
