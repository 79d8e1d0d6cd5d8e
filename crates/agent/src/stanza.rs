//! Blank-line separated records with their line numbers: dpkg's status file
//! (deb822) and apk's installed database share this outer shape.

/// A record: its first line's number (from 1) and its lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stanza<'a> {
    /// The number of its first line in the file, counted from 1.
    pub line: usize,
    /// Its lines, without line endings.
    pub lines: Vec<&'a str>,
}

/// Splits `text` into stanzas; blank (or whitespace-only) lines separate them.
pub fn stanzas(text: &str) -> Vec<Stanza<'_>> {
    let mut out = Vec::new();
    let mut current: Option<Stanza<'_>> = None;
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            out.extend(current.take());
        } else {
            current
                .get_or_insert_with(|| Stanza {
                    line: index + 1,
                    lines: Vec::new(),
                })
                .lines
                .push(line);
        }
    }
    out.extend(current);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_on_blank_lines_and_counts_lines() {
        let parts = stanzas("a\nb\n\n \n\nc\n");
        assert_eq!(parts.len(), 2);
        assert_eq!(
            parts[0],
            Stanza {
                line: 1,
                lines: vec!["a", "b"]
            }
        );
        assert_eq!(
            parts[1],
            Stanza {
                line: 6,
                lines: vec!["c"]
            }
        );
        assert!(stanzas("").is_empty());
    }
}
