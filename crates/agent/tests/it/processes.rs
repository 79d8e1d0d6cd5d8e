//! Processes using deleted libraries: captured maps, and a live process.

use std::path::Path;
use std::process::{Child, Command, Stdio};

use rivet_agent::processes::{parse_cgroup_unit, parse_maps, scan};
use rivet_agent::rootfs::Root;

use crate::fixture;

#[test]
fn captured_maps_with_a_deleted_library() {
    let files = parse_maps(&fixture("maps-deleted-libz.txt"));
    assert_eq!(files, ["/opt/rivet-cap/libz.so.1"]);
}

#[test]
fn scratch_files_and_data_mappings_are_ignored() {
    let maps = "\
7f0000000000-7f0000001000 rw-s 00000000 00:01 1234 /memfd:pulseaudio (deleted)
7f0000001000-7f0000002000 rw-s 00000000 00:17 99 /dev/shm/wayland.mozilla (deleted)
7f0000002000-7f0000003000 rw-s 00000000 00:05 7 /SYSV00000000 (deleted)
7f0000003000-7f0000004000 r--p 00000000 fe:00 1 /var/cache/fontconfig/x.cache (deleted)
7f0000004000-7f0000005000 r-xp 00000000 fe:00 2 /usr/sbin/sshd (deleted)
7f0000005000-7f0000006000 r--p 00000000 fe:00 3 /usr/lib/x86_64-linux-gnu/libssl.so.3 (deleted)
7f0000006000-7f0000007000 r-xp 00000000 fe:00 4 /opt/my app/libx.so (deleted)
";
    assert_eq!(
        parse_maps(maps),
        [
            "/opt/my app/libx.so",
            "/usr/lib/x86_64-linux-gnu/libssl.so.3",
            "/usr/sbin/sshd"
        ]
    );
}

#[test]
fn systemd_units_from_cgroup() {
    assert_eq!(
        parse_cgroup_unit("0::/system.slice/nginx.service\n").as_deref(),
        Some("nginx.service")
    );
    assert_eq!(
        parse_cgroup_unit("0::/init.scope\n").as_deref(),
        Some("init.scope")
    );
}

/// Kills the child when dropped, so a failing assertion leaves nothing behind.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn live_process_with_a_deleted_library() {
    let lib = Path::new("/usr/lib/x86_64-linux-gnu/libz.so.1");
    let proc_maps = Path::new("/proc/self/maps");
    if !lib.exists() || !proc_maps.exists() {
        eprintln!("skipped: needs /proc and {}", lib.display());
        return;
    }
    // Not under /tmp or /var/tmp, which the scan ignores as scratch space
    // (and where a checkout, hence the target directory, may well live).
    let home = std::path::PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/root".into()));
    let base = home.join(".cache").join("rivet-agent-tests");
    std::fs::create_dir_all(&base).unwrap();
    assert!(
        !base.starts_with("/tmp") && !base.starts_with("/var/tmp"),
        "HOME ({}) lies in scratch space the scan ignores",
        home.display()
    );
    let dir = tempfile::tempdir_in(&base).unwrap();
    let copy = dir.path().join("librivettest.so.1");
    std::fs::copy(lib, &copy).unwrap();
    let child = Command::new("sleep")
        .arg("60")
        .env("LD_PRELOAD", &copy)
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let child = Reaped(child);
    let pid = child.0.id();
    // The loader maps the library before sleep's main runs; wait for that by
    // reading the maps, not by sleeping.
    let wanted = copy.display().to_string();
    let maps = format!("/proc/{pid}/maps");
    let mapped =
        (0..1_000_000).any(|_| std::fs::read_to_string(&maps).is_ok_and(|m| m.contains(&wanted)));
    assert!(mapped, "the library was never mapped");
    std::fs::remove_file(&copy).unwrap();

    let stale = scan(&Root::new("/"));
    let ours = stale
        .iter()
        .find(|p| p.pid == pid)
        .expect("the sleeping process");
    assert_eq!(ours.command, "sleep");
    assert_eq!(ours.deleted_files, [wanted]);
}

#[test]
fn live_scan_reports_only_deleted_libraries_outside_scratch_space() {
    for process in scan(&Root::new("/")) {
        assert!(!process.deleted_files.is_empty(), "{process:?}");
        for file in &process.deleted_files {
            assert!(file.starts_with('/'), "{process:?}");
            assert!(
                !file.starts_with("/tmp/") && !file.starts_with("/dev/shm/"),
                "{process:?}"
            );
        }
    }
}
