//! Online advisory sources (ADV-2, ADV-5): fetching an OSV archive, the KEV
//! catalog, EPSS scores, or every document a CSAF provider lists — each CSAF
//! document checked against its checksum and its OpenPGP signature before
//! use — and the scheduler that syncs due sources in the background.
//!
//! A document that fails a check is rejected with its reason and never
//! stored. A source that cannot be fetched at all fails as a whole and
//! stores nothing; the failure is recorded on the source.

use std::sync::Arc;
use std::time::Duration;

use rivet_advisory::integrity::{self, Keyring};
use rivet_advisory::{Location, RawDocument, ReadOptions, SignatureStatus, csaf};
use rivet_core::Timestamp;
use rivet_core::audit::Actor;
use rivet_store::{AdvisorySource, ImportCounts, Store};

use crate::intake::{self, Parsed, Rejection};

/// How many rejection reasons a source's record keeps.
const MAX_RECORDED_REASONS: usize = 20;

/// The most documents one CSAF sync fetches.
const MAX_CSAF_DOCUMENTS: usize = 20_000;

/// What a sync did.
#[derive(Debug, Default, Clone, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct SyncReport {
    /// Whether the source could be read.
    pub ok: bool,
    /// A summary, or why the source failed.
    pub message: String,
    /// New documents.
    pub imported: u64,
    /// Replaced documents.
    pub updated: u64,
    /// Documents already stored.
    pub unchanged: u64,
    /// Documents rejected.
    pub rejected: u64,
    /// Why each was rejected (the first 1,000).
    pub errors: Vec<Rejection>,
}

/// Downloads with a size limit.
#[derive(Clone)]
pub struct Fetcher {
    http: reqwest::Client,
    max_bytes: usize,
}

impl Fetcher {
    /// A fetcher refusing bodies over `max_bytes`.
    pub fn new(max_bytes: usize) -> Self {
        crate::install_crypto_provider();
        let http = reqwest::Client::builder()
            .user_agent(concat!("rivet/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(20))
            .timeout(Duration::from_secs(600))
            .build()
            .unwrap_or_default();
        Fetcher { http, max_bytes }
    }

    /// The body at `url`, or why not.
    pub async fn get(&self, url: &str) -> Result<Vec<u8>, String> {
        let mut response = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| format!("{url}: {e}"))?;
        if !response.status().is_success() {
            return Err(format!("{url}: HTTP {}", response.status()));
        }
        if response
            .content_length()
            .is_some_and(|n| n > self.max_bytes as u64)
        {
            return Err(format!("{url}: larger than {} bytes", self.max_bytes));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| format!("{url}: {e}"))? {
            if body.len() + chunk.len() > self.max_bytes {
                return Err(format!("{url}: larger than {} bytes", self.max_bytes));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    /// Like [`Fetcher::get`], but a 404 is `Ok(None)`.
    async fn get_optional(&self, url: &str) -> Result<Option<Vec<u8>>, String> {
        match self.get(url).await {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.ends_with("HTTP 404 Not Found") => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// The last path segment of a URL, to name what was fetched.
fn file_name(url: &str) -> String {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    path.rsplit('/')
        .find(|s| !s.is_empty())
        .unwrap_or("download")
        .to_owned()
}

/// Syncs one source now and records the outcome on it.
pub async fn sync(
    store: &Store,
    fetcher: &Fetcher,
    source: &AdvisorySource,
    actor: &Actor,
    now: Timestamp,
) -> SyncReport {
    let label = format!("source {}", source.name);
    let outcome = match source.kind.as_str() {
        "csaf" => sync_csaf(fetcher, source, now).await,
        _ => match fetcher.get(&source.url).await {
            Ok(bytes) => {
                let name = file_name(&source.url);
                let source_name = source.name.clone();
                tokio::task::spawn_blocking(move || intake::read(&name, bytes, &source_name, now))
                    .await
                    .map_err(|e| e.to_string())
                    .and_then(|r| r)
            }
            Err(e) => Err(e),
        },
    };
    let mut report = match outcome {
        Err(reason) => SyncReport {
            ok: false,
            message: reason,
            ..SyncReport::default()
        },
        Ok(parsed) => match store_parsed(store, parsed, &label, actor, now).await {
            Ok(report) => report,
            Err(e) => SyncReport {
                ok: false,
                message: format!("cannot store: {e}"),
                ..SyncReport::default()
            },
        },
    };
    if report.ok {
        report.message = format!(
            "imported {}, updated {}, unchanged {}, rejected {}",
            report.imported, report.updated, report.unchanged, report.rejected
        );
        // The reasons are recorded on the source too, so that a rejected
        // document stays visible after the sync that met it.
        for e in report.errors.iter().take(MAX_RECORDED_REASONS) {
            report
                .message
                .push_str(&format!("\nrejected {}: {}", e.file, e.reason));
        }
    }
    report.errors.truncate(1000);
    if let Err(e) = store
        .record_sync(&source.id, report.ok, &report.message, actor, now)
        .await
    {
        tracing::error!(source = %source.name, error = %e, "cannot record the sync");
    }
    tracing::info!(source = %source.name, ok = report.ok, message = %report.message, "advisory source synced");
    report
}

async fn store_parsed(
    store: &Store,
    parsed: Parsed,
    label: &str,
    actor: &Actor,
    now: Timestamp,
) -> Result<SyncReport, rivet_store::StoreError> {
    let (counts, rejected): (ImportCounts, Vec<Rejection>) = match parsed {
        Parsed::Advisories { records, rejected } => (
            store.import_advisories(&records, label, actor, now).await?,
            rejected,
        ),
        Parsed::Kev {
            version,
            entries,
            rejected,
        } => (
            store.import_kev(&entries, &version, actor, now).await?,
            rejected,
        ),
        Parsed::Epss { scores, rejected } => {
            (store.import_epss(&scores, actor, now).await?, rejected)
        }
    };
    Ok(SyncReport {
        ok: true,
        message: String::new(),
        imported: counts.imported,
        updated: counts.updated,
        unchanged: counts.unchanged,
        rejected: rejected.len() as u64,
        errors: rejected,
    })
}

/// A CSAF provider: its metadata, its keys, every document its ROLIE feeds
/// or directory listings name, each checked before it is parsed.
async fn sync_csaf(
    fetcher: &Fetcher,
    source: &AdvisorySource,
    now: Timestamp,
) -> Result<Parsed, String> {
    let first = fetcher.get(&source.url).await?;
    let Some(providers) = aggregated_providers(&first) else {
        return sync_provider(fetcher, source, &source.url, first, now).await;
    };
    // An aggregator's list: every provider it names, each on its own terms.
    // A provider that cannot be read is reported, and the others go on.
    let mut records = Vec::new();
    let mut rejected = Vec::new();
    for url in providers.into_iter().take(MAX_PROVIDERS) {
        let outcome = match fetcher.get(&url).await {
            Ok(bytes) => sync_provider(fetcher, source, &url, bytes, now).await,
            Err(e) => Err(e),
        };
        match outcome {
            Ok(Parsed::Advisories {
                records: r,
                rejected: x,
            }) => {
                records.extend(r);
                rejected.extend(x);
            }
            Ok(_) => {}
            Err(reason) => rejected.push(Rejection { file: url, reason }),
        }
    }
    Ok(Parsed::Advisories { records, rejected })
}

/// The most providers one aggregator sync follows.
const MAX_PROVIDERS: usize = 500;

/// The providers' metadata URLs, if `bytes` is a CSAF aggregator's list
/// (`aggregator.json`) rather than one provider's metadata.
fn aggregated_providers(bytes: &[u8]) -> Option<Vec<String>> {
    let value: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    let providers = value.get("csaf_providers")?.as_array()?;
    Some(
        providers
            .iter()
            .filter_map(|p| p["metadata"]["url"].as_str().map(str::to_owned))
            .collect(),
    )
}

/// One CSAF provider, from its metadata's bytes.
async fn sync_provider(
    fetcher: &Fetcher,
    source: &AdvisorySource,
    metadata_url: &str,
    metadata: Vec<u8>,
    now: Timestamp,
) -> Result<Parsed, String> {
    let metadata =
        csaf::parse_provider_metadata(&metadata).map_err(|e| format!("{}: {e}", metadata_url))?;
    let mut armored: Vec<String> = Vec::new();
    if !source.public_keys.trim().is_empty() {
        armored.push(source.public_keys.clone());
    }
    for key in &metadata.public_openpgp_keys {
        let bytes = fetcher.get(&key.url).await?;
        let text =
            String::from_utf8(bytes).map_err(|_| format!("{}: the key is not text", key.url))?;
        let ring = Keyring::from_armored(&[&text]).map_err(|e| format!("{}: {e}", key.url))?;
        if let Some(expected) = &key.fingerprint {
            let expected = expected.replace(' ', "").to_ascii_uppercase();
            if !ring
                .fingerprints()
                .iter()
                .any(|f| f.eq_ignore_ascii_case(&expected))
            {
                return Err(format!(
                    "{}: the key's fingerprint is not {expected}, as the provider metadata says",
                    key.url
                ));
            }
        }
        armored.push(text);
    }
    let refs: Vec<&str> = armored.iter().map(String::as_str).collect();
    let keyring = Keyring::from_armored(&refs).map_err(|e| format!("{}: {e}", metadata_url))?;
    let mut links = Vec::new();
    for feed in &metadata.feeds {
        let bytes = fetcher.get(&feed.url).await?;
        links.extend(csaf::parse_rolie_feed(&bytes).map_err(|e| format!("{}: {e}", feed.url))?);
    }
    for dir in &metadata.directory_urls {
        let base = dir.trim_end_matches('/');
        match fetcher.get_optional(&format!("{base}/changes.csv")).await? {
            Some(bytes) => links.extend(
                csaf::parse_changes_csv(base, &bytes)
                    .map_err(|e| format!("{base}/changes.csv: {e}"))?,
            ),
            None => {
                let index = fetcher.get(&format!("{base}/index.txt")).await?;
                links.extend(csaf::parse_index_txt(
                    base,
                    &String::from_utf8_lossy(&index),
                ));
            }
        }
    }
    if links.len() > MAX_CSAF_DOCUMENTS {
        return Err(format!(
            "{}: lists {} documents, more than {MAX_CSAF_DOCUMENTS}",
            metadata_url,
            links.len()
        ));
    }
    let options = ReadOptions::new(source.name.clone(), now);
    let mut records = Vec::new();
    let mut rejected = Vec::new();
    for link in links {
        let reject = |reason: String| Rejection {
            file: link.url.clone(),
            reason,
        };
        let checked = async {
            let bytes = fetcher.get(&link.url).await?;
            let mut checksum = None;
            for (algorithm, url) in &link.hashes {
                if let Some(text) = fetcher.get_optional(url).await? {
                    checksum = Some((*algorithm, String::from_utf8_lossy(&text).into_owned()));
                    break;
                }
            }
            let signature = match &link.signature {
                Some(url) => fetcher
                    .get_optional(url)
                    .await?
                    .map(|s| String::from_utf8_lossy(&s).into_owned()),
                None => None,
            };
            if signature.is_none() && !armored.is_empty() {
                return Err(
                    "the provider signs its documents, but this one has no signature".to_owned(),
                );
            }
            let status = integrity::check(
                &bytes,
                checksum.as_ref().map(|(a, t)| (*a, t.as_str())),
                signature.as_deref(),
                &keyring,
            );
            if let SignatureStatus::Failed { reason } = &status {
                return Err(reason.clone());
            }
            Ok((bytes, status))
        };
        match checked.await {
            Err(reason) => rejected.push(reject(reason)),
            Ok((bytes, status)) => {
                let document = RawDocument {
                    location: Location::file(link.url.clone()),
                    bytes,
                };
                match csaf::parse_document(&document, &options, status) {
                    Ok(advisory) => records.push(intake::record(&advisory)),
                    Err(e) => rejected.push(reject(e.reason.to_string())),
                }
            }
        }
    }
    Ok(Parsed::Advisories { records, rejected })
}

/// Syncs due sources until the process ends: every `tick`, each source
/// whose time has come is claimed (with a lease, so that of several
/// replicas only one syncs it) and synced.
pub async fn run_scheduler(
    store: Store,
    fetcher: Fetcher,
    clock: Arc<dyn crate::clock::Clock>,
    owner: String,
    tick: Duration,
) {
    loop {
        tokio::time::sleep(tick).await;
        loop {
            let now = clock.now();
            match store.claim_due_source(now, &owner, 3600).await {
                Ok(Some(source)) => {
                    sync(&store, &fetcher, &source, &Actor::system(), now).await;
                }
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot claim advisory sources");
                    break;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_come_from_the_path() {
        assert_eq!(
            super::file_name("https://x/osv/Debian/all.zip?x=1"),
            "all.zip"
        );
        assert_eq!(super::file_name("https://x/"), "x");
    }
}
