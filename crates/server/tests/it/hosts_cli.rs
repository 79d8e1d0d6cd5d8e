//! `rivet hosts …` and `rivet enrollment-token …`, the real binary against a
//! real server: enrollment tokens, a host imported from the shared Debian
//! minbase dpkg status, search, packages, history after a re-import,
//! exports, attributes, agent revocation and deletion; and bad input refused
//! before anything changes.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::cli::Live;
use crate::harness::TestServer;

fn data(path: &str) -> String {
    format!("{}/../../../shared/data/{path}", env!("CARGO_MANIFEST_DIR"))
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// The packages dpkg counts as installed, counted from the file itself
/// rather than with the parser under test.
fn installed(status: &str) -> usize {
    status
        .split("\n\n")
        .filter(|stanza| stanza.lines().any(|l| l == "Status: install ok installed"))
        .count()
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub async fn hosts_are_managed_from_the_command_line(s: &TestServer) {
    let live = Live::start(s).await;
    let env = [
        ("RIVET_URL", live.url.as_str()),
        ("RIVET_TOKEN", s.admin.token.as_str()),
    ];
    let acme = s.customer("Acme GmbH").await.to_string();

    // Enrollment tokens: create (the secret and command shown once), list, revoke.
    let issued = json(
        &live
            .ok(
                &[
                    "enrollment-token",
                    "create",
                    "--tenant",
                    &acme,
                    "--ring",
                    "pilot",
                    "--group",
                    "web",
                    "--tag",
                    "dmz",
                    "--hours",
                    "2",
                    "--note",
                    "rack 4",
                    "--output",
                    "json",
                ],
                &env,
            )
            .await,
    );
    let secret = issued["secret"].as_str().unwrap();
    assert!(secret.starts_with("rve_"), "{issued}");
    let command = issued["enroll_command"].as_str().unwrap();
    assert!(
        command.starts_with("rivet-agent enroll --server ") && command.contains(secret),
        "{command}"
    );
    assert_eq!(issued["token"]["attributes"]["ring"], "pilot");
    assert_eq!(
        issued["token"]["attributes"]["groups"],
        serde_json::json!(["web"])
    );
    assert_eq!(
        issued["token"]["attributes"]["tags"],
        serde_json::json!(["dmz"])
    );
    assert_eq!(issued["token"]["note"], "rack 4");
    let expected_expiry = s.now() + jiff::SignedDuration::from_hours(2);
    assert_eq!(issued["token"]["expires_at"], expected_expiry.to_string());
    let first = issued["token"]["id"].as_str().unwrap().to_owned();

    let shown = live
        .ok(&["enrollment-token", "create", "--tenant", &acme], &env)
        .await;
    let secret_line = shown.lines().find(|l| l.starts_with("secret")).unwrap();
    assert!(secret_line.contains("rve_"), "{shown}");
    // The test server does not terminate TLS: no fingerprint to pin.
    assert!(
        shown
            .lines()
            .any(|l| l.starts_with("ca fingerprint") && l.ends_with(" -")),
        "{shown}"
    );
    assert!(
        shown
            .lines()
            .any(|l| l.starts_with("enroll command") && l.contains("rivet-agent enroll")),
        "{shown}"
    );

    let listed = json(
        &live
            .ok(
                &[
                    "enrollment-token",
                    "list",
                    "--tenant",
                    &acme,
                    "--output",
                    "json",
                ],
                &env,
            )
            .await,
    );
    assert_eq!(listed.as_array().unwrap().len(), 2, "{listed}");
    let other = s.customer("Other").await.to_string();
    let none = json(
        &live
            .ok(
                &[
                    "enrollment-token",
                    "list",
                    "--tenant",
                    &other,
                    "--output",
                    "json",
                ],
                &env,
            )
            .await,
    );
    assert_eq!(none, serde_json::json!([]));
    let table = live.ok(&["enrollment-token", "list"], &env).await;
    assert!(
        table.starts_with("ID") && table.contains(&first) && table.contains("pilot"),
        "{table}"
    );
    let revoked = json(
        &live
            .ok(
                &["enrollment-token", "revoke", &first, "--output", "json"],
                &env,
            )
            .await,
    );
    assert_eq!(revoked["revoked_at"], s.now().to_string());
    let listed = json(
        &live
            .ok(
                &[
                    "enrollment-token",
                    "list",
                    "--tenant",
                    &acme,
                    "--output",
                    "json",
                ],
                &env,
            )
            .await,
    );
    let revoked_ids: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| !t["revoked_at"].is_null())
        .filter_map(|t| t["id"].as_str())
        .collect();
    assert_eq!(revoked_ids, [first.as_str()]);

    // Import a host without an agent from a dpkg status file.
    let status_path = data("inventories/debian12-minbase.dpkg-status");
    let status = std::fs::read_to_string(&status_path).unwrap();
    let count = installed(&status);
    assert!(count > 50, "the minbase has {count} packages");
    let report = json(
        &live
            .ok(
                &[
                    "hosts",
                    "import",
                    "--tenant",
                    &acme,
                    "--name",
                    "web1",
                    "--dpkg-status",
                    &status_path,
                    "--output",
                    "json",
                ],
                &env,
            )
            .await,
    );
    assert_eq!(report["packages"], count, "{report}");
    assert_eq!(report["changes"], 0);
    assert_eq!(report["host"]["source"], "import");
    let host = report["host"]["id"].as_str().unwrap().to_owned();

    // Search: the package filter with ranges that match and that do not.
    let search = |args: &[&str]| {
        let mut all = vec!["hosts", "list", "--output", "json"];
        all.extend(args);
        all.iter().map(|a| (*a).to_owned()).collect::<Vec<String>>()
    };
    let names = |v: &Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|h| h["name"].as_str().unwrap().to_owned())
            .collect()
    };
    for (args, expected) in [
        (vec!["--package", "base-files"], vec!["web1"]),
        (
            vec!["--package", "base-files", "--version", ">=12.4,<13"],
            vec!["web1"],
        ),
        (
            vec!["--package", "base-files", "--version", "<12.4+deb12u15"],
            vec![],
        ),
        (vec!["--package", "base-files", "--version", ">=13"], vec![]),
        (vec!["--package", "no-such-package"], vec![]),
        (
            vec!["--tenant", acme.as_str(), "--name", "web"],
            vec!["web1"],
        ),
        (vec!["--tenant", other.as_str()], vec![]),
        (vec!["--reboot-required"], vec![]),
        (vec!["--reboot-required=false"], vec!["web1"]),
    ] {
        let argv = search(&args);
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        let found = json(&live.ok(&argv, &env).await);
        assert_eq!(names(&found), expected, "{args:?}");
    }
    let table = live.ok(&["hosts", "list"], &env).await;
    let header = table.lines().next().unwrap();
    assert!(
        header.starts_with("ID") && header.contains("PACKAGES") && header.contains("RING"),
        "{table}"
    );
    assert!(
        table
            .lines()
            .any(|l| l.contains(&host) && l.contains("web1") && l.contains(&count.to_string())),
        "{table}"
    );

    // Show and packages.
    let shown = json(
        &live
            .ok(&["hosts", "show", &host, "--output", "json"], &env)
            .await,
    );
    assert_eq!(shown["name"], "web1");
    assert_eq!(shown["package_count"], count);
    assert!(shown["facts"].is_object(), "{shown}");
    let shown = live.ok(&["hosts", "show", &host], &env).await;
    assert!(
        shown
            .lines()
            .any(|l| l.starts_with("name ") && l.ends_with(" web1")),
        "{shown}"
    );
    assert!(shown.lines().any(|l| l.starts_with("ring ")), "{shown}");
    let packages = json(
        &live
            .ok(&["hosts", "packages", &host, "--output", "json"], &env)
            .await,
    );
    let packages = packages.as_array().unwrap();
    assert_eq!(packages.len(), count);
    assert!(
        packages
            .iter()
            .any(|p| p["name"] == "base-files" && p["version"] == "12.4+deb12u15")
    );
    let table = live.ok(&["hosts", "packages", &host], &env).await;
    assert_eq!(
        table.lines().count(),
        count + 1,
        "a header and a row per package"
    );

    // Re-import a changed file: gzip removed, base-files upgraded.
    let changed: Vec<String> = status
        .split("\n\n")
        .filter(|stanza| !stanza.starts_with("Package: gzip\n"))
        .map(|stanza| {
            if stanza.starts_with("Package: base-files\n") {
                stanza.replace("Version: 12.4+deb12u15", "Version: 12.4+deb12u16")
            } else {
                stanza.to_owned()
            }
        })
        .collect();
    let changed_path = live.home.join("status-changed");
    std::fs::write(&changed_path, changed.join("\n\n")).unwrap();
    let said = live
        .ok(
            &[
                "hosts",
                "import",
                "--tenant",
                &acme,
                "--name",
                "web1",
                "--dpkg-status",
                changed_path.to_str().unwrap(),
            ],
            &env,
        )
        .await;
    assert_eq!(
        said.trim(),
        format!(
            "imported host web1 ({host}): {} packages, 2 software changes",
            count - 1
        )
    );
    let history = json(
        &live
            .ok(&["hosts", "history", &host, "--output", "json"], &env)
            .await,
    );
    type Change = (String, String, Option<String>, Option<String>);
    let changes: BTreeSet<Change> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["change"].as_str().unwrap().to_owned(),
                e["name"].as_str().unwrap().to_owned(),
                e["old_version"].as_str().map(str::to_owned),
                e["new_version"].as_str().map(str::to_owned),
            )
        })
        .collect();
    let gzip_version = status
        .split("\n\n")
        .find(|stanza| stanza.starts_with("Package: gzip\n"))
        .and_then(|stanza| stanza.lines().find_map(|l| l.strip_prefix("Version: ")))
        .unwrap();
    assert_eq!(
        changes,
        BTreeSet::from([
            (
                "removed".into(),
                "gzip".into(),
                Some(gzip_version.into()),
                None
            ),
            (
                "upgraded".into(),
                "base-files".into(),
                Some("12.4+deb12u15".into()),
                Some("12.4+deb12u16".into())
            ),
        ])
    );
    let table = live.ok(&["hosts", "history", &host], &env).await;
    assert!(
        table.starts_with("OBSERVED") && table.contains("removed") && table.contains("upgraded"),
        "{table}"
    );
    let found = json(
        &live
            .ok(
                &[
                    "hosts",
                    "list",
                    "--package",
                    "base-files",
                    "--version",
                    ">12.4+deb12u15",
                    "--output",
                    "json",
                ],
                &env,
            )
            .await,
    );
    assert_eq!(names(&found), ["web1"], "the upgrade is searchable");

    // Exports: a CycloneDX SBOM to a file, CSV to standard output.
    let sbom_path = live.home.join("web1.cdx.json");
    let out = live
        .rivet(
            &[
                "hosts",
                "export",
                &host,
                "--format",
                "cyclonedx",
                "--file",
                sbom_path.to_str().unwrap(),
            ],
            &env,
        )
        .await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(out.stdout.is_empty(), "the document goes to the file only");
    let sbom = json(&std::fs::read_to_string(&sbom_path).unwrap());
    assert_eq!(sbom["bomFormat"], "CycloneDX");
    let libraries = sbom["components"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["type"] == "library")
        .count();
    assert_eq!(libraries, count - 1);
    assert!(
        sbom["components"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["name"] == "base-files" && c["version"] == "12.4+deb12u16")
    );
    let csv = live
        .ok(&["hosts", "export", &host, "--format", "csv"], &env)
        .await;
    assert!(csv.starts_with("format,name,version"), "{csv}");
    assert_eq!(
        csv.lines().count(),
        count,
        "a header and count - 1 packages"
    );
    assert!(
        csv.lines()
            .any(|l| l.starts_with("deb,base-files,12.4+deb12u16,"))
    );

    // Attributes: set merges into what the host has.
    let set = json(
        &live
            .ok(
                &[
                    "hosts",
                    "set",
                    &host,
                    "--tag",
                    "pci",
                    "--tag",
                    "web",
                    "--group",
                    "frontend",
                    "--ring",
                    "pilot",
                    "--environment",
                    "production",
                    "--role",
                    "server",
                    "--managed-scope",
                    "operating-system",
                    "--output",
                    "json",
                ],
                &env,
            )
            .await,
    );
    assert_eq!(set["attributes"]["tags"], serde_json::json!(["pci", "web"]));
    assert_eq!(
        set["attributes"]["managed_scope"],
        serde_json::json!(["operating_system"])
    );
    let set = json(
        &live
            .ok(
                &[
                    "hosts",
                    "set",
                    &host,
                    "--remove-tag",
                    "web",
                    "--criticality",
                    "high",
                    "--owner",
                    "Web team",
                    "--output",
                    "json",
                ],
                &env,
            )
            .await,
    );
    let attributes = &set["attributes"];
    assert_eq!(attributes["tags"], serde_json::json!(["pci"]));
    assert_eq!(attributes["criticality"], "high");
    assert_eq!(attributes["owner"], "Web team");
    assert_eq!(attributes["ring"], "pilot", "what is not named stays");
    assert_eq!(attributes["environment"], "production");
    assert_eq!(attributes["groups"], serde_json::json!(["frontend"]));
    assert_eq!(attributes["role"], "server");
    for (args, expected) in [
        (vec!["--tag", "pci"], vec!["web1"]),
        (vec!["--tag", "web"], vec![]),
        (vec!["--ring", "pilot"], vec!["web1"]),
        (vec!["--ring", "broad"], vec![]),
        (
            vec!["--group", "frontend", "--environment", "production"],
            vec!["web1"],
        ),
        (vec!["--environment", "staging"], vec![]),
    ] {
        let argv = search(&args);
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        let found = json(&live.ok(&argv, &env).await);
        assert_eq!(names(&found), expected, "{args:?}");
    }
    let table = live
        .ok(
            &["hosts", "set", &host, "--clear", "owner", "--clear", "tags"],
            &env,
        )
        .await;
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("owner ") && l.ends_with(" -"))
            && table
                .lines()
                .any(|l| l.starts_with("tags ") && l.ends_with(" -"))
            && table
                .lines()
                .any(|l| l.starts_with("ring ") && l.ends_with(" pilot")),
        "{table}"
    );
    let list = json(
        &live
            .ok(
                &["hosts", "list", "--ring", "pilot", "--output", "json"],
                &env,
            )
            .await,
    );
    assert_eq!(list[0]["attributes"]["tags"], serde_json::json!([]));

    // An imported host has no agent to revoke: the API's error, exit 1.
    let out = live.rivet(&["hosts", "revoke", &host], &env).await;
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.starts_with("rivet: POST /hosts/") && err.contains("409") && err.contains("no agent"),
        "{err}"
    );

    // An agent's host: collect, then revoke.
    let agent_tenant = s.customer("Agents").await;
    let agent_host = s.host(agent_tenant, "agent1").await.to_string();
    let said = live.ok(&["hosts", "collect", &agent_host], &env).await;
    assert_eq!(
        said.trim(),
        format!("asked host agent1 ({agent_host}) for a fresh inventory")
    );
    let said = live.ok(&["hosts", "revoke", &agent_host], &env).await;
    assert_eq!(
        said.trim(),
        format!("revoked the agent of host agent1 ({agent_host})")
    );
    let shown = json(
        &live
            .ok(&["hosts", "show", &agent_host, "--output", "json"], &env)
            .await,
    );
    assert_eq!(shown["revoked_at"], s.now().to_string());
    assert_eq!(shown["collect_requested_at"], s.now().to_string());

    // Delete: no question asked, and the host is gone.
    let audit_before = s.audit_len().await;
    let said = live.ok(&["hosts", "delete", &host], &env).await;
    assert_eq!(said.trim(), format!("deleted host {host}"));
    assert_eq!(s.audit_len().await, audit_before + 1);
    let out = live.rivet(&["hosts", "show", &host], &env).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("404"), "{}", stderr(&out));
    let left = json(&live.ok(&["hosts", "list", "--output", "json"], &env).await);
    assert_eq!(names(&left), ["agent1"]);
    live.stop();
}

pub async fn host_commands_refuse_bad_input(s: &TestServer) {
    let live = Live::start(s).await;
    let env = [
        ("RIVET_URL", live.url.as_str()),
        ("RIVET_TOKEN", s.admin.token.as_str()),
    ];
    let acme = s.customer("Acme GmbH").await.to_string();
    let status_path = data("inventories/debian12-minbase.dpkg-status");
    let audit_before = s.audit_len().await;
    let import = |extra: &[&str]| {
        let mut args = vec![
            "hosts",
            "import",
            "--tenant",
            acme.as_str(),
            "--name",
            "web1",
        ];
        args.extend(extra);
        args.iter()
            .map(|a| (*a).to_owned())
            .collect::<Vec<String>>()
    };
    let run = |argv: Vec<String>| {
        let live = &live;
        let env = &env;
        async move {
            let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
            live.rivet(&argv, env).await
        }
    };

    // Two files, or none: a usage error (exit 2, like every usage error).
    let out = run(import(&[
        "--dpkg-status",
        &status_path,
        "--rpm-qa",
        &status_path,
    ]))
    .await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("cannot be used with"),
        "{}",
        stderr(&out)
    );
    let out = run(import(&[])).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--dpkg-status"), "{}", stderr(&out));

    // A missing or unreadable file is named.
    let missing = live.home.join("no-such-status");
    let out = run(import(&["--dpkg-status", missing.to_str().unwrap()])).await;
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("cannot read {}", missing.display())) && err.contains("No such file"),
        "{err}"
    );
    let out = run(import(&["--cyclonedx", live.home.to_str().unwrap()])).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains(&format!("cannot read {}", live.home.display())),
        "{}",
        stderr(&out)
    );

    // A file the server cannot read as the format given: its error, with the file.
    let out = run(import(&["--cyclonedx", &status_path])).await;
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("cannot import {status_path}")) && err.contains("422"),
        "{err}"
    );
    let out = run(vec![
        "hosts".into(),
        "import".into(),
        "--tenant".into(),
        "not-a-tenant".into(),
        "--name".into(),
        "web1".into(),
        "--dpkg-status".into(),
        status_path.clone(),
    ])
    .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("400"), "{}", stderr(&out));

    // A version range needs a package; a bad range is the server's 422.
    let out = live
        .rivet(&["hosts", "list", "--version", ">=1"], &env)
        .await;
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--package"), "{}", stderr(&out));
    let out = live
        .rivet(
            &["hosts", "list", "--package", "bash", "--version", "<"],
            &env,
        )
        .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("422") && stderr(&out).contains("version"),
        "{}",
        stderr(&out)
    );
    let out = live
        .rivet(&["hosts", "list", "--seen-after", "yesterday"], &env)
        .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("seen_after"), "{}", stderr(&out));

    // Attributes: nothing to change, an unknown role, contradictions.
    let host = s.host(acme.parse().unwrap(), "agent1").await.to_string();
    let audit_with_host = s.audit_len().await;
    let out = live.rivet(&["hosts", "set", &host], &env).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("nothing to change"),
        "{}",
        stderr(&out)
    );
    let out = live
        .rivet(&["hosts", "set", &host, "--role", "desktop"], &env)
        .await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("desktop") && stderr(&out).contains("client"),
        "{}",
        stderr(&out)
    );
    let out = live
        .rivet(
            &["hosts", "set", &host, "--ring", "pilot", "--clear", "ring"],
            &env,
        )
        .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("contradict"), "{}", stderr(&out));
    let out = live
        .rivet(&["hosts", "set", &host, "--tag", "no spaces"], &env)
        .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("422") && stderr(&out).contains("tags"),
        "{}",
        stderr(&out)
    );
    let out = live
        .rivet(&["hosts", "export", &host, "--format", "pdf"], &env)
        .await;
    assert_eq!(out.status.code(), Some(2));
    // An id stays one path segment: a slash in it is a bad id, not another route.
    let out = live.rivet(&["hosts", "show", "../tenants"], &env).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("400"), "{}", stderr(&out));
    let out = live
        .rivet(&["enrollment-token", "revoke", "not-an-id"], &env)
        .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).starts_with("rivet: POST /enrollment-tokens/"),
        "{}",
        stderr(&out)
    );

    // Nothing above changed anything (the fixture host aside).
    assert!(audit_with_host > audit_before);
    assert_eq!(s.audit_len().await, audit_with_host);
    let hosts = json(&live.ok(&["hosts", "list", "--output", "json"], &env).await);
    assert_eq!(hosts.as_array().unwrap().len(), 1, "{hosts}");
    let attributes = json(
        &live
            .ok(&["hosts", "show", &host, "--output", "json"], &env)
            .await,
    );
    assert_eq!(attributes["attributes"]["ring"], Value::Null);
    live.stop();
}
