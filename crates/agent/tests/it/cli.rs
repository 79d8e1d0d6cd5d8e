//! The command line: `inventory` prints JSON; `enroll`, `once` and `run`
//! against the real server, with their output and exit codes (3: the
//! server no longer accepts this agent).

use std::path::Path;
use std::process::{Command, Output, Stdio};

use rivet_agent::state::StateDir;
use rivet_core::inventory::Inventory;

use crate::server::{Options, Rivet, eventually};
use crate::{data, text};

#[test]
fn inventory_command_prints_json() {
    let output = Command::new(env!("CARGO_BIN_EXE_rivet-agent"))
        .args(["inventory", "--output", "json", "--root"])
        .arg(data("debian-reboot"))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let inventory: Inventory = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(inventory.host.hostname.as_deref(), Some("web1"));
    assert_eq!(inventory.packages.len(), 6);
    assert!(inventory.reboot.required);
}

#[test]
fn unreadable_package_database_is_an_error() {
    let root = tempfile::tempdir().unwrap();
    let status = root.path().join("var/lib/dpkg/status");
    // A directory where the file should be: it exists but cannot be read.
    std::fs::create_dir_all(&status).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_rivet-agent"))
        .args(["inventory", "--root"])
        .arg(root.path())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("Dpkg") && stderr.contains("status"),
        "{stderr}"
    );
}

/// The binary with a configuration file that does not exist (defaults).
fn agent(config_dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_rivet-agent"));
    command
        .arg("--config")
        .arg(config_dir.join("config.toml"))
        .env_remove("RIVET_ENROLLMENT_TOKEN");
    command
}

async fn output(mut command: Command) -> Output {
    tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap()
}

#[test]
fn plain_http_and_malformed_fingerprints_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = agent(dir.path())
        .args([
            "enroll",
            "--server",
            "http://rivet.example.org",
            "--token",
            "rve_x",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("does not use https"),
        "{}",
        text(&out.stderr)
    );
    let out = agent(dir.path())
        .args(["enroll", "--server", "https://rivet.example.org"])
        .args(["--token", "rve_x", "--ca-fingerprint", "AB:CD"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("64 hex digits"),
        "{}",
        text(&out.stderr)
    );
    // A token of the wrong form is refused before anything is contacted.
    let out = agent(dir.path())
        .args([
            "enroll",
            "--server",
            "https://127.0.0.1:1",
            "--token",
            "rvt_x",
        ])
        .arg("--state-dir")
        .arg(dir.path().join("state"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("not an enrollment token"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn checking_in_without_enrolling_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let out = agent(dir.path())
        .arg("once")
        .arg("--state-dir")
        .arg(dir.path().join("state"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("not enrolled") && stderr.contains("rivet-agent enroll"),
        "{stderr}"
    );
}

#[test]
fn a_bad_configuration_file_stops_every_command_but_default_config() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("config.toml"),
        "log = \"info\"\nstate = \"/x\"\n",
    )
    .unwrap();
    let out = agent(dir.path()).args(["once"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("config.toml, line 2: unknown field `state`"),
        "{stderr}"
    );
    let out = agent(dir.path()).arg("default-config").output().unwrap();
    assert!(out.status.success());
}

/// A server on the wall clock (the binary signs with it) and an agent the
/// binary enrolled with it, trusting its CA on first use.
async fn enrolled_binary() -> (Rivet, tempfile::TempDir, String) {
    let rivet = Rivet::start_with(Options {
        wall_clock: true,
        ..Options::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let mut enroll = agent(dir.path());
    enroll
        .args(["enroll", "--server", &rivet.url()])
        .env("RIVET_ENROLLMENT_TOKEN", rivet.token().await)
        .arg("--state-dir")
        .arg(dir.path().join("state"));
    let out = output(enroll).await;
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    let fingerprint = rivet.fingerprint();
    assert!(
        stdout.starts_with(&format!(
            "trusting the server's CA, SHA-256 fingerprint {fingerprint}; compare it with"
        )),
        "{stdout}"
    );
    assert!(stdout.contains(&fingerprint.to_openssl()), "{stdout}");
    let enrollment = StateDir::new(dir.path().join("state"))
        .enrollment()
        .unwrap()
        .unwrap();
    assert!(
        stdout.contains(&format!("enrolled as host {}", enrollment.host)),
        "{stdout}"
    );
    (rivet, dir, enrollment.host.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enroll_then_check_in_once_from_the_command_line() {
    let (rivet, dir, host) = enrolled_binary().await;
    let state = dir.path().join("state");

    let mut again = agent(dir.path());
    again
        .args(["enroll", "--server", &rivet.url()])
        .args(["--token", &rivet.token().await])
        .arg("--state-dir")
        .arg(&state);
    let out = output(again).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("pass --force"),
        "{}",
        text(&out.stderr)
    );

    let once = || {
        let mut once = agent(dir.path());
        once.arg("once")
            .arg("--state-dir")
            .arg(&state)
            .arg("--root")
            .arg(data("debian-reboot"));
        once
    };
    let out = output(once()).await;
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    assert!(
        stdout.starts_with("checked in: uploaded the whole inventory"),
        "{stdout}"
    );
    assert_eq!(rivet.host(&host).await["package_count"], 6);

    rivet.revoke(&host).await;
    let out = output(once()).await;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("error: the server no longer accepts this agent (this agent was revoked"),
        "{stderr}"
    );
    rivet.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_stops_on_sigterm_and_exits_3_when_revoked() {
    let (rivet, dir, host) = enrolled_binary().await;
    let state = dir.path().join("state");
    let run = || {
        let mut run = agent(dir.path());
        run.arg("run")
            .arg("--state-dir")
            .arg(&state)
            .arg("--root")
            .arg(data("debian-reboot"));
        run
    };
    let child = run()
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (r, h) = (&rivet, host.as_str());
    eventually("the service's upload", move || async move {
        !r.host(h).await["inventory_digest"].is_null()
    })
    .await;
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("stopping"),
        "{}",
        text(&out.stderr)
    );

    rivet.revoke(&host).await;
    let out = output(run()).await;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("the server no longer accepts this agent (this agent was revoked at ")
            && stderr.contains("enroll again with a new token); stopping"),
        "{stderr}"
    );
    assert!(stderr.contains("ERROR"), "{stderr}");
    rivet.finish().await;
}

#[test]
fn the_systemd_unit_runs_the_service_and_does_not_restart_a_refused_agent() {
    let unit_path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../packaging/systemd/rivet-agent.service");
    let unit = std::fs::read_to_string(&unit_path).unwrap();
    for line in [
        "Type=simple",
        "ExecStart=/usr/bin/rivet-agent run",
        "Restart=on-failure",
        "RestartPreventExitStatus=3",
        "StateDirectory=rivet-agent",
    ] {
        assert!(unit.lines().any(|l| l == line), "missing {line}");
    }
    // systemd's own check, with the binary just built in place.
    if !crate::have_tool("systemd-analyze", "systemd") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("rivet-agent.service");
    std::fs::write(
        &copy,
        unit.replace("/usr/bin/rivet-agent", env!("CARGO_BIN_EXE_rivet-agent")),
    )
    .unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&copy)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stderr), "");
}
