//! Repository metadata on real files, when this machine has some: apt's
//! own lists (`/var/lib/apt/lists/*_Packages`, kept uncompressed by some
//! apt configurations) and any file in `RIVET_REPOSITORY_SAMPLES` (a
//! folder of `Packages`, `primary.xml` or `updateinfo.xml` files, plain,
//! gzip or xz). Nothing here depends on them: without any the test checks
//! nothing and says so.

use std::path::PathBuf;

use rivet_assess::repository::{Limits, Metadata, read};

fn samples() -> Vec<PathBuf> {
    let mut files = Vec::new();
    if let Ok(dir) = std::fs::read_dir("/var/lib/apt/lists") {
        files.extend(
            dir.flatten()
                .map(|e| e.path())
                .filter(|p| p.to_string_lossy().ends_with("_Packages")),
        );
    }
    if let Some(dir) = std::env::var_os("RIVET_REPOSITORY_SAMPLES")
        && let Ok(dir) = std::fs::read_dir(dir)
    {
        files.extend(dir.flatten().map(|e| e.path()).filter(|p| p.is_file()));
    }
    files.sort();
    files
}

#[test]
fn real_metadata_on_this_machine_parses_whole() {
    let files = samples();
    if files.is_empty() {
        eprintln!("skipped: no apt lists or RIVET_REPOSITORY_SAMPLES on this machine");
        return;
    }
    for path in files {
        let bytes = std::fs::read(&path).unwrap();
        let name = path.display().to_string();
        let metadata = read(&bytes, &name, &Limits::default()).unwrap_or_else(|e| panic!("{e}"));
        let count = match &metadata {
            Metadata::Packages(p) | Metadata::Primary(p) => p.len(),
            Metadata::Updateinfo(e) => e.len(),
        };
        assert!(count > 0, "{name}: nothing read");
        eprintln!(
            "{name}: {count} {} records, {} bytes",
            metadata.kind().as_str(),
            bytes.len()
        );
    }
}
