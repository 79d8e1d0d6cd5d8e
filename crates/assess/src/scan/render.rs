//! A scan's [`Report`] as a table for people, JSON for scripts, or SARIF
//! 2.1.0 for code-scanning dashboards (one rule per advisory, one result per
//! finding).

use std::collections::BTreeMap;
use std::fmt;
use std::io::{self, Write};
use std::str::FromStr;

use serde_json::{Value, json};

use super::{Finding, Report, ScanError};
use crate::severity::Level;

/// How a report is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    /// Aligned columns.
    Table,
    /// One JSON object.
    Json,
    /// SARIF 2.1.0.
    Sarif,
}

impl FromStr for OutputFormat {
    type Err = ScanError;
    fn from_str(s: &str) -> Result<Self, ScanError> {
        match s {
            "table" => Ok(OutputFormat::Table),
            "json" => Ok(OutputFormat::Json),
            "sarif" => Ok(OutputFormat::Sarif),
            other => Err(ScanError::UnknownFormat(format!(
                "{other} (output formats: table, json, sarif)"
            ))),
        }
    }
}

impl fmt::Display for OutputFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OutputFormat::Table => "table",
            OutputFormat::Json => "json",
            OutputFormat::Sarif => "sarif",
        })
    }
}

/// Writes a report in a format.
pub fn render(report: &Report, format: OutputFormat, out: &mut impl Write) -> io::Result<()> {
    match format {
        OutputFormat::Table => table(report, out),
        OutputFormat::Json => {
            serde_json::to_writer_pretty(&mut *out, &json_report(report))?;
            writeln!(out)
        }
        OutputFormat::Sarif => {
            serde_json::to_writer_pretty(&mut *out, &sarif(report))?;
            writeln!(out)
        }
    }
}

fn finding_json(f: &Finding) -> Value {
    let m = &f.matched;
    json!({
        "package": m.package,
        "installed_version": m.installed_version,
        "architecture": m.architecture,
        "source_package": m.source_package,
        "source_version": m.source_version,
        "advisory_id": m.advisory.id,
        "aliases": m.advisory.aliases,
        "title": m.advisory.title,
        "url": m.advisory.url,
        "ecosystem": m.ecosystem,
        "fixed_version": m.fixed_version,
        "severity": m.advisory.severity.level.name(),
        "score": m.advisory.severity.score,
        "kev": f.kev,
        "kernel": m.kernel,
    })
}

/// The JSON form: `findings` (each with `package`, `installed_version`,
/// `source_package`, `advisory_id`, `aliases`, `fixed_version`,
/// `severity`, `kev` …), VEX-cleared matches, problems and a summary.
pub fn json_report(report: &Report) -> Value {
    let a = &report.assessment;
    let mut by_level: BTreeMap<&str, usize> = BTreeMap::new();
    for f in &report.findings {
        *by_level
            .entry(f.matched.advisory.severity.level.name())
            .or_default() += 1;
    }
    json!({
        "inventory": report.inventory,
        "ecosystem": a.ecosystem.as_ref().map(|e| e.osv()),
        "unknown_ecosystem": a.unknown_ecosystem.as_ref().map(|e| e.reason.clone()),
        "summary": {
            "packages": a.packages,
            "unmatched_packages": a.unmatched_packages,
            "advisories": report.advisories,
            "findings": report.findings.len(),
            "kev": report.findings.iter().filter(|f| f.kev).count(),
            "by_severity": by_level,
            "kev_catalogue": report.kev_version,
        },
        "findings": report.findings.iter().map(finding_json).collect::<Vec<_>>(),
        "not_affected": a.not_affected.iter().map(|m| json!({
            "package": m.package,
            "installed_version": m.installed_version,
            "advisory_id": m.advisory.id,
            "verdict": m.verdict,
        })).collect::<Vec<_>>(),
        "problems": a.problems,
        "rejected": report.rejected,
        "skipped_components": report.skipped,
    })
}

fn sarif_level(level: Level) -> &'static str {
    match level {
        Level::Critical | Level::High => "error",
        Level::Medium => "warning",
        _ => "note",
    }
}

/// The SARIF 2.1.0 form.
pub fn sarif(report: &Report) -> Value {
    let mut rules: Vec<Value> = Vec::new();
    let mut rule_index: BTreeMap<&str, usize> = BTreeMap::new();
    let mut results = Vec::new();
    for f in &report.findings {
        let m = &f.matched;
        let a = &m.advisory;
        let index = *rule_index.entry(&a.id).or_insert_with(|| {
            let mut properties = json!({
                "tags": ["security", "vulnerability"],
                "aliases": a.aliases,
            });
            if let Some(score) = a.severity.score {
                properties["security-severity"] = json!(format!("{score:.1}"));
            }
            let title = a.title.clone().unwrap_or_else(|| a.id.clone());
            let mut rule = json!({
                "id": a.id,
                "name": a.id,
                "shortDescription": {"text": title},
                "fullDescription": {"text": title},
                "defaultConfiguration": {"level": sarif_level(a.severity.level)},
                "properties": properties,
            });
            if let Some(url) = &a.url {
                rule["helpUri"] = json!(url);
            }
            rules.push(rule);
            rules.len() - 1
        });
        let fix = match &m.fixed_version {
            Some(v) => format!("fixed in {v}"),
            None => "no fix is known yet".to_owned(),
        };
        results.push(json!({
            "ruleId": a.id,
            "ruleIndex": index,
            "level": sarif_level(a.severity.level),
            "message": {"text": format!(
                "{} {} ({}) is affected by {}: {fix}",
                m.package, m.installed_version, m.ecosystem, a.id
            )},
            "locations": [{
                "physicalLocation": {"artifactLocation": {"uri": report.inventory}},
                "logicalLocations": [{
                    "name": m.package,
                    "fullyQualifiedName": format!("{}@{}", m.package, m.installed_version),
                    "kind": "package",
                }],
            }],
            "partialFingerprints": {
                "rivet/finding/v1": format!("{}|{}|{}|{}", a.id, m.package, m.installed_version, m.architecture),
            },
            "properties": {
                "installed_version": m.installed_version,
                "source_package": m.source_package,
                "fixed_version": m.fixed_version,
                "severity": a.severity.level.name(),
                "kev": f.kev,
                "kernel": m.kernel,
            },
        }));
    }
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "rivet",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": rules,
            }},
            "results": results,
        }],
    })
}

fn table(report: &Report, out: &mut impl Write) -> io::Result<()> {
    let a = &report.assessment;
    match (&a.ecosystem, &a.unknown_ecosystem) {
        (Some(e), _) => writeln!(
            out,
            "{}: {} packages, ecosystem {e}",
            report.inventory, a.packages
        )?,
        (None, Some(why)) => writeln!(
            out,
            "{}: {} packages; no distribution matching: {why}",
            report.inventory, a.packages
        )?,
        (None, None) => writeln!(out, "{}: {} packages", report.inventory, a.packages)?,
    }
    let header = [
        "PACKAGE",
        "INSTALLED",
        "FIXED",
        "ADVISORY",
        "SEVERITY",
        "KEV",
    ];
    let rows: Vec<[String; 6]> = report
        .findings
        .iter()
        .map(|f| {
            let m = &f.matched;
            [
                m.package.to_string(),
                m.installed_version.to_string(),
                m.fixed_version.as_deref().unwrap_or("-").to_owned(),
                m.advisory.id.clone(),
                m.advisory.severity.level.name().to_owned(),
                if f.kev { "yes" } else { "" }.to_owned(),
            ]
        })
        .collect();
    if !rows.is_empty() {
        let mut widths = header.map(str::len);
        for row in &rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let line = |cells: &[&str]| {
            let mut s = String::new();
            for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
                if i + 1 == cells.len() {
                    s.push_str(cell);
                } else {
                    s.push_str(&format!("{cell:<w$}  "));
                }
            }
            s.trim_end().to_owned()
        };
        writeln!(out, "{}", line(&header))?;
        for row in &rows {
            let cells: Vec<&str> = row.iter().map(String::as_str).collect();
            writeln!(out, "{}", line(&cells))?;
        }
    }
    let kev = report.findings.iter().filter(|f| f.kev).count();
    writeln!(
        out,
        "{} findings ({} known exploited), {} cleared by VEX, {} advisories",
        report.findings.len(),
        kev,
        a.not_affected.len(),
        report.advisories
    )?;
    for p in &a.problems {
        writeln!(out, "problem: {} {}: {}", p.package, p.version, p.message)?;
    }
    for r in &report.rejected {
        writeln!(out, "rejected {}: {}", r.file, r.reason)?;
    }
    Ok(())
}
