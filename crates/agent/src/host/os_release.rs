//! os-release(5): `/etc/os-release`, falling back to `/usr/lib/os-release`.

use rivet_core::inventory::OsRelease;

use crate::rootfs::{ReadError, Root, SMALL_FILE_LIMIT};

/// The locations of os-release, in the order the specification reads them.
pub const PATHS: [&str; 2] = ["/etc/os-release", "/usr/lib/os-release"];

/// Reads os-release under `root`; `None` if neither file exists.
pub fn read_os_release(root: &Root) -> Result<Option<OsRelease>, ReadError> {
    for path in PATHS {
        if let Some(text) = root.read(path, SMALL_FILE_LIMIT)? {
            return Ok(Some(parse_os_release(&text)));
        }
    }
    Ok(None)
}

/// Parses the text of an os-release file. `ID` defaults to `linux`, as the
/// specification says.
pub fn parse_os_release(text: &str) -> OsRelease {
    let mut os = OsRelease {
        id: "linux".into(),
        ..OsRelease::default()
    };
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') {
            continue;
        }
        let Some((key, raw)) = line.split_once('=') else {
            continue;
        };
        let value = unquote(raw.trim());
        match key.trim() {
            "ID" if !value.is_empty() => os.id = value,
            "VERSION_ID" => os.version_id = Some(value),
            "PRETTY_NAME" => os.pretty_name = Some(value),
            "VERSION_CODENAME" if !value.is_empty() => os.version_codename = Some(value),
            "ID_LIKE" => os.id_like = value.split_whitespace().map(str::to_owned).collect(),
            _ => {}
        }
    }
    os
}

/// Removes shell quoting: one pair of `"` or `'`, and backslash escapes
/// inside double quotes.
fn unquote(raw: &str) -> String {
    if let Some(inner) = raw.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')) {
        return inner.to_owned();
    }
    let Some(inner) = raw.strip_prefix('"').and_then(|s| s.strip_suffix('"')) else {
        return raw.to_owned();
    };
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.extend(chars.next()),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_comments_and_defaults() {
        let os = parse_os_release(
            "# c\nNAME=\"X\"\nID=x\nVERSION_ID='1.0'\nPRETTY_NAME=\"A \\\"B\\\"\"\nID_LIKE=\"a b\"\n",
        );
        assert_eq!(os.id, "x");
        assert_eq!(os.version_id.as_deref(), Some("1.0"));
        assert_eq!(os.pretty_name.as_deref(), Some("A \"B\""));
        assert_eq!(os.id_like, ["a", "b"]);
        assert_eq!(parse_os_release("").id, "linux");
    }
}
