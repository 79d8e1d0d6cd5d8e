//! Advisory intake on the real data of ../shared/data: counts equal the
//! data, re-import changes nothing, spot checks of normalised fields, KEV
//! and EPSS joined on CVE ids, and bad input rejected without harm.

use axum::http::Method;
use serde_json::{Value, json};

use crate::cli::Live;
use crate::harness::TestServer;

fn data(path: &str) -> String {
    format!("{}/../../../shared/data/{path}", env!("CARGO_MANIFEST_DIR"))
}

/// Runs `rivet advisories import --output json PATHS` and returns its report.
async fn import(live: &Live, token: &str, paths: &[String]) -> Value {
    let mut args = vec!["advisories", "import", "--output", "json"];
    args.extend(paths.iter().map(String::as_str));
    let out = live
        .rivet(
            &args,
            &[("RIVET_URL", live.url.as_str()), ("RIVET_TOKEN", token)],
        )
        .await;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{e}: {text} {}", String::from_utf8_lossy(&out.stderr)))
}

fn counts(report: &Value) -> (u64, u64, u64, u64) {
    let n = |k: &str| report[k].as_u64().unwrap();
    (n("imported"), n("updated"), n("unchanged"), n("rejected"))
}

pub async fn real_data_imports_completely_and_idempotently(s: &TestServer) {
    let live = Live::start(s).await;
    let token = s.admin.token.clone();
    let alma = data("osv/AlmaLinux-all.zip");
    assert_eq!(
        counts(&import(&live, &token, std::slice::from_ref(&alma)).await),
        (5680, 0, 0, 0)
    );
    let (documents, packages) = s.store.count_advisories().await.unwrap();
    assert_eq!(documents, 5680);
    // Every one of the 71,329 affected entries is stored, once per fixed version.
    assert!(packages >= 71_329, "{packages} affected rows");
    // The same id in several release folders: every document kept.
    let dup = s.get("/api/v1/advisories/ALSA-2025:10873", &token).await;
    let keys: Vec<&str> = dup.body["documents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys.len(), 3, "{keys:?}");
    assert!(
        keys.iter().any(|k| k.contains("almalinux8/"))
            && keys.iter().any(|k| k.contains("almalinux9/"))
    );

    let audit = s.audit_len().await;
    assert_eq!(
        counts(&import(&live, &token, std::slice::from_ref(&alma)).await),
        (0, 0, 5680, 0)
    );
    assert_eq!(
        s.audit_len().await,
        audit,
        "an idempotent import records nothing"
    );

    let rest = [
        data("osv/crates.io-all.zip"),
        data("osv/PyPI-yaml-all.zip"),
        data("osv/ubuntu-sample"),
        data("csaf/oasis-examples/csaf"),
        data("csaf/redhat-vex-cve-2023-20593.json"),
    ];
    assert_eq!(
        counts(&import(&live, &token, &rest).await),
        (1206 + 2661 + 2 + 19 + 1, 0, 0, 0)
    );
    let kev = import(
        &live,
        &token,
        &[data("kev/known_exploited_vulnerabilities.json")],
    )
    .await;
    assert_eq!(counts(&kev), (1404, 0, 0, 0));
    let epss = import(&live, &token, &[data("epss/epss_scores-sample.csv")]).await;
    assert_eq!(counts(&epss), (52, 0, 0, 0));
    assert_eq!(
        counts(&import(&live, &token, &[data("epss/epss_scores-sample.csv")]).await),
        (0, 0, 52, 0)
    );

    // Spot checks.
    let openssl = s
        .get(
            "/api/v1/advisories?ecosystem=AlmaLinux:9&package=openssl&limit=1000",
            &token,
        )
        .await;
    let items = openssl.body["items"].as_array().unwrap();
    assert!(items.len() >= 5, "{}", openssl.text);
    assert!(
        items
            .iter()
            .all(|a| a["id"].as_str().unwrap().starts_with("AL"))
    );
    let vex = s.get("/api/v1/advisories/RHSA-2023:5837", &token).await;
    if vex.status.as_u16() == 200 {
        assert_eq!(vex.body["documents"][0]["format"], "csaf");
    }
    let log4shell = s
        .get("/api/v1/advisories?cve=CVE-2021-44228&kev=true", &token)
        .await;
    assert!(
        !log4shell.body["items"].as_array().unwrap().is_empty(),
        "{}",
        log4shell.text
    );
    let shown = s
        .get(
            &format!(
                "/api/v1/advisories/{}",
                log4shell.body["items"][0]["id"].as_str().unwrap()
            ),
            &token,
        )
        .await;
    assert_eq!(shown.body["kev"][0]["cve"], "CVE-2021-44228");
    assert_eq!(shown.body["kev"][0]["ransomware"], "Known");
    let rustsec = s
        .get(
            "/api/v1/advisories?ecosystem=crates.io&severity=critical&limit=5",
            &token,
        )
        .await;
    for a in rustsec.body["items"].as_array().unwrap() {
        assert!(a["severity_score"].as_f64().unwrap() >= 9.0, "{a}");
    }
    let ubuntu = s
        .get("/api/v1/advisories?ecosystem=Ubuntu:22.04:LTS", &token)
        .await;
    assert!(
        !ubuntu.body["items"].as_array().unwrap().is_empty(),
        "{}",
        ubuntu.text
    );
    assert_eq!(s.store.verify_audit().await.unwrap().map(|_| ()), Ok(()));
    live.stop();
}

pub async fn enrichment_joins_on_cve(s: &TestServer) {
    let t = Some(s.admin.token.as_str());
    let epss = std::fs::read_to_string(data("epss/epss_scores-sample.csv")).unwrap();
    let reply = s
        .raw(
            Method::POST,
            "/api/v1/advisories/import?name=epss.csv",
            t,
            Some(&epss),
            Some("text/csv"),
        )
        .await;
    assert_eq!(reply.body["imported"], 52, "{}", reply.text);
    let doc = json!({
        "id": "TEST-2026-0001", "modified": "2026-01-01T00:00:00Z", "aliases": ["CVE-1999-0002"],
        "affected": [{"package": {"ecosystem": "Debian:12", "name": "bash"},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "5.2.15-2+b2"}]}]}]
    });
    let reply = s
        .call(
            Method::POST,
            "/api/v1/advisories/import?name=test.json",
            t,
            Some(doc),
        )
        .await;
    assert_eq!(reply.body["imported"], 1, "{}", reply.text);
    let shown = s
        .get("/api/v1/advisories/TEST-2026-0001", &s.admin.token)
        .await;
    assert_eq!(shown.body["epss"][0]["cve"], "CVE-1999-0002");
    assert_eq!(shown.body["epss"][0]["score"], 0.27858);
    assert_eq!(shown.body["epss"][0]["percentile"], 0.98037);
    assert_eq!(
        shown.body["documents"][0]["record"]["affected"][0]["fixed"][0],
        "5.2.15-2+b2"
    );
    assert_eq!(
        shown.body["documents"][0]["record"]["affected"][0]["scheme"],
        "deb"
    );
}

pub async fn bad_advisory_input_is_rejected_without_harm(s: &TestServer) {
    let t = Some(s.admin.token.as_str());
    let before = (
        s.audit_len().await,
        s.store.count_advisories().await.unwrap(),
    );
    // A truncated archive fails as a whole.
    let mut zip = std::fs::read(data("osv/crates.io-all.zip")).unwrap();
    zip.truncate(zip.len() / 2);
    let body = String::from_utf8_lossy(&zip).into_owned();
    let reply = s
        .raw(
            Method::POST,
            "/api/v1/advisories/import?name=all.zip",
            t,
            Some(&body),
            Some("application/zip"),
        )
        .await;
    assert_eq!(reply.status.as_u16(), 422, "{}", reply.text);
    assert!(
        reply.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("zip"),
        "{}",
        reply.text
    );
    // A malformed document is reported with its file and reason.
    let reply = s
        .raw(
            Method::POST,
            "/api/v1/advisories/import?name=broken.json",
            t,
            Some("{\"id\": 5}"),
            Some("application/json"),
        )
        .await;
    assert_eq!(reply.status.as_u16(), 200);
    assert_eq!(reply.body["rejected"], 1);
    assert_eq!(reply.body["errors"][0]["file"], "broken.json");
    assert!(
        !reply.body["errors"][0]["reason"]
            .as_str()
            .unwrap()
            .is_empty()
    );
    // Limits.
    let huge = "x".repeat(s.config.advisories.max_upload_bytes + 1);
    let reply = s
        .raw(
            Method::POST,
            "/api/v1/advisories/import?name=huge.json",
            t,
            Some(&huge),
            Some("application/json"),
        )
        .await;
    assert_eq!(
        reply.status.as_u16(),
        413,
        "{}",
        &reply.text[..reply.text.len().min(200)]
    );
    let reply = s
        .get("/api/v1/advisories?severity=dire", &s.admin.token)
        .await;
    assert_eq!(reply.status.as_u16(), 400);
    assert_eq!(
        s.get("/api/v1/advisories/NOPE-1", &s.admin.token)
            .await
            .status
            .as_u16(),
        404
    );
    assert_eq!(
        (
            s.audit_len().await,
            s.store.count_advisories().await.unwrap()
        ),
        before,
        "nothing changed"
    );
}
