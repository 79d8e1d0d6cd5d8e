//! Test hosts: real Debian 12 systems made by debootstrap, each unpacked
//! into a directory of its own and run with its own host name, machine id,
//! process ids and /proc (`unshare --uts --pid --fork --mount-proc` and
//! `chroot`). A host shares this machine's network, so an agent inside
//! reaches a server on 127.0.0.1.
//!
//! debootstrap runs once per target directory (about half a minute, and
//! the only download the tests make): its system is kept as a tarball under
//! `target/tmp/testhosts/` and unpacked for each host in under a second.
//! Concurrent tests share one build; a second test process builds its own
//! copy and renames it into place.
//!
//! Every mount a host needs (its /proc) lives in the mount namespace of the
//! command that needs it and goes away with it, so nothing stays mounted on
//! this machine; the host's [`Drop`] checks that before it deletes the
//! directory, and never deletes across a mount.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use crate::{have_root, have_tool};

/// Where debootstrap fetches Debian from.
const MIRROR: &str = "http://deb.debian.org/debian";
/// The PATH inside a host (and for the tools that enter it).
const PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

fn cache_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("testhosts")
}

/// The tarball of a Debian 12 minbase system, built on first use.
fn bookworm_tarball() -> &'static Result<PathBuf, String> {
    static TARBALL: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    TARBALL.get_or_init(build_bookworm_tarball)
}

fn build_bookworm_tarball() -> Result<PathBuf, String> {
    let cache = cache_dir();
    let tarball = cache.join("bookworm-minbase.tar");
    if tarball.is_file() {
        return Ok(tarball);
    }
    std::fs::create_dir_all(&cache).map_err(|e| format!("{}: {e}", cache.display()))?;
    let build = cache.join(format!("build-{}", std::process::id()));
    eprintln!("building the Debian 12 test host with debootstrap (once per target directory)");
    // In a mount namespace of its own: what debootstrap mounts in the new
    // system goes away when it ends, even when it fails.
    let out = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "--"])
        .args(["debootstrap", "--variant=minbase", "bookworm"])
        .arg(&build)
        .arg(MIRROR)
        .env("PATH", PATH)
        .output()
        .map_err(|e| format!("cannot run debootstrap: {e}"))?;
    if !out.status.success() {
        remove_tree(&build);
        return Err(format!(
            "debootstrap --variant=minbase bookworm {MIRROR} failed ({}): {}{}",
            out.status,
            tail(&out.stdout),
            tail(&out.stderr)
        ));
    }
    let partial = cache.join(format!("bookworm-minbase.tar.{}", std::process::id()));
    let out = Command::new("tar")
        .arg("-C")
        .arg(&build)
        .args(["--numeric-owner", "-cf"])
        .arg(&partial)
        .arg(".")
        .output()
        .map_err(|e| format!("cannot run tar: {e}"))?;
    remove_tree(&build);
    if !out.status.success() {
        let _ = std::fs::remove_file(&partial);
        return Err(format!("tar failed: {}", tail(&out.stderr)));
    }
    std::fs::rename(&partial, &tarball).map_err(|e| format!("{}: {e}", tarball.display()))?;
    Ok(tarball)
}

fn tail(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// A Debian 12 system in a directory, deleted on drop.
pub struct TestHost {
    root: PathBuf,
    hostname: String,
    machine_id: String,
}

impl TestHost {
    /// A fresh Debian 12 host named `hostname`. `None` (the test is
    /// skipped, saying why) when this is not root or a tool is missing,
    /// except under CI=true, where that fails the test.
    pub fn bookworm(hostname: &str) -> Option<TestHost> {
        if !have_root("test hosts (chroot, unshare)")
            || !have_tool("debootstrap", "debootstrap")
            || !have_tool("unshare", "util-linux")
            || !have_tool("chroot", "coreutils")
        {
            return None;
        }
        let tarball = bookworm_tarball()
            .as_ref()
            .unwrap_or_else(|e| panic!("{e}"));
        let root = tempfile::Builder::new()
            .prefix(&format!("{hostname}-"))
            .tempdir_in(cache_dir())
            .unwrap()
            .keep();
        let mut id = [0u8; 16];
        getrandom::fill(&mut id).unwrap();
        let host = TestHost {
            root,
            hostname: hostname.to_owned(),
            machine_id: hex::encode(id),
        };
        let out = Command::new("tar")
            .arg("-C")
            .arg(&host.root)
            .args(["--numeric-owner", "-xf"])
            .arg(tarball)
            .output()
            .unwrap();
        assert!(out.status.success(), "tar: {}", tail(&out.stderr));
        std::fs::write(host.path("etc/hostname"), format!("{hostname}\n")).unwrap();
        std::fs::write(
            host.path("etc/machine-id"),
            format!("{}\n", host.machine_id),
        )
        .unwrap();
        Some(host)
    }

    /// A path inside it, given relative to its root.
    pub fn path(&self, relative: &str) -> PathBuf {
        self.root.join(relative)
    }

    /// Its machine id.
    pub fn machine_id(&self) -> &str {
        &self.machine_id
    }

    /// Installs the agent binary just built as `/usr/local/bin/rivet-agent`.
    pub fn install_agent(&self) {
        let target = self.path("usr/local/bin/rivet-agent");
        std::fs::copy(env!("CARGO_BIN_EXE_rivet-agent"), &target).unwrap();
    }

    /// A command run inside the host: its own UTS namespace (host name),
    /// PID namespace and /proc, then `chroot`, with a clean environment.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new("unshare");
        command
            .env_clear()
            .env("PATH", PATH)
            .env("HOME", "/root")
            .env("LC_ALL", "C")
            .env("DEBIAN_FRONTEND", "noninteractive")
            .args(["--uts", "--pid", "--fork"])
            .arg(format!("--mount-proc={}", self.path("proc").display()))
            .args([
                "--",
                "sh",
                "-c",
                r#"hostname "$1" && root=$2 && shift 2 && exec chroot "$root" "$@""#,
                "sh",
                &self.hostname,
            ])
            .arg(&self.root)
            .args(args);
        command
    }

    /// Runs `args` inside the host; panics with its output if it fails.
    pub fn run(&self, args: &[&str]) -> Output {
        let out = self.command(args).output().unwrap();
        assert!(
            out.status.success(),
            "{args:?} in the test host: {}\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// The installed packages as `dpkg-query` in the host lists them: name,
    /// version, architecture, source name and source version.
    pub fn dpkg_packages(&self) -> Vec<[String; 5]> {
        let out = self.run(&[
            "dpkg-query",
            "-W",
            "-f",
            "${db:Status-Abbrev}\t${Package}\t${Version}\t${Architecture}\t${source:Package}\t${source:Version}\n",
        ]);
        let mut packages: Vec<[String; 5]> = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .filter_map(|line| line.strip_prefix("ii \t"))
            .map(|line| {
                let fields: Vec<String> = line.split('\t').map(str::to_owned).collect();
                fields.try_into().unwrap()
            })
            .collect();
        packages.sort();
        packages
    }
}

impl Drop for TestHost {
    fn drop(&mut self) {
        // Nothing should be mounted here; if something is, unmount it, and
        // never delete across a mount (a bound /dev would go with it).
        for mount in mounts_under(&self.root).iter().rev() {
            let _ = Command::new("umount").arg("-l").arg(mount).status();
        }
        if !mounts_under(&self.root).is_empty() {
            eprintln!("left {} in place: still mounted", self.root.display());
            return;
        }
        remove_tree(&self.root);
    }
}

/// Mount points at or below `dir`.
fn mounts_under(dir: &Path) -> Vec<PathBuf> {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    mountinfo
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .map(|point| PathBuf::from(point.replace("\\040", " ")))
        .filter(|point| point.starts_with(dir))
        .collect()
}

/// `rm -rf --one-file-system`: stays on the directory's file system.
fn remove_tree(dir: &Path) {
    let _ = Command::new("rm")
        .args(["-rf", "--one-file-system"])
        .arg(dir)
        .status();
}
