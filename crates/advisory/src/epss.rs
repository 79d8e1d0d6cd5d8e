//! epss
