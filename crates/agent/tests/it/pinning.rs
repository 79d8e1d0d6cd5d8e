//! Enrollment pins the real server's CA over TLS: the right fingerprint is
//! accepted, a wrong one refused before the token is spent, trust on first
//! use records the CA, and afterwards another server at the same address
//! (another CA), or a certificate for another name, is refused.

use rivet_agent::api::ApiError;
use rivet_agent::enroll::{EnrollError, EnrollOptions};
use rivet_agent::state::StateDir;
use rivet_agent::tls::TlsError;
use rivet_agent::{CaFingerprint, CheckinError, ServerUrl};
use rivet_core::agent::EnrollmentSecret;
use rivet_core::id::EnrollmentId;

use crate::data;
use crate::pki::Pki;
use crate::server::{Files, Options, Rivet};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_right_fingerprint_is_accepted_and_the_ca_recorded() {
    let rivet = Rivet::start().await;
    let dir = tempfile::tempdir().unwrap();
    // The form `openssl x509 -fingerprint -sha256` prints.
    let given: CaFingerprint = format!("SHA256 Fingerprint={}", rivet.fingerprint().to_openssl())
        .parse()
        .unwrap();
    let options = rivet
        .enroll_options(&rivet.url(), dir.path(), Some(given))
        .await;
    let enrolled = rivet_agent::enroll(&options, rivet.now()).await.unwrap();
    assert!(!enrolled.trusted_on_first_use);
    assert_eq!(enrolled.ca_fingerprint, CaFingerprint::of(&rivet.ca()));
    assert!(rivet.token_used(&options.token).await);
    let identity = StateDir::new(dir.path()).load_identity().unwrap();
    assert_eq!(identity.ca, rivet.ca());
    let host = enrolled.enrollment.host.to_string();
    assert_eq!(rivet.host(&host).await["name"], "web1");
    // The server verifies the agent's signatures with the key it was given.
    rivet_agent::checkin_once(dir.path(), &data("debian-reboot"), rivet.now())
        .await
        .unwrap();
    rivet.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_fingerprint_is_refused_before_the_token_is_sent() {
    let rivet = Rivet::start().await;
    let dir = tempfile::tempdir().unwrap();
    let wrong = CaFingerprint::of(&Pki::new("Someone else's CA").ca);
    let mut options = rivet
        .enroll_options(&rivet.url(), dir.path(), Some(wrong))
        .await;
    let error = rivet_agent::enroll(&options, rivet.now())
        .await
        .unwrap_err();
    let EnrollError::FingerprintMismatch {
        expected,
        presented,
    } = &error
    else {
        panic!("{error}");
    };
    assert_eq!((*expected, *presented), (wrong, rivet.fingerprint()));
    let message = error.to_string();
    assert!(
        message.contains(&wrong.to_string()) && message.contains("refusing to enroll"),
        "{message}"
    );
    assert!(StateDir::new(dir.path()).enrollment().unwrap().is_none());
    // The token was not spent: it still enrolls, with the right fingerprint.
    assert!(!rivet.token_used(&options.token).await);
    options.ca_fingerprint = Some(rivet.fingerprint());
    rivet_agent::enroll(&options, rivet.now()).await.unwrap();
    rivet.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trust_on_first_use_pins_the_ca_against_a_different_server_later() {
    let mut rivet = Rivet::start().await;
    let dir = tempfile::tempdir().unwrap();
    let enrolled = rivet.enroll_at(&rivet.url(), dir.path(), None).await;
    assert!(enrolled.trusted_on_first_use);
    assert_eq!(enrolled.ca_fingerprint, rivet.fingerprint());
    let ca_pem = std::fs::read_to_string(dir.path().join("ca.pem")).unwrap();
    assert!(
        ca_pem.starts_with("-----BEGIN CERTIFICATE-----\n"),
        "{ca_pem}"
    );
    // The pinned CA's server is trusted.
    let report = rivet_agent::checkin_once(dir.path(), &data("debian-reboot"), rivet.now())
        .await
        .unwrap();
    assert!(report.uploaded.is_some());

    // Another Rivet server (its own CA, a valid chain) at the same address
    // is not: the agent refuses it in the handshake, before the server
    // could refuse the agent it does not know.
    let pinned = rivet.fingerprint();
    rivet.stop().await;
    let impostor = Rivet::start_with(Options {
        listen: Some(rivet.addr()),
        ..Options::default()
    })
    .await;
    assert_ne!(impostor.fingerprint(), pinned);
    let error = rivet_agent::checkin_once(dir.path(), &data("debian-reboot"), impostor.now())
        .await
        .unwrap_err();
    let message = error.to_string();
    assert!(
        matches!(error, CheckinError::Api(ApiError::Transport { .. })),
        "{message}"
    );
    // The impostor's CA has the same name as the pinned one (a Rivet CA of
    // the same day), but not its key.
    assert!(
        message.contains("invalid peer certificate: BadSignature"),
        "{message}"
    );
    impostor.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pinned_ca_does_not_vouch_for_another_name() {
    // The server presents its CA's chain, but the certificate names another
    // host than the one the agent connects to: the pinned client checks
    // names.
    let pki = Pki::new("Rivet test CA");
    let rivet = Rivet::start_with(Options {
        files: Some(Files {
            leaf: pki.leaf(&["rivet.example.org"]),
            ca: pki.ca.clone(),
            name: "rivet.example.org".into(),
        }),
        ..Options::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let options = rivet.enroll_options(&rivet.url(), dir.path(), None).await;
    let error = rivet_agent::enroll(&options, rivet.now())
        .await
        .unwrap_err();
    let message = error.to_string();
    assert!(
        matches!(error, EnrollError::Api(ApiError::Transport { .. })),
        "{message}"
    );
    assert!(message.contains("not valid for name"), "{message}");
    assert!(!rivet.token_used(&options.token).await);
    rivet.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_without_its_ca_in_the_chain_is_refused_clearly() {
    let pki = Pki::new("Rivet test CA");
    let rivet = Rivet::start_with(Options {
        files: Some(Files {
            leaf: pki.leaf(&["127.0.0.1"]).without_ca(),
            ca: pki.ca.clone(),
            name: "127.0.0.1".into(),
        }),
        ..Options::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let options = rivet.enroll_options(&rivet.url(), dir.path(), None).await;
    let error = rivet_agent::enroll(&options, rivet.now())
        .await
        .unwrap_err();
    assert!(
        matches!(error, EnrollError::Probe(TlsError::NoCa { .. })),
        "{error}"
    );
    assert!(
        error.to_string().contains("only its own certificate"),
        "{error}"
    );
    assert!(!rivet.token_used(&options.token).await);
    rivet.finish().await;
}

#[tokio::test]
async fn nothing_listening_is_a_connection_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("https://{}", listener.local_addr().unwrap());
    drop(listener);
    let dir = tempfile::tempdir().unwrap();
    let id = EnrollmentId::new(crate::at(), [3; 10]);
    let options = EnrollOptions {
        server: ServerUrl::parse(&url).unwrap(),
        token: EnrollmentSecret::new(id, [4; 32]).expose().to_string(),
        ca_fingerprint: None,
        state_dir: dir.path().to_owned(),
        hostname: "web1".into(),
        force: false,
    };
    let error = rivet_agent::enroll(&options, crate::at())
        .await
        .unwrap_err();
    assert!(
        matches!(error, EnrollError::Probe(TlsError::Connect { .. })),
        "{error}"
    );
}
