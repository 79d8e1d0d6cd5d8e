//! FIRST EPSS scores: a `#model_version:…,score_date:…` line, a
//! `cve,epss,percentile` header, then one row per CVE. Read as a stream, since
//! the full daily file has about 300,000 rows; a bad row is reported with its
//! line and the rest go on.

use std::io::{BufRead, BufReader, Read};

use rivet_core::Timestamp;

use crate::error::ParseError;

/// One CVE's score.
#[derive(Debug, Clone, PartialEq)]
pub struct Score {
    /// The CVE id, the key for enrichment.
    pub cve: String,
    /// Probability of exploitation activity in the next 30 days (0–1).
    pub epss: f64,
    /// The score's percentile among all scored CVEs (0–1).
    pub percentile: f64,
}

/// A reader over an EPSS scores file (already decompressed).
pub struct Scores<R: Read> {
    /// The model version from the first line (`v2026.06.15`).
    pub model_version: String,
    /// The score date from the first line.
    pub score_date: Timestamp,
    records: csv::StringRecordsIntoIter<BufReader<R>>,
}

/// Opens an EPSS file: reads the model line and the header, which must name
/// the `cve`, `epss` and `percentile` columns in that order.
pub fn read<R: Read>(reader: R) -> Result<Scores<R>, ParseError> {
    let mut reader = BufReader::new(reader);
    let mut first = String::new();
    // The model line is short; a reader that never ends a line is refused.
    (&mut reader)
        .take(4096)
        .read_line(&mut first)
        .map_err(|e| ParseError::Read(e.to_string()))?;
    let mut model_version = None;
    let mut score_date = None;
    for pair in first.trim().trim_start_matches('#').split(',') {
        match pair.split_once(':') {
            Some(("model_version", v)) => model_version = Some(v.to_owned()),
            Some(("score_date", v)) => score_date = Some(v.to_owned()),
            _ => {}
        }
    }
    let (Some(model_version), Some(score_date)) = (model_version, score_date) else {
        return Err(ParseError::Csv {
            line: 1,
            message: format!("expected `#model_version:…,score_date:…`, found {first:?}"),
        });
    };
    let score_date = crate::osv::timestamp("score_date", Some(&score_date))?
        .ok_or_else(|| ParseError::invalid("score_date", "is empty"))?;
    let mut csv = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(reader);
    let headers = csv.headers().map_err(|e| csv_error(&e, 2))?;
    if headers.iter().collect::<Vec<_>>() != ["cve", "epss", "percentile"] {
        return Err(ParseError::Csv {
            line: 2,
            message: format!("expected the header `cve,epss,percentile`, found {headers:?}"),
        });
    }
    Ok(Scores {
        model_version,
        score_date,
        records: csv.into_records(),
    })
}

impl<R: Read> Iterator for Scores<R> {
    type Item = Result<Score, ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        let record = self.records.next()?;
        Some(record.map_err(|e| csv_error(&e, 0)).and_then(|r| {
            // The model line is not counted by the csv reader.
            let line = r.position().map_or(0, |p| p.line() + 1);
            let number = |index: usize, field: &str| {
                let text = r.get(index).unwrap_or_default();
                text.parse::<f64>()
                    .ok()
                    .filter(|v| (0.0..=1.0).contains(v))
                    .ok_or_else(|| ParseError::Csv {
                        line,
                        message: format!("{field} {text:?} is not a number between 0 and 1"),
                    })
            };
            let cve = r.get(0).unwrap_or_default();
            if !cve.starts_with("CVE-") {
                return Err(ParseError::Csv {
                    line,
                    message: format!("{cve:?} is not a CVE id"),
                });
            }
            Ok(Score {
                cve: cve.to_owned(),
                epss: number(1, "epss")?,
                percentile: number(2, "percentile")?,
            })
        }))
    }
}

fn csv_error(e: &csv::Error, fallback_line: u64) -> ParseError {
    ParseError::Csv {
        line: e.position().map_or(fallback_line, |p| p.line() + 1),
        message: e.to_string(),
    }
}
