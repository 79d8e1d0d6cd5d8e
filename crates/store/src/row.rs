//! Conversions between database columns and domain values, and the SQL
//! fragments shared by listings.

use std::str::FromStr;

use rivet_core::Timestamp;
use rivet_core::access::Visibility;

use crate::StoreError;

/// A timestamp as stored: microseconds since the Unix epoch.
pub(crate) fn micros(at: Timestamp) -> i64 {
    at.as_microsecond()
}

/// A stored timestamp back as a [`Timestamp`].
pub(crate) fn timestamp(
    table: &'static str,
    id: &str,
    micros: i64,
) -> Result<Timestamp, StoreError> {
    Timestamp::from_microsecond(micros).map_err(|e| corrupt(table, id, e.to_string()))
}

/// An optional stored timestamp.
pub(crate) fn opt_timestamp(
    table: &'static str,
    id: &str,
    micros: Option<i64>,
) -> Result<Option<Timestamp>, StoreError> {
    micros.map(|m| timestamp(table, id, m)).transpose()
}

/// Parses a stored value of a domain type.
pub(crate) fn parse<T>(table: &'static str, id: &str, value: &str) -> Result<T, StoreError>
where
    T: FromStr,
    T::Err: std::fmt::Display,
{
    value
        .parse()
        .map_err(|e: T::Err| corrupt(table, id, e.to_string()))
}

pub(crate) fn corrupt(table: &'static str, id: &str, reason: String) -> StoreError {
    StoreError::Corrupt {
        table,
        id: id.to_owned(),
        reason,
    }
}

/// A listing's `WHERE` condition for what a principal may see: `TRUE` for
/// everything, or `column IN ($n, …)` with the tenant ids to bind, numbered
/// from `first_param`. An empty set matches nothing.
pub(crate) fn visible(vis: &Visibility, column: &str, first_param: usize) -> (String, Vec<String>) {
    match vis {
        Visibility::All => ("1 = 1".to_owned(), Vec::new()),
        Visibility::Tenants(set) if set.is_empty() => ("1 = 0".to_owned(), Vec::new()),
        Visibility::Tenants(set) => {
            let params: Vec<String> = (0..set.len())
                .map(|i| format!("${}", first_param + i))
                .collect();
            (
                format!("{column} IN ({})", params.join(", ")),
                set.iter().map(ToString::to_string).collect(),
            )
        }
    }
}

/// `($1, $2, …), (…)` for `rows` rows of `columns` parameters, for
/// multi-row statements.
pub(crate) fn values(rows: usize, columns: usize) -> String {
    (0..rows)
        .map(|r| format!("({})", params_from(r * columns + 1, columns)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `$first, $first+1, …` for `n` parameters.
pub(crate) fn params_from(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Serialises a record for the audit log's before/after summary.
/// Rows (or a list) as the JSON text the bulk statements take as one
/// parameter (`json_each` on SQLite, `jsonb_array_elements` on PostgreSQL).
pub(crate) fn json_rows<T: serde::Serialize + ?Sized>(rows: &T) -> Result<String, StoreError> {
    serde_json::to_string(rows).map_err(|e| StoreError::Refused(format!("rows as JSON: {e}")))
}

/// A value bound to a listing's condition.
#[derive(Debug)]
pub(crate) enum Bind {
    Text(String),
    Int(i64),
}

pub(crate) fn summary<T: serde::Serialize>(value: &T) -> Option<String> {
    serde_json::to_string(value).ok()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use rivet_core::id::TenantId;

    use super::*;

    #[test]
    fn visibility_becomes_sql() {
        assert_eq!(visible(&Visibility::All, "t", 3).0, "1 = 1");
        assert_eq!(
            visible(&Visibility::Tenants(BTreeSet::new()), "t", 3).0,
            "1 = 0"
        );
        let at = Timestamp::from_second(1).unwrap();
        let set = BTreeSet::from([TenantId::new(at, [1; 10]), TenantId::new(at, [2; 10])]);
        let (sql, binds) = visible(&Visibility::Tenants(set), "tenant_id", 3);
        assert_eq!(sql, "tenant_id IN ($3, $4)");
        assert_eq!(binds.len(), 2);
    }
}
