//! purl
