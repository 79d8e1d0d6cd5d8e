//! Enrollment pins the server's CA over a real TLS connection: the right
//! fingerprint is accepted, a wrong one refused before the token is spent,
//! trust on first use records the CA, and afterwards a server presenting a
//! different CA, or a certificate for another name, at the same address is
//! refused by the client.

use std::path::Path;
use std::sync::{Arc, Mutex};

use rivet_agent::api::ApiError;
use rivet_agent::enroll::{EnrollError, EnrollOptions};
use rivet_agent::state::StateDir;
use rivet_agent::tls::TlsError;
use rivet_agent::{CaFingerprint, CheckinError, ServerUrl};

use crate::peer::{Peer, Pki};
use crate::rivet_peer::{self, Side};
use crate::{at, data};

fn options(peer: &Peer, state_dir: &Path, fingerprint: Option<CaFingerprint>) -> EnrollOptions {
    EnrollOptions {
        server: ServerUrl::parse(&peer.url()).unwrap(),
        token: rivet_peer::token(),
        ca_fingerprint: fingerprint,
        state_dir: state_dir.to_owned(),
        hostname: "web1".into(),
        force: false,
    }
}

async fn rivet(pki: &Pki) -> (Peer, Arc<Mutex<Side>>) {
    let side = Arc::new(Mutex::new(Side::default()));
    let peer = Peer::start(pki, rivet_peer::answers(side.clone(), at())).await;
    (peer, side)
}

#[tokio::test]
async fn the_right_fingerprint_is_accepted_and_the_ca_recorded() {
    let pki = Pki::new("Rivet CA", &["127.0.0.1"]);
    let (peer, side) = rivet(&pki).await;
    let dir = tempfile::tempdir().unwrap();
    // The form `openssl x509 -fingerprint -sha256` prints.
    let given: CaFingerprint = format!(
        "SHA256 Fingerprint={}",
        CaFingerprint::of(&pki.ca).to_openssl()
    )
    .parse()
    .unwrap();
    let enrolled = rivet_agent::enroll(&options(&peer, dir.path(), Some(given)), at())
        .await
        .unwrap();
    assert!(!enrolled.trusted_on_first_use);
    assert_eq!(enrolled.ca_fingerprint, CaFingerprint::of(&pki.ca));
    assert_eq!(enrolled.enrollment.host, rivet_peer::host());
    assert_eq!(enrolled.enrollment.tenant, rivet_peer::tenant());
    let identity = StateDir::new(dir.path()).load_identity().unwrap();
    assert_eq!(identity.ca, pki.ca);
    assert_eq!(Some(identity.key.public()), side.lock().unwrap().key);
}

#[tokio::test]
async fn a_wrong_fingerprint_is_refused_before_the_token_is_sent() {
    let pki = Pki::new("Rivet CA", &["127.0.0.1"]);
    let (peer, _side) = rivet(&pki).await;
    let dir = tempfile::tempdir().unwrap();
    let other = Pki::new("Someone else's CA", &["127.0.0.1"]);
    let wrong = CaFingerprint::of(&other.ca);
    let error = rivet_agent::enroll(&options(&peer, dir.path(), Some(wrong)), at())
        .await
        .unwrap_err();
    let EnrollError::FingerprintMismatch {
        expected,
        presented,
    } = &error
    else {
        panic!("{error}");
    };
    assert_eq!((*expected, *presented), (wrong, CaFingerprint::of(&pki.ca)));
    let message = error.to_string();
    assert!(
        message.contains(&wrong.to_string()) && message.contains("refusing to enroll"),
        "{message}"
    );
    assert!(peer.requests().is_empty(), "the token must not be sent");
    assert!(StateDir::new(dir.path()).enrollment().unwrap().is_none());
}

#[tokio::test]
async fn trust_on_first_use_pins_the_ca_against_a_different_server_later() {
    let pki = Pki::new("Rivet CA", &["127.0.0.1"]);
    let (peer, side) = rivet(&pki).await;
    side.lock()
        .unwrap()
        .wanted
        .push_back(rivet_core::agent::InventoryWanted::Full);
    let dir = tempfile::tempdir().unwrap();
    let enrolled = rivet_agent::enroll(&options(&peer, dir.path(), None), at())
        .await
        .unwrap();
    assert!(enrolled.trusted_on_first_use);
    assert_eq!(enrolled.ca_fingerprint, CaFingerprint::of(&pki.ca));
    let ca_pem = std::fs::read_to_string(dir.path().join("ca.pem")).unwrap();
    assert!(
        ca_pem.starts_with("-----BEGIN CERTIFICATE-----\n"),
        "{ca_pem}"
    );

    // The pinned CA's server is trusted.
    let report = rivet_agent::checkin_once(dir.path(), &data("debian-reboot"), at())
        .await
        .unwrap();
    assert!(report.uploaded.is_some());

    // Another CA at the same address is not, though it is a valid chain.
    let impostor = Pki::new("Rivet CA", &["127.0.0.1"]);
    peer.present(&impostor);
    let seen = peer.requests().len();
    let error = rivet_agent::checkin_once(dir.path(), &data("debian-reboot"), at())
        .await
        .unwrap_err();
    let message = error.to_string();
    assert!(
        matches!(error, CheckinError::Api(ApiError::Transport { .. })),
        "{message}"
    );
    assert!(message.to_lowercase().contains("certificate"), "{message}");
    assert_eq!(peer.requests().len(), seen, "nothing reached the impostor");
}

#[tokio::test]
async fn the_pinned_ca_does_not_vouch_for_another_name() {
    // The chain is the CA's own, but the certificate names another host
    // than the one the agent connects to: the pinned client checks names.
    let named = Pki::new("Rivet CA", &["rivet.example.org"]);
    let (peer, _side) = rivet(&named).await;
    let dir = tempfile::tempdir().unwrap();
    let error = rivet_agent::enroll(&options(&peer, dir.path(), None), at())
        .await
        .unwrap_err();
    let message = error.to_string();
    assert!(
        matches!(error, EnrollError::Api(ApiError::Transport { .. })),
        "{message}"
    );
    assert!(message.contains("not valid for name"), "{message}");
    assert!(peer.requests().is_empty());
}

#[tokio::test]
async fn a_server_without_its_ca_in_the_chain_is_refused_clearly() {
    let pki = Pki::new("Rivet CA", &["127.0.0.1"]).without_ca();
    let (peer, _side) = rivet(&pki).await;
    let dir = tempfile::tempdir().unwrap();
    let error = rivet_agent::enroll(&options(&peer, dir.path(), None), at())
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
}

#[tokio::test]
async fn nothing_listening_is_a_connection_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("https://{}", listener.local_addr().unwrap());
    drop(listener);
    let dir = tempfile::tempdir().unwrap();
    let options = EnrollOptions {
        server: ServerUrl::parse(&url).unwrap(),
        token: rivet_peer::token(),
        ca_fingerprint: None,
        state_dir: dir.path().to_owned(),
        hostname: "web1".into(),
        force: false,
    };
    let error = rivet_agent::enroll(&options, at()).await.unwrap_err();
    assert!(
        matches!(error, EnrollError::Probe(TlsError::Connect { .. })),
        "{error}"
    );
}
