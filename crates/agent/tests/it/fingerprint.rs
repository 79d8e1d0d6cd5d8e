//! CA fingerprints in the forms administrators copy them in.

use rivet_agent::CaFingerprint;

const HEX: &str = "3a0f6c1e9b7d2a58c4e3f1b0d9a8c7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0";

fn colons(hex: &str) -> String {
    hex.as_bytes()
        .chunks(2)
        .map(|p| std::str::from_utf8(p).unwrap())
        .collect::<Vec<_>>()
        .join(":")
}

#[test]
fn every_common_form_is_accepted() {
    let expected: CaFingerprint = HEX.parse().unwrap();
    assert_eq!(expected.to_string(), HEX);
    for form in [
        HEX.to_owned(),
        HEX.to_uppercase(),
        colons(HEX),
        colons(&HEX.to_uppercase()),
        format!("SHA256 Fingerprint={}", colons(&HEX.to_uppercase())),
        format!("sha256 Fingerprint={}\n", colons(HEX)),
        format!("  {HEX}  "),
    ] {
        assert_eq!(form.parse::<CaFingerprint>(), Ok(expected), "{form:?}");
    }
    assert_eq!(expected.to_openssl(), colons(&HEX.to_uppercase()));
}

#[test]
fn anything_else_is_refused_with_the_expected_form() {
    let half_colons = format!("{}{}", colons(&HEX[..32]), &HEX[32..]);
    for bad in [
        "",
        "abc",
        &HEX[..62],
        &format!("{HEX}00"),
        &HEX.replace('a', "g"),
        &half_colons,
        &format!("SHA1 Fingerprint={}", colons(HEX)),
        &format!("{}:", colons(HEX)),
        "ä".repeat(64).as_str(),
    ] {
        let error = bad.parse::<CaFingerprint>().unwrap_err();
        assert!(error.to_string().contains("64 hex digits"), "{error}");
    }
}

#[test]
fn the_fingerprint_is_the_sha256_of_the_der() {
    // SHA-256 of the empty input.
    assert_eq!(
        CaFingerprint::of(b"").to_string(),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
}
