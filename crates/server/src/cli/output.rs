//! How the CLI prints: aligned tables for people, JSON for scripts.

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
pub fn list(output: Output, items: &[Value], columns: &[(&str, &str)]) {
    match output {
        Output::Json => crate::say!("{}", Value::Array(items.to_vec())),
        Output::Table => {
            let rows: Vec<Vec<String>> = items
                .iter()
                .map(|item| {
                    columns
                        .iter()
                        .map(|(_, field)| cell(&item[*field]))
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
                let width = map.keys().map(String::len).max().unwrap_or(0);
                for (k, v) in map {
                    crate::say!("{k:<width$}  {}", cell(v));
                }
            } else {
                crate::say!("{}", cell(item));
            }
        }
    }
}

fn cell(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
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
    }
}
