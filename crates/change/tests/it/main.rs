//! The change engine's integration tests: one binary, a module per subject.

mod ring;
mod rollout;
mod window;
