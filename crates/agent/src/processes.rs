//! Processes that still use deleted files (INV-5): after an update replaces
//! a shared library or a program, processes started before keep the old,
//! deleted file mapped, and `/proc/PID/maps` marks it `(deleted)`. They stay
//! vulnerable until restarted; the systemd unit to restart comes from
//! `/proc/PID/cgroup`.
//!
//! Only executable mappings and shared objects count, and files under
//! scratch locations (`/dev/shm`, `/tmp`, `/memfd:` …) are ignored: programs
//! delete those on purpose while using them.

use rivet_core::inventory::StaleProcess;

use crate::rootfs::{Root, SMALL_FILE_LIMIT};

/// `/proc/PID/maps` of a large process is a few hundred KiB.
const MAPS_LIMIT: u64 = 16 * 1024 * 1024;

/// Paths programs map and delete on purpose.
const IGNORED_PREFIXES: [&str; 8] = [
    "/memfd:",
    "/dev/",
    "/SYSV",
    "/tmp/",
    "/var/tmp/",
    "/run/",
    "/drm",
    "/[aio]",
];

/// Scans every process under `root`'s `/proc`. Processes that exit during the
/// scan, or whose maps are unreadable (another user's, when not root), are
/// skipped.
pub fn scan(root: &Root) -> Vec<StaleProcess> {
    let Ok(entries) = std::fs::read_dir(root.path("/proc")) else {
        return Vec::new();
    };
    let mut pids: Vec<u32> = entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    pids.sort_unstable();
    pids.into_iter()
        .filter_map(|pid| {
            let read = |file: &str, limit| {
                root.read(&format!("/proc/{pid}/{file}"), limit)
                    .ok()
                    .flatten()
            };
            let deleted_files = parse_maps(&read("maps", MAPS_LIMIT)?);
            if deleted_files.is_empty() {
                return None;
            }
            Some(StaleProcess {
                pid,
                command: read("comm", SMALL_FILE_LIMIT)
                    .unwrap_or_default()
                    .trim()
                    .to_owned(),
                unit: read("cgroup", SMALL_FILE_LIMIT).and_then(|text| parse_cgroup_unit(&text)),
                deleted_files,
            })
        })
        .collect()
}

/// The deleted shared objects and executables a `/proc/PID/maps` text maps,
/// sorted, each once.
pub fn parse_maps(text: &str) -> Vec<String> {
    let mut files: Vec<String> = text
        .lines()
        .filter_map(|line| {
            let path = line.strip_suffix(" (deleted)")?;
            // address perms offset dev inode path: the path is the sixth
            // field and may itself contain spaces.
            let mut fields = line.splitn(6, char::is_whitespace);
            let perms = fields.nth(1)?;
            let path = path.get(path.find(" /")? + 1..)?.trim_start();
            let relevant = perms.contains('x') || path.contains(".so");
            let ignored = IGNORED_PREFIXES
                .iter()
                .any(|prefix| path.starts_with(prefix));
            (relevant && !ignored).then(|| path.to_owned())
        })
        .collect();
    files.sort();
    files.dedup();
    files
}

/// The systemd unit in a `/proc/PID/cgroup` text: the last `.service` or
/// `.scope` path component of the unified (`0::`) hierarchy, or of the
/// `name=systemd` one on cgroup v1.
pub fn parse_cgroup_unit(text: &str) -> Option<String> {
    let path = text
        .lines()
        .find_map(|line| line.strip_prefix("0::"))
        .filter(|path| *path != "/")
        .or_else(|| {
            text.lines()
                .find_map(|line| line.split_once(":name=systemd:").map(|(_, p)| p))
        })?;
    path.split('/')
        .rev()
        .find(|part| part.ends_with(".service") || part.ends_with(".scope"))
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cgroup_units() {
        assert_eq!(
            parse_cgroup_unit("0::/system.slice/ssh.service\n").as_deref(),
            Some("ssh.service")
        );
        assert_eq!(
            parse_cgroup_unit(
                "0::/user.slice/user-1000.slice/user@1000.service/app.slice/dbus.service\n"
            )
            .as_deref(),
            Some("dbus.service")
        );
        assert_eq!(
            parse_cgroup_unit("12:pids:/\n1:name=systemd:/system.slice/cron.service\n0::/\n")
                .as_deref(),
            Some("cron.service")
        );
        assert_eq!(parse_cgroup_unit("0::/\n"), None);
    }
}
