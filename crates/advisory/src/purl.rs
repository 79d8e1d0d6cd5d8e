//! Package URLs, read as far as matching needs them: type, namespace, name,
//! version and qualifiers (`arch`, `epoch`, `distro`), percent-decoded.
//!
//! Hand-written rather than a dependency: it is forty lines, and the crates
//! that exist validate per-type rules Rivet does not need here.

/// A parsed `pkg:` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Purl {
    /// The package type (`rpm`, `deb`, `cargo`, `pypi`, …), lower-case.
    pub kind: String,
    /// The namespace (`redhat`, `ubuntu`), when given.
    pub namespace: Option<String>,
    /// The package name.
    pub name: String,
    /// The version, when given.
    pub version: Option<String>,
    /// The qualifiers, in document order.
    pub qualifiers: Vec<(String, String)>,
}

impl Purl {
    /// Parses a package URL; `None` when it is not one.
    pub fn parse(text: &str) -> Option<Purl> {
        let rest = text.strip_prefix("pkg:")?;
        let rest = rest.split_once('#').map_or(rest, |(r, _)| r);
        let (rest, qualifiers) = match rest.split_once('?') {
            Some((r, q)) => (r, q),
            None => (rest, ""),
        };
        let (path, version) = match rest.rsplit_once('@') {
            Some((p, v)) => (p, Some(decode(v))),
            None => (rest, None),
        };
        let mut segments = path.trim_matches('/').split('/');
        let kind = segments.next()?.to_ascii_lowercase();
        let segments: Vec<String> = segments.map(decode).collect();
        let (name, namespace) = segments.split_last()?;
        if kind.is_empty() || name.is_empty() {
            return None;
        }
        Some(Purl {
            kind,
            namespace: (!namespace.is_empty()).then(|| namespace.join("/")),
            name: name.clone(),
            version: version.filter(|v| !v.is_empty()),
            qualifiers: qualifiers
                .split('&')
                .filter_map(|pair| pair.split_once('='))
                .map(|(k, v)| (k.to_ascii_lowercase(), decode(v)))
                .collect(),
        })
    }

    /// The value of a qualifier.
    pub fn qualifier(&self, key: &str) -> Option<&str> {
        self.qualifiers
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// Percent-decoding; an invalid escape is kept as written.
fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rpm_purls_are_read() {
        let p =
            Purl::parse("pkg:rpm/redhat/iwl1000-firmware@39.31.5.1-81.el7_9?arch=noarch&epoch=1")
                .unwrap();
        assert_eq!(p.kind, "rpm");
        assert_eq!(p.namespace.as_deref(), Some("redhat"));
        assert_eq!(p.name, "iwl1000-firmware");
        assert_eq!(p.version.as_deref(), Some("39.31.5.1-81.el7_9"));
        assert_eq!(p.qualifier("epoch"), Some("1"));
        let p = Purl::parse("pkg:deb/ubuntu/curl@7.81.0-1ubuntu1.20%2Bx?arch=source").unwrap();
        assert_eq!(p.version.as_deref(), Some("7.81.0-1ubuntu1.20+x"));
        assert_eq!(Purl::parse("pkg:cargo/openssl").unwrap().namespace, None);
        assert_eq!(Purl::parse("http://example.com"), None);
        assert_eq!(Purl::parse("pkg:%"), None);
    }
}
