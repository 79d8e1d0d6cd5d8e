//! rivet-core's integration tests, one binary (each extra file under tests/
//! would be another binary to link).

mod sbom;
mod version_differential;
mod version_properties;
mod version_vectors;
