//! integrity
