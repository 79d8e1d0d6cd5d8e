//! Maven versions, ordered as Maven's `ComparableVersion` (maven-artifact
//! 3.8, with 3.9's MNG-6964 fix): items split at `.`, `-` and digit/letter
//! transitions, a `-` or a transition opening a nested list, trailing "null"
//! items (`0`, `ga`, `final`, empty) dropped, well-known qualifiers ranked `alpha < beta <
//! milestone < rc < snapshot < release < sp` and unknown ones after them in
//! lexical order, case-insensitively.
//!
//! Maven accepts any string as a version; Rivet refuses only the empty one.
//! Numbers of any length compare exactly, as Maven's `BigIntegerItem` does;
//! only ASCII digits count as digits (Java's `Character.isDigit` also takes
//! other scripts' digits, which no artifact uses).

use std::cmp::Ordering;

/// One item of a parsed version.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Item {
    /// Digits without leading zeros (empty is zero).
    Number(String),
    /// A qualifier, after aliases.
    Text(Qualifier),
    /// A sub-list, opened by `-` or a digit/letter transition.
    List(Vec<Item>),
}

/// A qualifier's rank: a known one by index, an unknown one by its text.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Qualifier {
    Known(u8),
    Unknown(String),
}

const QUALIFIERS: [&str; 7] = ["alpha", "beta", "milestone", "rc", "snapshot", "", "sp"];
/// The index of the release (empty) qualifier.
const RELEASE: u8 = 5;

impl Qualifier {
    fn new(text: &str, followed_by_digit: bool) -> Self {
        let text = match text {
            "a" if followed_by_digit => "alpha",
            "b" if followed_by_digit => "beta",
            "m" if followed_by_digit => "milestone",
            "ga" | "final" | "release" => "",
            "cr" => "rc",
            other => other,
        };
        match QUALIFIERS.iter().position(|q| *q == text) {
            Some(i) => Qualifier::Known(i as u8),
            None => Qualifier::Unknown(text.to_owned()),
        }
    }

    /// Maven's `comparableQualifier(q).compareTo("5")`, the release index.
    fn cmp_release(&self) -> Ordering {
        match self {
            Qualifier::Known(i) => i.cmp(&RELEASE),
            // Unknown qualifiers compare as "7-…", after every known index.
            Qualifier::Unknown(_) => Ordering::Greater,
        }
    }
}

impl Item {
    fn is_null(&self) -> bool {
        match self {
            Item::Number(n) => n.is_empty(),
            Item::Text(q) => *q == Qualifier::Known(RELEASE),
            Item::List(items) => items.is_empty(),
        }
    }

    /// Compare with a missing item (the other list ran out).
    fn cmp_none(&self) -> Ordering {
        match self {
            Item::Number(n) => (!n.is_empty()).cmp(&false),
            Item::Text(q) => q.cmp_release(),
            // The whole list, not only its first item (MNG-6964, Maven 3.9):
            // looking at the first alone made `v0.0.3` equal `v` and the
            // order intransitive.
            Item::List(items) => items
                .iter()
                .map(Item::cmp_none)
                .find(|o| o.is_ne())
                .unwrap_or(Ordering::Equal),
        }
    }

    fn cmp_item(&self, other: &Item) -> Ordering {
        use Item::*;
        match (self, other) {
            (Number(a), Number(b)) => super::cmp_digits(a.as_bytes(), b.as_bytes()),
            (Number(_), _) => Ordering::Greater,
            (Text(_), Number(_) | List(_)) => Ordering::Less,
            (Text(a), Text(b)) => a.cmp(b),
            (List(_), Number(_)) => Ordering::Less,
            (List(_), Text(_)) => Ordering::Greater,
            (List(a), List(b)) => cmp_lists(a, b),
        }
    }
}

fn cmp_lists(a: &[Item], b: &[Item]) -> Ordering {
    for i in 0..a.len().max(b.len()) {
        let order = match (a.get(i), b.get(i)) {
            (Some(x), Some(y)) => x.cmp_item(y),
            (Some(x), None) => x.cmp_none(),
            (None, Some(y)) => y.cmp_none().reverse(),
            (None, None) => Ordering::Equal,
        };
        if order != Ordering::Equal {
            return order;
        }
    }
    Ordering::Equal
}

/// Maven's `ListItem.normalize`: drop null items from the end, looking past
/// non-null sub-lists but stopping at the first other non-null item.
fn normalize(items: &mut Vec<Item>) {
    let mut i = items.len();
    while i > 0 {
        i -= 1;
        if items[i].is_null() {
            items.remove(i);
        } else if !matches!(items[i], Item::List(_)) {
            break;
        }
    }
}

/// A parsed Maven version.
#[derive(Debug, Clone)]
pub struct Version {
    items: Vec<Item>,
}

/// Why a string is not a Maven version.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Invalid {
    /// Maven would take it as `0`, but no artifact has an empty version.
    #[error("version is empty")]
    Empty,
}

fn item(digits: bool, text: &str) -> Item {
    if digits {
        Item::Number(String::from_utf8_lossy(super::trim_zeros(text.as_bytes())).into_owned())
    } else {
        Item::Text(Qualifier::new(text, false))
    }
}

/// Parse a Maven version as `ComparableVersion.parseVersion` does.
pub fn parse(s: &str) -> Result<Version, Invalid> {
    if s.is_empty() {
        return Err(Invalid::Empty);
    }
    let text = s.to_lowercase();
    // The open lists, outermost first; each is the last item of its parent.
    let mut stack: Vec<Vec<Item>> = vec![Vec::new()];
    let mut digits = false;
    let mut start = 0;
    for (i, c) in text.char_indices() {
        let list = stack.last_mut().expect("the outer list is never popped");
        match c {
            '.' | '-' => {
                list.push(if i == start {
                    Item::Number(String::new())
                } else {
                    item(digits, &text[start..i])
                });
                start = i + 1;
                if c == '-' {
                    stack.push(Vec::new());
                }
            }
            c if c.is_ascii_digit() => {
                if !digits && i > start {
                    list.push(Item::Text(Qualifier::new(&text[start..i], true)));
                    start = i;
                    stack.push(Vec::new());
                }
                digits = true;
            }
            _ => {
                if digits && i > start {
                    list.push(item(true, &text[start..i]));
                    start = i;
                    stack.push(Vec::new());
                }
                digits = false;
            }
        }
    }
    if text.len() > start {
        let list = stack.last_mut().expect("the outer list is never popped");
        list.push(item(digits, &text[start..]));
    }
    let mut items = stack.pop().expect("the outer list is never popped");
    normalize(&mut items);
    while let Some(mut parent) = stack.pop() {
        parent.push(Item::List(items));
        normalize(&mut parent);
        items = parent;
    }
    Ok(Version { items })
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        cmp_lists(&self.items, &other.items)
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Version {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Version {}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmp(a: &str, b: &str) -> Ordering {
        parse(a).unwrap().cmp(&parse(b).unwrap())
    }

    #[test]
    fn qualifiers() {
        assert_eq!(cmp("1.0-alpha-1", "1.0-beta-1"), Ordering::Less);
        assert_eq!(cmp("1.0-SNAPSHOT", "1.0"), Ordering::Less);
        assert_eq!(cmp("1.0-sp", "1.0"), Ordering::Greater);
        assert_eq!(cmp("1.0-foo", "1.0-sp"), Ordering::Greater);
        assert_eq!(cmp("1ga", "1"), Ordering::Equal);
        assert_eq!(cmp("1a1", "1-alpha-1"), Ordering::Equal);
    }

    #[test]
    fn trailing_nulls() {
        assert_eq!(cmp("1", "1.0.0"), Ordering::Equal);
        assert_eq!(cmp("1.0-0", "1"), Ordering::Equal);
        assert_eq!(cmp("1.1", "1-1"), Ordering::Greater);
    }
}
