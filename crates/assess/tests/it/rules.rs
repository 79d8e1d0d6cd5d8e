//! One hand-made case per matching rule, each through the real OSV (or
//! CSAF) reader.

use rivet_advisory::model::{Advisory, Location, SignatureStatus};
use rivet_advisory::{ReadOptions, csaf};
use rivet_assess::ecosystem::of_os;
use rivet_assess::kernel::{KernelFix, fix_state};
use rivet_assess::{Index, InstalledPackage, Level, Naming, PackageRef, Verdict, assess_host};
use rivet_core::inventory::{
    HostFacts, InstalledKernel, Package, PackageFormat, RebootReason, RebootStatus,
};
use serde_json::{Value, json};

use crate::{at, os, osv_record, package};

use PackageFormat::{Apk, Deb, Rpm};

/// An OSV record with one affected entry.
fn record(id: &str, ecosystem: &str, name: &str, affected: Value) -> Advisory {
    let mut entry = json!({"package": {"ecosystem": ecosystem, "name": name}});
    for (k, v) in affected.as_object().unwrap() {
        entry[k] = v.clone();
    }
    osv_record(
        json!({"id": id, "modified": "2025-01-01T00:00:00Z", "aliases": ["CVE-2099-0001"], "affected": [entry]}),
    )
}

fn range(events: Value) -> Value {
    json!({"ranges": [{"type": "ECOSYSTEM", "events": events}]})
}

/// The advisory ids and fixed versions that affect a package on a host.
fn verdicts(index: &Index, host: (&str, &str), p: &Package) -> Vec<(String, Option<String>)> {
    let eco = of_os(&os(host.0, host.1)).unwrap();
    let e = index.evaluate(Some(&eco), &PackageRef::from(p));
    assert!(e.problems.is_empty(), "{:?}", e.problems);
    e.matches
        .iter()
        .filter(|m| m.verdict == Verdict::Affected)
        .map(|m| {
            (
                m.advisory.id.clone(),
                m.fixed_version.as_deref().map(str::to_owned),
            )
        })
        .collect()
}

fn hit(id: &str, fixed: Option<&str>) -> Vec<(String, Option<String>)> {
    vec![(id.to_owned(), fixed.map(str::to_owned))]
}

const NONE: Vec<(String, Option<String>)> = Vec::new();

#[test]
fn debian_matches_the_source_package_at_its_source_version() {
    // gcc-defaults' binaries carry versions of their own (cpp 4:12.2.0-3)
    // unrelated to the source's (1.203): only the source version decides.
    let a = record(
        "DSA-1",
        "Debian:12",
        "gcc-defaults",
        range(json!([{"introduced": "0"}, {"fixed": "1.204"}])),
    );
    let index = Index::build([&a]);
    let cpp = package(Deb, "cpp", "4:12.2.0-3", "amd64", ("gcc-defaults", "1.203"));
    let m = &index
        .evaluate(
            Some(&of_os(&os("debian", "12")).unwrap()),
            &PackageRef::from(&cpp),
        )
        .matches[0];
    assert_eq!(
        (
            &*m.package,
            &*m.installed_version,
            &*m.source_package,
            &*m.source_version
        ),
        ("cpp", "4:12.2.0-3", "gcc-defaults", "1.203")
    );
    assert_eq!(m.fixed_version.as_deref(), Some("1.204"));
    let fixed = package(Deb, "cpp", "4:12.2.0-3", "amd64", ("gcc-defaults", "1.204"));
    assert_eq!(verdicts(&index, ("debian", "12"), &fixed), NONE);
    // A binary named like the source but built from another source is not it.
    let other = package(
        Deb,
        "gcc-defaults",
        "1.0",
        "amd64",
        ("something-else", "1.0"),
    );
    assert_eq!(verdicts(&index, ("debian", "12"), &other), NONE);
    // Another release's host does not see Debian 12's advisory.
    assert_eq!(verdicts(&index, ("debian", "11"), &cpp), NONE);
}

#[test]
fn ubuntu_matches_by_release_whatever_the_qualifier_and_binaries_narrow() {
    let binaries = json!({"binaries": [{"binary_name": "curl", "binary_version": "7.81.0-1ubuntu1.20"}, {"binary_name": "libcurl4", "binary_version": "7.81.0-1ubuntu1.20"}]});
    let mut lts = range(json!([{"introduced": "0"}, {"fixed": "7.81.0-1ubuntu1.20"}]));
    lts["ecosystem_specific"] = binaries;
    let a = record("USN-1", "Ubuntu:22.04:LTS", "curl", lts);
    let b = record(
        "USN-2",
        "Ubuntu:Pro:22.04:LTS",
        "curl",
        range(json!([{"introduced": "0"}, {"fixed": "7.81.0-1ubuntu1.21"}])),
    );
    let index = Index::build([&a, &b]);
    let curl = package(
        Deb,
        "libcurl4",
        "7.81.0-1ubuntu1.15",
        "amd64",
        ("curl", "7.81.0-1ubuntu1.15"),
    );
    let mut found = verdicts(&index, ("ubuntu", "22.04"), &curl);
    found.sort();
    assert_eq!(
        found,
        [
            hit("USN-1", Some("7.81.0-1ubuntu1.20")),
            hit("USN-2", Some("7.81.0-1ubuntu1.21"))
        ]
        .concat()
    );
    // libcurl3-gnutls is not among USN-1's binaries; USN-2 lists none.
    let gnutls = package(
        Deb,
        "libcurl3-gnutls",
        "7.81.0-1ubuntu1.15",
        "amd64",
        ("curl", "7.81.0-1ubuntu1.15"),
    );
    assert_eq!(
        verdicts(&index, ("ubuntu", "22.04"), &gnutls),
        hit("USN-2", Some("7.81.0-1ubuntu1.21"))
    );
    assert_eq!(verdicts(&index, ("ubuntu", "24.04"), &curl), NONE);
}

#[test]
fn alpine_matches_the_origin() {
    let a = record(
        "ALPINE-CVE-1",
        "Alpine:v3.20",
        "openssl",
        range(json!([{"introduced": "0"}, {"fixed": "3.3.2-r1"}])),
    );
    let index = Index::build([&a]);
    let libcrypto = package(
        Apk,
        "libcrypto3",
        "3.3.2-r0",
        "x86_64",
        ("openssl", "3.3.2-r0"),
    );
    assert_eq!(
        verdicts(&index, ("alpine", "3.20.3"), &libcrypto),
        hit("ALPINE-CVE-1", Some("3.3.2-r1"))
    );
    let newer = package(
        Apk,
        "libcrypto3",
        "3.3.2-r1",
        "x86_64",
        ("openssl", "3.3.2-r1"),
    );
    assert_eq!(verdicts(&index, ("alpine", "3.20.3"), &newer), NONE);
    assert_eq!(verdicts(&index, ("alpine", "3.19.1"), &libcrypto), NONE);
}

#[test]
fn almalinux_matches_binary_rpms_and_missing_epochs_are_zero() {
    let a = record(
        "ALSA-1",
        "AlmaLinux:9",
        "grub2-common",
        range(json!([{"introduced": "0"}, {"fixed": "1:2.06-27.el9_0.7.alma"}])),
    );
    let b = record(
        "ALSA-2",
        "AlmaLinux:9",
        "kernel-core",
        range(json!([{"introduced": "0"}, {"fixed": "5.14.0-611.54.6.el9_7"}])),
    );
    let c = record(
        "ALSA-3",
        "AlmaLinux:9",
        "bash",
        range(json!([{"introduced": "0"}, {"fixed": "0:5.1.8-10.el9"}])),
    );
    let index = Index::build([&a, &b, &c]);
    let host = ("almalinux", "9.4");
    // Without an epoch the package is epoch 0, older than any 1:… version.
    let no_epoch = package(
        Rpm,
        "grub2-common",
        "2.06-27.el9_0.9.alma",
        "noarch",
        ("grub2", "2.06-27.el9_0.9.alma"),
    );
    assert_eq!(
        verdicts(&index, host, &no_epoch),
        hit("ALSA-1", Some("1:2.06-27.el9_0.7.alma"))
    );
    let with_epoch = package(
        Rpm,
        "grub2-common",
        "1:2.06-27.el9_0.7.alma",
        "noarch",
        ("grub2", "1:2.06-27.el9_0.7.alma"),
    );
    assert_eq!(verdicts(&index, host, &with_epoch), NONE);
    // `0:` in the advisory and no epoch in the inventory are the same.
    let bash = package(
        Rpm,
        "bash",
        "5.1.8-10.el9",
        "x86_64",
        ("bash", "5.1.8-10.el9"),
    );
    assert_eq!(verdicts(&index, host, &bash), NONE);
    let old_bash = package(
        Rpm,
        "bash",
        "5.1.8-9.el9",
        "x86_64",
        ("bash", "5.1.8-9.el9"),
    );
    assert_eq!(
        verdicts(&index, host, &old_bash),
        hit("ALSA-3", Some("0:5.1.8-10.el9"))
    );
    // Binary names: kernel-core matches, python3-perf (same source) does not.
    let core = package(
        Rpm,
        "kernel-core",
        "5.14.0-427.13.1.el9_4",
        "x86_64",
        ("kernel", "5.14.0-427.13.1.el9_4"),
    );
    let perf = package(
        Rpm,
        "python3-perf",
        "5.14.0-427.13.1.el9_4",
        "x86_64",
        ("kernel", "5.14.0-427.13.1.el9_4"),
    );
    let eco = of_os(&os("almalinux", "9.4")).unwrap();
    let m = &index.evaluate(Some(&eco), &PackageRef::from(&core)).matches[0];
    assert!(m.kernel);
    assert_eq!(verdicts(&index, host, &perf), NONE);
    // A deb is never compared with rpm entries, whatever the host.
    let deb = package(Deb, "bash", "5.1.8-9.el9", "amd64", ("bash", "5.1.8-9.el9"));
    assert_eq!(verdicts(&index, host, &deb), NONE);
}

#[test]
fn deb_epochs_are_part_of_the_version() {
    let a = record(
        "DSA-2",
        "Debian:12",
        "shadow",
        range(json!([{"introduced": "0"}, {"fixed": "1:4.13+dfsg1-1+deb12u1"}])),
    );
    let index = Index::build([&a]);
    let old = package(
        Deb,
        "passwd",
        "1:4.13+dfsg1-1",
        "amd64",
        ("shadow", "1:4.13+dfsg1-1"),
    );
    assert_eq!(
        verdicts(&index, ("debian", "12"), &old),
        hit("DSA-2", Some("1:4.13+dfsg1-1+deb12u1"))
    );
    // 5.0 without the epoch is older than anything with epoch 1.
    let no_epoch = package(Deb, "passwd", "5.0-1", "amd64", ("shadow", "5.0-1"));
    assert_eq!(verdicts(&index, ("debian", "12"), &no_epoch).len(), 1);
}

#[test]
fn architecture_lists_restrict_and_name_families() {
    let mut affected = range(json!([{"introduced": "0"}, {"fixed": "2.0-1"}]));
    affected["ecosystem_specific"] = json!({"arch": ["x86_64", "noarch"]});
    let a = record("ALSA-4", "AlmaLinux:9", "foo", affected.clone());
    affected["ecosystem_specific"] = json!({"arch": ["x86_64"]});
    let b = record("DSA-4", "Debian:12", "foo", affected);
    let index = Index::build([&a, &b]);
    let rpm = |arch: &str| package(Rpm, "foo", "1.0-1", arch, ("foo", "1.0-1"));
    let alma = ("almalinux", "9");
    assert_eq!(verdicts(&index, alma, &rpm("x86_64")).len(), 1);
    assert_eq!(verdicts(&index, alma, &rpm("aarch64")), NONE);
    assert_eq!(verdicts(&index, alma, &rpm("noarch")).len(), 1);
    assert_eq!(
        verdicts(&index, alma, &rpm("")).len(),
        1,
        "unknown arch is not excluded"
    );
    let deb = |arch: &str| package(Deb, "libfoo", "1.0-1", arch, ("foo", "1.0-1"));
    let debian = ("debian", "12");
    assert_eq!(
        verdicts(&index, debian, &deb("amd64")).len(),
        1,
        "amd64 is x86_64"
    );
    assert_eq!(verdicts(&index, debian, &deb("arm64")), NONE);
    assert_eq!(
        verdicts(&index, debian, &deb("all")),
        NONE,
        "an all package is not x86_64-only"
    );
}

#[test]
fn withdrawn_advisories_never_match_and_replace_earlier_versions() {
    let live = record(
        "DSA-5",
        "Debian:12",
        "foo",
        range(json!([{"introduced": "0"}, {"fixed": "2.0"}])),
    );
    let withdrawn = osv_record(
        json!({"id": "DSA-5", "modified": "2025-02-01T00:00:00Z", "withdrawn": "2025-02-01T00:00:00Z",
        "affected": [{"package": {"ecosystem": "Debian:12", "name": "foo"}, "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2.0"}]}]}]}),
    );
    let p = package(Deb, "foo", "1.0", "amd64", ("foo", "1.0"));
    assert_eq!(Index::build([&withdrawn]).stats().withdrawn, 1);
    assert_eq!(
        verdicts(&Index::build([&withdrawn]), ("debian", "12"), &p),
        NONE
    );
    let mut index = Index::build([&live]);
    assert_eq!(verdicts(&index, ("debian", "12"), &p).len(), 1);
    // The withdrawal replaces the live document and names what it touched.
    let touched = index.insert(&withdrawn);
    assert_eq!(touched.len(), 1);
    assert_eq!(
        (
            touched[0].ecosystem.as_str(),
            touched[0].name.as_str(),
            touched[0].naming
        ),
        ("Debian:12", "foo", Naming::Source)
    );
    assert_eq!(verdicts(&index, ("debian", "12"), &p), NONE);
    assert_eq!(index.stats().documents, 0);
}

#[test]
fn last_affected_limit_and_open_ranges() {
    let last = record(
        "GHSA-1",
        "Debian:12",
        "a",
        range(json!([{"introduced": "1.0"}, {"last_affected": "1.4"}])),
    );
    let limit = record(
        "GHSA-2",
        "Debian:12",
        "b",
        range(json!([{"introduced": "0"}, {"limit": "2.0"}])),
    );
    let open = record(
        "GHSA-3",
        "Debian:12",
        "c",
        range(json!([{"introduced": "1.0"}])),
    );
    let index = Index::build([&last, &limit, &open]);
    let v = |name: &str, version: &str| {
        verdicts(
            &index,
            ("debian", "12"),
            &package(Deb, name, version, "amd64", (name, version)),
        )
    };
    assert_eq!(v("a", "0.9"), NONE);
    assert_eq!(
        v("a", "1.4"),
        hit("GHSA-1", None),
        "last_affected is affected, with no fix"
    );
    assert_eq!(v("a", "1.4.1"), NONE);
    assert_eq!(v("b", "1.9"), hit("GHSA-2", None));
    assert_eq!(v("b", "2.0"), NONE, "nothing at or above the limit");
    assert_eq!(v("c", "0.9"), NONE);
    assert_eq!(v("c", "99"), hit("GHSA-3", None), "no fix yet");
}

#[test]
fn multiple_ranges_and_unsorted_events() {
    let a = record(
        "GHSA-4",
        "crates.io",
        "smallvec",
        json!({"ranges": [
            {"type": "SEMVER", "events": [{"fixed": "0.6.14"}, {"introduced": "0.6.3"}]},
            {"type": "SEMVER", "events": [{"introduced": "1.0.0"}, {"fixed": "1.6.1"}]},
            {"type": "GIT", "repo": "https://example.org/smallvec", "events": [{"introduced": "abc"}]}
        ]}),
    );
    let index = Index::build([&a]);
    let v = |version: &str| {
        let p = InstalledPackage::from_purl(&format!("pkg:cargo/smallvec@{version}")).unwrap();
        let e = index.evaluate(None, &p.as_ref());
        e.matches
            .iter()
            .map(|m| m.fixed_version.as_deref().map(str::to_owned))
            .collect::<Vec<_>>()
    };
    assert_eq!(v("0.6.2"), Vec::<Option<String>>::new());
    assert_eq!(v("0.6.10"), [Some("0.6.14".to_owned())]);
    assert_eq!(v("0.6.14"), Vec::<Option<String>>::new());
    assert_eq!(v("1.2.0"), [Some("1.6.1".to_owned())]);
    assert_eq!(v("1.6.1"), Vec::<Option<String>>::new());
}

#[test]
fn explicit_version_lists_compare_under_the_scheme() {
    let a = record(
        "PYSEC-1",
        "PyPI",
        "Django_Rest",
        json!({"versions": ["1.0", "1.2"], "ranges": [
            {"type": "GIT", "repo": "https://example.org/x", "events": [{"introduced": "0"}, {"fixed": "abc"}]}
        ]}),
    );
    let index = Index::build([&a]);
    let v = |purl: &str| {
        index
            .evaluate(None, &InstalledPackage::from_purl(purl).unwrap().as_ref())
            .matches
            .len()
    };
    assert_eq!(
        v("pkg:pypi/django-rest@1.0.0"),
        1,
        "1.0.0 is 1.0 under PEP 440, and names are normalised"
    );
    assert_eq!(v("pkg:pypi/django.rest@1.2"), 1);
    assert_eq!(v("pkg:pypi/django-rest@1.1"), 0);
}

/// A CSAF VEX document stating that `foo` at `evr` on RHEL 9 is not affected
/// by CVE-2099-0001.
pub(crate) fn vex(evr: &str) -> Advisory {
    let doc = json!({
        "document": {"category": "csaf_vex", "csaf_version": "2.0", "title": "foo VEX",
            "publisher": {"name": "Red Hat", "category": "vendor", "namespace": "https://www.redhat.com"},
            "tracking": {"id": "VEX-1", "status": "final", "version": "1",
                "initial_release_date": "2025-01-01T00:00:00Z", "current_release_date": "2025-01-01T00:00:00Z",
                "revision_history": []}},
        "product_tree": {
            "branches": [{"category": "vendor", "name": "Red Hat", "branches": [
                {"category": "product_version", "name": format!("foo-{evr}.x86_64"),
                 "product": {"name": "foo", "product_id": "foo-x86_64",
                    "product_identification_helper": {"purl": format!("pkg:rpm/redhat/foo@{evr}?arch=x86_64")}}},
                {"category": "product_name", "name": "Red Hat Enterprise Linux 9",
                 "product": {"name": "Red Hat Enterprise Linux 9", "product_id": "RHEL9",
                    "product_identification_helper": {"cpe": "cpe:/o:redhat:enterprise_linux:9::baseos"}}}
            ]}],
            "relationships": [{"category": "default_component_of", "product_reference": "foo-x86_64",
                "relates_to_product_reference": "RHEL9",
                "full_product_name": {"name": "foo on RHEL 9", "product_id": "RHEL9:foo-x86_64"}}]
        },
        "vulnerabilities": [{"cve": "CVE-2099-0001", "product_status": {"known_not_affected": ["RHEL9:foo-x86_64"]}}]
    });
    let bytes = serde_json::to_vec(&doc).unwrap();
    let options = ReadOptions::new("test", at());
    let provenance = options.provenance(
        &Location::file("vex.json"),
        &bytes,
        SignatureStatus::Unsigned,
    );
    csaf::parse(&bytes, provenance).unwrap()
}

#[test]
fn vex_not_affected_overrides_affected_for_that_package() {
    let affected = record(
        "RHSA-1",
        "Red Hat:enterprise_linux:9::baseos",
        "foo",
        range(json!([{"introduced": "0"}, {"fixed": "1.2-1.el9"}])),
    );
    let statement = vex("1.1-1.el9");
    assert!(
        statement
            .affected
            .iter()
            .all(|a| a.ecosystem.starts_with("Red Hat:enterprise_linux:9")),
        "{:?}",
        statement.affected
    );
    let index = Index::build([&affected, &statement]);
    let eco = of_os(&os("rhel", "9.4")).unwrap();
    let at_version = |v: &str| {
        let p = package(Rpm, "foo", v, "x86_64", ("foo", v));
        index.evaluate(Some(&eco), &PackageRef::from(&p)).matches
    };
    let stated = at_version("1.1-1.el9");
    assert_eq!(stated.len(), 1);
    assert_eq!(
        stated[0].verdict,
        Verdict::NotAffected {
            statement: "VEX-1".into()
        }
    );
    // Another version is not covered by the statement.
    let other = at_version("1.0-1.el9");
    assert_eq!(other[0].verdict, Verdict::Affected);
    // Neither is an advisory about a different vulnerability.
    let unrelated = osv_record(
        json!({"id": "RHSA-2", "aliases": ["CVE-2099-0002"], "affected": [{"package": {"ecosystem": "Red Hat:enterprise_linux:9::baseos", "name": "foo"}, "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1.2-1.el9"}]}]}]}),
    );
    let index = Index::build([&unrelated, &statement]);
    let p = package(Rpm, "foo", "1.1-1.el9", "x86_64", ("foo", "1.1-1.el9"));
    assert_eq!(
        index.evaluate(Some(&eco), &PackageRef::from(&p)).matches[0].verdict,
        Verdict::Affected
    );
}

#[test]
fn unknown_ecosystems_skip_os_packages_but_not_language_packages() {
    let a = record(
        "RUSTSEC-1",
        "crates.io",
        "smallvec",
        range(json!([{"introduced": "0"}, {"fixed": "1.6.1"}])),
    );
    let b = record(
        "FEDORA-1",
        "Debian:12",
        "bash",
        range(json!([{"introduced": "0"}])),
    );
    let index = Index::build([&a, &b]);
    let host = HostFacts {
        os: Some(os("fedora", "40")),
        ..HostFacts::default()
    };
    let bash: InstalledPackage = package(Rpm, "bash", "5.2", "x86_64", ("bash", "5.2")).into();
    let crate_ = InstalledPackage::from_purl("pkg:cargo/smallvec@1.6.0").unwrap();
    let assessment = assess_host(&index, &host, [bash.as_ref(), crate_.as_ref()]);
    assert!(assessment.ecosystem.is_none());
    assert!(
        assessment
            .unknown_ecosystem
            .as_ref()
            .unwrap()
            .reason
            .contains("fedora")
    );
    assert_eq!(assessment.unmatched_packages, 1);
    assert_eq!(assessment.findings.len(), 1);
    assert_eq!(assessment.findings[0].advisory.id, "RUSTSEC-1");
    assert_eq!(&*assessment.findings[0].ecosystem, "crates.io");
}

#[test]
fn invalid_installed_versions_are_problems_not_verdicts() {
    let a = record(
        "DSA-6",
        "Debian:12",
        "foo",
        range(json!([{"introduced": "0"}, {"fixed": "2.0"}])),
    );
    let index = Index::build([&a]);
    let eco = of_os(&os("debian", "12")).unwrap();
    let p = package(
        Deb,
        "foo",
        "not a version",
        "amd64",
        ("foo", "not a version"),
    );
    let e = index.evaluate(Some(&eco), &PackageRef::from(&p));
    assert!(e.matches.is_empty());
    assert_eq!(e.problems.len(), 1);
    assert!(e.problems[0].message.contains("deb"), "{:?}", e.problems);
    // An advisory with an invalid event version is not filed, and says why.
    let bad = record(
        "DSA-7",
        "Debian:12",
        "bar",
        range(json!([{"introduced": "0"}, {"fixed": "a b"}])),
    );
    let index = Index::build([&bad]);
    assert_eq!(index.stats().invalid, 1);
    assert!(index.problems()[0].message.contains("\"a b\""));
}

#[test]
fn severity_aliases_and_package_keys() {
    let a = osv_record(
        json!({"id": "ALSA-2025:1", "summary": "Important: foo security update", "related": ["CVE-2025-1", "RHSA-2025:1"],
        "affected": [{"package": {"ecosystem": "AlmaLinux:9", "name": "foo"}, "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2"}]}]}]}),
    );
    let b = osv_record(
        json!({"id": "RUSTSEC-2", "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
        "affected": [{"package": {"ecosystem": "crates.io", "name": "x"}, "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}]}]}]}),
    );
    let mut index = Index::build([&a]);
    let touched = index.insert(&b);
    assert_eq!(touched.len(), 1);
    assert_eq!(touched[0].ecosystem, "crates.io");
    let foo = index.advisory(&a.document_key()).unwrap();
    assert_eq!(foo.severity.level, Level::High);
    assert_eq!(foo.aliases, ["CVE-2025-1"]);
    let x = index.advisory(&b.document_key()).unwrap();
    assert_eq!(
        (x.severity.level, x.severity.score),
        (Level::Critical, Some(9.8))
    );
    // The key the server compares with `touched` for a distinct package.
    let p = InstalledPackage::from_purl("pkg:cargo/x@1.0.0").unwrap();
    assert_eq!(
        Index::package_key(None, &p.as_ref()).as_ref(),
        Some(&touched[0])
    );
    assert_eq!(index.remove(&b.document_key()), touched);
    assert!(index.evaluate(None, &p.as_ref()).is_empty());
}

#[test]
fn a_fixed_kernel_counts_only_once_it_runs() {
    let kernel = |release: &str, version: &str| InstalledKernel {
        release: release.into(),
        package: Some("kernel-core".into()),
        version: Some(version.into()),
        format: Some(Rpm),
    };
    let mut host = HostFacts {
        running_kernel: Some("5.14.0-427.el9.x86_64".into()),
        installed_kernels: vec![kernel("5.14.0-427.el9.x86_64", "5.14.0-427.el9")],
        ..HostFacts::default()
    };
    let none = RebootStatus::default();
    assert_eq!(
        fix_state(&host, &none, "5.14.0-500.el9"),
        KernelFix::NotInstalled
    );
    assert_eq!(
        fix_state(&host, &none, "5.14.0-427.el9"),
        KernelFix::Running
    );
    host.installed_kernels
        .push(kernel("5.14.0-500.el9.x86_64", "5.14.0-500.el9"));
    assert_eq!(
        fix_state(&host, &none, "5.14.0-500.el9"),
        KernelFix::PendingReboot
    );
    host.running_kernel = Some("5.14.0-500.el9.x86_64".into());
    assert_eq!(
        fix_state(&host, &none, "5.14.0-500.el9"),
        KernelFix::Running
    );
    // Unknown running kernel: the reboot status decides.
    host.running_kernel = None;
    assert_eq!(
        fix_state(&host, &none, "5.14.0-500.el9"),
        KernelFix::Unknown
    );
    let newer = RebootStatus::from_reasons(vec![RebootReason::NewerKernel {
        running: "a".into(),
        newest: "b".into(),
    }]);
    assert_eq!(
        fix_state(&host, &newer, "5.14.0-500.el9"),
        KernelFix::PendingReboot
    );
}

#[test]
fn unscoped_entries_apply_only_where_the_schema_allows() {
    let debian = record(
        "DSA-8",
        "Debian",
        "foo",
        range(json!([{"introduced": "0"}, {"fixed": "2.0"}])),
    );
    let red_hat = record(
        "RHSA-8",
        "Red Hat",
        "foo",
        range(json!([{"introduced": "0"}, {"fixed": "2.0-1.el7"}])),
    );
    let index = Index::build([&debian, &red_hat]);
    let deb = package(Deb, "foo", "1.0", "amd64", ("foo", "1.0"));
    assert_eq!(
        verdicts(&index, ("debian", "12"), &deb),
        hit("DSA-8", Some("2.0"))
    );
    assert_eq!(
        verdicts(&index, ("debian", "11"), &deb),
        hit("DSA-8", Some("2.0"))
    );
    let rpm = package(Rpm, "foo", "1.0-1.el9", "x86_64", ("foo", "1.0-1.el9"));
    assert_eq!(
        verdicts(&index, ("rhel", "9.4"), &rpm),
        NONE,
        "a release-less Red Hat product crosses releases"
    );
}

#[test]
fn kernel_packages_are_known_with_or_without_their_source() {
    let is = |format, name: &str, source: &str| {
        rivet_assess::kernel::is_kernel(&PackageRef::from(&package(
            format,
            name,
            "1",
            "x86_64",
            (source, "1"),
        )))
    };
    assert!(is(Rpm, "kernel-core", "kernel"));
    assert!(is(Rpm, "python3-perf", "kernel"));
    assert!(
        is(Rpm, "kernel-core", "kernel-core"),
        "plain rpm -qa has no source"
    );
    assert!(!is(Rpm, "kernel-headers", "kernel-headers"));
    assert!(is(Deb, "linux-image-6.1.0-18-amd64", "linux-signed-amd64"));
    assert!(!is(Deb, "linux-base", "linux-base"));
    assert!(is(Apk, "linux-lts", "linux-lts"));
    assert!(!is(Apk, "linux-firmware", "linux-firmware"));
}
