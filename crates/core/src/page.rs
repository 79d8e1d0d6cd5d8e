//! Pagination for every listing: keyset pagination with an opaque cursor,
//! so that a page costs the same at the millionth row as at the first.

use serde::{Deserialize, Serialize};

/// The page size when the caller names none.
pub const DEFAULT_LIMIT: u32 = 100;
/// The largest page a caller may ask for.
pub const MAX_LIMIT: u32 = 1000;

/// Which page to fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    /// How many items at most.
    pub limit: u32,
    /// The cursor of the previous page's last item.
    pub after: Option<String>,
}

/// A page size out of range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("limit must be between 1 and {MAX_LIMIT}, not {0}")]
pub struct BadLimit(pub u64);

impl PageRequest {
    /// A validated request.
    pub fn new(limit: Option<u64>, after: Option<String>) -> Result<Self, BadLimit> {
        let limit = match limit {
            None => DEFAULT_LIMIT,
            Some(n) if (1..=u64::from(MAX_LIMIT)).contains(&n) => n as u32,
            Some(n) => return Err(BadLimit(n)),
        };
        Ok(Self {
            limit,
            after: after.filter(|a| !a.is_empty()),
        })
    }

    /// The first page with the default size.
    pub fn first() -> Self {
        Self {
            limit: DEFAULT_LIMIT,
            after: None,
        }
    }

    /// How many rows to fetch: one more than the limit, to learn whether a
    /// further page exists without counting.
    pub fn fetch(&self) -> i64 {
        i64::from(self.limit) + 1
    }
}

/// One page of a listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Page<T> {
    /// The items, in the listing's order.
    pub items: Vec<T>,
    /// Pass as `after` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// Builds a page from up to `limit + 1` fetched rows.
    pub fn from_rows(
        mut rows: Vec<T>,
        request: &PageRequest,
        cursor: impl Fn(&T) -> String,
    ) -> Self {
        let more = rows.len() > request.limit as usize;
        rows.truncate(request.limit as usize);
        let next_cursor = if more { rows.last().map(cursor) } else { None };
        Page {
            items: rows,
            next_cursor,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_checked() {
        assert_eq!(PageRequest::new(None, None).unwrap().limit, DEFAULT_LIMIT);
        assert_eq!(PageRequest::new(Some(1000), None).unwrap().limit, 1000);
        assert_eq!(PageRequest::new(Some(0), None), Err(BadLimit(0)));
        assert_eq!(PageRequest::new(Some(1001), None), Err(BadLimit(1001)));
        assert_eq!(
            PageRequest::new(None, Some(String::new())).unwrap().after,
            None
        );
    }

    #[test]
    fn a_page_knows_whether_more_follow() {
        let req = PageRequest::new(Some(2), None).unwrap();
        let page = Page::from_rows(vec![1, 2, 3], &req, |n| n.to_string());
        assert_eq!(page.items, vec![1, 2]);
        assert_eq!(page.next_cursor.as_deref(), Some("2"));
        let last = Page::from_rows(vec![1, 2], &req, |n| n.to_string());
        assert_eq!(last.next_cursor, None);
    }
}
