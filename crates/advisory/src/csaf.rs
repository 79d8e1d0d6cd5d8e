//! csaf
