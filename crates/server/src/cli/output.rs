//! How the CLI prints: aligned tables for people, JSON for scripts.

use std::io::Write;
use std::path::Path;

use anyhow::Context;
use serde_json::Value;

/// `println!` for command output that ends the process quietly when the
/// reader has gone (`rivet … | head`), instead of panicking.
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if writeln!(std::io::stdout().lock(), $($arg)*).is_err() {
            std::process::exit(0);
        }
    }};
}

/// `--output`
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum Output {
    /// Aligned columns.
    #[default]
    Table,
    /// JSON: one array for listings, one object otherwise.
    Json,
}

/// Prints items as a table of `columns` (header, field) or as a JSON array.
/// A field starting with `/` is a JSON pointer into the item
/// (`/attributes/ring`).
pub fn list(output: Output, items: &[Value], columns: &[(&str, &str)]) {
    match output {
        Output::Json => crate::say!("{}", Value::Array(items.to_vec())),
        Output::Table => {
            let rows: Vec<Vec<String>> = items
                .iter()
                .map(|item| {
                    columns
                        .iter()
                        .map(|(_, field)| cell(field_of(item, field)))
                        .collect()
                })
                .collect();
            let text = table(columns.iter().map(|(h, _)| *h).collect(), &rows);
            crate::say!("{}", text.trim_end_matches('\n'));
        }
    }
}

/// Prints one record: `field: value` lines, or JSON.
pub fn record(output: Output, item: &Value) {
    match output {
        Output::Json => crate::say!("{item}"),
        Output::Table => {
            if let Value::Object(map) = item {
                fields(&map.iter().map(|(k, v)| (k.as_str(), v)).collect::<Vec<_>>());
            } else {
                crate::say!("{}", cell(item));
            }
        }
    }
}

/// Prints named values as aligned `name  value` lines, in the order given.
pub fn fields(pairs: &[(&str, &Value)]) {
    let width = pairs.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    for (k, v) in pairs {
        crate::say!("{k:<width$}  {}", cell(v));
    }
}

/// Where a document goes: a new file (replacing one of that name), or
/// standard output.
pub fn destination(file: Option<&Path>) -> anyhow::Result<Box<dyn Write>> {
    Ok(match file {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path)
                .with_context(|| format!("cannot create {}", path.display()))?,
        )),
        None => Box::new(std::io::stdout().lock()),
    })
}

fn field_of<'a>(item: &'a Value, field: &str) -> &'a Value {
    if field.starts_with('/') {
        item.pointer(field).unwrap_or(&Value::Null)
    } else {
        &item[field]
    }
}

fn cell(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        Value::Array(a) if a.is_empty() => "-".into(),
        Value::Array(a) => a.iter().map(cell).collect::<Vec<_>>().join(","),
        Value::Object(o) if o.len() == 1 => {
            let (k, v) = o
                .iter()
                .next()
                .map(|(k, v)| (k.clone(), cell(v)))
                .unwrap_or_default();
            format!("{k}:{v}")
        }
        other => other.to_string(),
    }
}

fn table(headers: Vec<&str>, rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: Vec<&str>| {
        let text: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        out.push_str(text.join("  ").trim_end());
        out.push('\n');
    };
    line(headers.clone());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align() {
        let t = table(
            vec!["NAME", "KIND"],
            &[
                vec!["Acme GmbH".into(), "customer".into()],
                vec!["P".into(), "provider".into()],
            ],
        );
        assert_eq!(
            t,
            "NAME       KIND\nAcme GmbH  customer\nP          provider\n"
        );
        assert_eq!(cell(&serde_json::json!({"only": ["a", "b"]})), "only:a,b");
        assert_eq!(cell(&Value::Null), "-");
        assert_eq!(cell(&serde_json::json!([])), "-");
        let host = serde_json::json!({"name": "web1", "attributes": {"ring": "pilot"}});
        assert_eq!(cell(field_of(&host, "/attributes/ring")), "pilot");
        assert_eq!(cell(field_of(&host, "/attributes/tags")), "-");
        assert_eq!(cell(field_of(&host, "name")), "web1");
    }
}
