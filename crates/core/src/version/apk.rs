//! Alpine apk versions, `digit{.digit}...{letter}{_suffix{#}}...{~hash}{-r#}`,
//! as apk-tools 3 validates and orders them (src/version.c). The same rules
//! serve Alpaquita, Wolfi and Chainguard, whose package managers are apk.
//!
//! apk splits a version into typed tokens and walks both strings in step;
//! pre-release suffixes (`_alpha`, `_beta`, `_pre`, `_rc`) sort before the
//! bare version and post-release ones (`_cvs`, `_svn`, `_git`, `_hg`, `_p`)
//! after it. `apk version -t` orders even strings that `apk_version_validate`
//! refuses (their first bad token ends the walk); [`compare_any`] does the
//! same, while [`parse`], and so [`super::compare`], refuse them, because no
//! apk package can carry such a version.
//!
//! One deliberate difference: apk reads digit runs into a `uint64_t` that wraps
//! past 20 digits; Rivet compares them exactly.

use std::cmp::Ordering;

/// Token kinds in apk's order, which is also the order they may follow each
/// other in, and which decides comparisons where one version runs out first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    InitialDigit,
    Digit,
    Letter,
    Suffix,
    SuffixNo,
    CommitHash,
    RevisionNo,
    End,
    Invalid,
}

/// Suffix ranks; `NONE` is the bare version between pre- and post-releases.
const SUFFIXES: [&[u8]; 11] = [
    b"", b"alpha", b"beta", b"pre", b"rc", b"", b"cvs", b"svn", b"git", b"hg", b"p",
];
const SUFFIX_NONE: u8 = 5;

/// What made a token invalid, for the error message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Why {
    Unexpected,
    UnknownSuffix,
    NoHash,
    NoRevisionNumber,
    NoDigits,
}

#[derive(Debug, Clone, Copy)]
struct Token<'a> {
    kind: Kind,
    value: &'a [u8],
    suffix: u8,
    why: Why,
}

/// apk's tokenizer, one token at a time.
struct Tokens<'a> {
    text: &'a [u8],
    pos: usize,
    token: Token<'a>,
}

impl<'a> Tokens<'a> {
    /// `token_first`: a version starts with digits.
    fn new(text: &'a [u8]) -> Self {
        let mut t = Tokens {
            text,
            pos: 0,
            token: Token {
                kind: Kind::InitialDigit,
                value: &[],
                suffix: 0,
                why: Why::Unexpected,
            },
        };
        t.digits(Kind::InitialDigit);
        t
    }

    fn peek(&self) -> Option<u8> {
        self.text.get(self.pos).copied()
    }

    /// The longest run at the cursor whose bytes satisfy `keep`.
    fn span(&mut self, keep: impl Fn(u8) -> bool) -> &'a [u8] {
        let start = self.pos;
        while self.peek().is_some_and(&keep) {
            self.pos += 1;
        }
        &self.text[start..self.pos]
    }

    fn digits(&mut self, kind: Kind) {
        let value = self.span(|c| c.is_ascii_digit());
        self.token.value = value;
        self.token.kind = kind;
        if value.is_empty() {
            self.invalid(Why::NoDigits);
        }
    }

    fn invalid(&mut self, why: Why) {
        self.token.kind = Kind::Invalid;
        self.token.why = why;
    }

    /// `token_next`: the next token, typed by its first byte and checked
    /// against the kind of the one before.
    fn advance(&mut self) {
        let prev = self.token.kind;
        let Some(c) = self.peek() else {
            self.token.kind = Kind::End;
            return;
        };
        match c {
            b'a'..=b'z' if prev <= Kind::Digit => {
                self.token.value = &self.text[self.pos..self.pos + 1];
                self.token.kind = Kind::Letter;
                self.pos += 1;
            }
            b'.' | b'0'..=b'9' if prev <= Kind::Digit || (c != b'.' && prev == Kind::Suffix) => {
                if c == b'.' {
                    self.pos += 1;
                }
                let kind = if prev == Kind::Suffix {
                    Kind::SuffixNo
                } else {
                    Kind::Digit
                };
                self.digits(kind);
            }
            b'_' if prev <= Kind::SuffixNo => {
                self.pos += 1;
                let name = self.span(|c| c.is_ascii_lowercase());
                self.token.value = name;
                match suffix_rank(name) {
                    Some(rank) => {
                        self.token.kind = Kind::Suffix;
                        self.token.suffix = rank;
                    }
                    None => self.invalid(Why::UnknownSuffix),
                }
            }
            b'~' if prev < Kind::CommitHash => {
                self.pos += 1;
                let hash = self.span(|c| c.is_ascii_hexdigit());
                self.token.value = hash;
                self.token.kind = Kind::CommitHash;
                if hash.is_empty() {
                    self.invalid(Why::NoHash);
                }
            }
            b'-' if prev < Kind::RevisionNo => {
                if self.text.get(self.pos + 1) != Some(&b'r') {
                    return self.invalid(Why::Unexpected);
                }
                self.pos += 2;
                self.digits(Kind::RevisionNo);
                if self.token.kind == Kind::Invalid {
                    self.token.why = Why::NoRevisionNumber;
                }
            }
            _ => self.invalid(Why::Unexpected),
        }
    }
}

/// apk's `suffix_value`: the rank of a known suffix name.
fn suffix_rank(name: &[u8]) -> Option<u8> {
    (1u8..)
        .zip(&SUFFIXES[1..])
        .find(|&(rank, known)| rank != SUFFIX_NONE && *known == name)
        .map(|(rank, _)| rank)
}

/// apk's `token_cmp` for two tokens of the same kind.
fn token_cmp(a: &Token<'_>, b: &Token<'_>) -> Ordering {
    match a.kind {
        // A leading zero makes apk compare digits as strings (as Gentoo does).
        Kind::Digit if a.value.first() == Some(&b'0') || b.value.first() == Some(&b'0') => {
            a.value.cmp(b.value)
        }
        Kind::InitialDigit | Kind::Digit | Kind::SuffixNo | Kind::RevisionNo => {
            super::cmp_digits(a.value, b.value)
        }
        Kind::Letter => a.value.cmp(b.value),
        Kind::Suffix => a.suffix.cmp(&b.suffix),
        _ => a.value.cmp(b.value),
    }
}

/// apk's `apk_version_compare_fuzzy`: with `fuzzy`, `b` running out first
/// counts as equal (the `~` operator: `3.6.9 ~ 3.6`).
fn compare_tokens(a: &str, b: &str, fuzzy: bool) -> Ordering {
    let mut ta = Tokens::new(a.as_bytes());
    let mut tb = Tokens::new(b.as_bytes());
    while ta.token.kind == tb.token.kind && ta.token.kind < Kind::End {
        match token_cmp(&ta.token, &tb.token) {
            Ordering::Equal => {}
            unequal => return unequal,
        }
        ta.advance();
        tb.advance();
    }
    let (a, b) = (ta.token, tb.token);
    if a.kind == b.kind || (b.kind == Kind::End && fuzzy) {
        return Ordering::Equal;
    }
    // The longer version is newer unless what it goes on with is a pre-release.
    if a.kind == Kind::Suffix && a.suffix < SUFFIX_NONE {
        return Ordering::Less;
    }
    if b.kind == Kind::Suffix && b.suffix < SUFFIX_NONE {
        return Ordering::Greater;
    }
    b.kind.cmp(&a.kind)
}

/// Order any two strings as `apk version -t` does, valid or not.
pub fn compare_any(a: &str, b: &str) -> Ordering {
    compare_tokens(a, b, false)
}

/// apk's fuzzy comparison: [`compare_any`], except that `a` equals `b` when
/// `b`'s tokens are a prefix of `a`'s (`3.6.9 ~ 3.6`).
pub fn compare_fuzzy(a: &str, b: &str) -> Ordering {
    compare_tokens(a, b, true)
}

/// A valid apk version.
#[derive(Debug, Clone, Copy)]
pub struct Version<'a>(&'a str);

impl<'a> Version<'a> {
    /// The version as written.
    pub fn as_str(&self) -> &'a str {
        self.0
    }
}

/// Why a string is not an apk version (`apk_version_validate` fails).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Invalid {
    /// Nothing at all.
    #[error("version is empty")]
    Empty,
    /// apk versions start with a digit.
    #[error("does not start with a digit")]
    NoLeadingDigit,
    /// A character that cannot follow what comes before it.
    #[error(
        "{0:?} at byte {1} cannot come there (digit{{.digit}}...{{letter}}{{_suffix{{#}}}}...{{~hash}}{{-r#}})"
    )]
    Unexpected(char, usize),
    /// `_foo`: not one of alpha, beta, pre, rc, cvs, svn, git, hg, p.
    #[error("unknown suffix \"_{0}\"")]
    UnknownSuffix(String),
    /// `.` or `_suffix.` not followed by digits.
    #[error("expected digits at byte {0}")]
    NoDigits(usize),
    /// `~` not followed by hex digits.
    #[error("'~' must be followed by a hex commit hash")]
    NoHash,
    /// `-r` not followed by digits.
    #[error("\"-r\" must be followed by a revision number")]
    NoRevisionNumber,
}

/// Validate `s` as `apk_version_validate` does.
pub fn parse(s: &str) -> Result<Version<'_>, Invalid> {
    let mut tokens = Tokens::new(s.as_bytes());
    if tokens.token.kind == Kind::Invalid {
        return Err(if s.is_empty() {
            Invalid::Empty
        } else {
            Invalid::NoLeadingDigit
        });
    }
    while tokens.token.kind < Kind::End {
        tokens.advance();
    }
    if tokens.token.kind == Kind::End {
        return Ok(Version(s));
    }
    let at = tokens.pos;
    Err(match tokens.token.why {
        Why::UnknownSuffix => {
            Invalid::UnknownSuffix(String::from_utf8_lossy(tokens.token.value).into_owned())
        }
        Why::NoHash => Invalid::NoHash,
        Why::NoRevisionNumber => Invalid::NoRevisionNumber,
        Why::NoDigits => Invalid::NoDigits(at),
        Why::Unexpected => {
            let c = s[at..].chars().next().unwrap_or('\0');
            Invalid::Unexpected(c, at)
        }
    })
}

impl Ord for Version<'_> {
    fn cmp(&self, other: &Self) -> Ordering {
        compare_any(self.0, other.0)
    }
}

impl PartialOrd for Version<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Version<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Version<'_> {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suffixes_around_the_release() {
        assert_eq!(compare_any("1.2_rc1", "1.2"), Ordering::Less);
        assert_eq!(compare_any("1.2_p1", "1.2"), Ordering::Greater);
        assert_eq!(compare_any("1.2_alpha", "1.2_beta"), Ordering::Less);
        assert_eq!(compare_any("1.2-r1", "1.2"), Ordering::Greater);
        assert_eq!(compare_any("1.2a", "1.2"), Ordering::Greater);
    }

    #[test]
    fn validity() {
        assert!(parse("0.1_pre2~1234abcd-r3").is_ok());
        assert_eq!(parse("").unwrap_err(), Invalid::Empty);
        assert_eq!(parse("a").unwrap_err(), Invalid::NoLeadingDigit);
        assert_eq!(parse("0.1a1").unwrap_err(), Invalid::Unexpected('1', 4));
        assert_eq!(
            parse("0.1_foo").unwrap_err(),
            Invalid::UnknownSuffix("foo".into())
        );
        assert_eq!(parse("0.1-r").unwrap_err(), Invalid::NoRevisionNumber);
        assert_eq!(parse("0.1_pre~").unwrap_err(), Invalid::NoHash);
        assert_eq!(parse("0..1").unwrap_err(), Invalid::NoDigits(2));
    }

    #[test]
    fn fuzzy_prefix() {
        assert_eq!(compare_fuzzy("3.6.9", "3.6"), Ordering::Equal);
        assert_ne!(compare_fuzzy("3.8.0", "3.8.1"), Ordering::Equal);
    }
}
