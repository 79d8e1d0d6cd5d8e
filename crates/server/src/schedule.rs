//! Which maintenance windows and change freezes apply to a host (RLO-1):
//! the rule the API, the calendar and the rollout driver share.
//!
//! A host's windows are the window its `maintenance_window` attribute names
//! and the windows of its groups; a host with neither gets its tenant's
//! default windows (those for no group). A host without any window gets no
//! job outside an emergency: the rollout reports it unscheduled.

use rivet_change::window::{Freeze, FreezeSpec, Window};
use rivet_core::Timestamp;
use rivet_core::access::Visibility;
use rivet_core::id::TenantId;
use rivet_store::{Host, Store, StoreError, StoredFreeze, StoredWindow};

/// A stored window as the engine's window; `None` (and a warning) for one
/// that no longer validates, e.g. a time zone a newer database dropped.
pub fn window_of(stored: &StoredWindow) -> Option<Window> {
    match serde_json::from_value::<Window>(stored.body.clone()) {
        Ok(w) => Some(w),
        Err(e) => {
            tracing::warn!(window = %stored.id, error = %e, "a stored window does not validate; ignored");
            None
        }
    }
}

/// A stored freeze as the engine's freeze.
pub fn freeze_of(stored: &StoredFreeze) -> Option<Freeze> {
    Freeze::new(FreezeSpec {
        start: stored.starts_at,
        end: stored.ends_at,
        reason: stored.reason.clone(),
    })
    .ok()
}

/// The windows of a tenant's hosts, read once for many hosts.
#[derive(Debug, Clone, Default)]
pub struct TenantWindows {
    windows: Vec<StoredWindow>,
}

impl TenantWindows {
    /// Reads a tenant's windows.
    pub async fn read(store: &Store, tenant: TenantId) -> Result<TenantWindows, StoreError> {
        Ok(TenantWindows {
            windows: store.list_windows(&Visibility::All, Some(tenant)).await?,
        })
    }

    /// The windows that apply to `host` (see the module's rule).
    pub fn of_host(&self, host: &Host) -> Vec<Window> {
        let a = &host.attributes;
        let own: Vec<&StoredWindow> = self
            .windows
            .iter()
            .filter(|w| match &w.group {
                Some(group) => a.groups.contains(group),
                None => a.maintenance_window.as_deref() == Some(w.name.as_str()),
            })
            .collect();
        let chosen: Vec<&StoredWindow> = if own.is_empty() && a.maintenance_window.is_none() {
            self.windows.iter().filter(|w| w.group.is_none()).collect()
        } else {
            own
        };
        chosen.into_iter().filter_map(window_of).collect()
    }
}

/// The freezes that may cancel a window occurrence open at or after
/// `after` (its own and those for every tenant): those that had not ended
/// a longest occurrence before it.
pub async fn freezes_for(
    store: &Store,
    tenant: TenantId,
    after: Timestamp,
) -> Result<Vec<Freeze>, StoreError> {
    Ok(store
        .list_freezes(
            &Visibility::All,
            Some(tenant),
            after - rivet_change::window::MAX_DURATION,
        )
        .await?
        .iter()
        .filter_map(freeze_of)
        .collect())
}
