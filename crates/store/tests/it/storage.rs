//! The storage tests, written once for every backend.

use std::collections::BTreeSet;

use rivet_core::Timestamp;
use rivet_core::access::{CustomerScope, Permission, Role, Visibility};
use rivet_core::audit::Actor;
use rivet_core::id::{TenantId, TokenId, UserId};
use rivet_core::page::PageRequest;
use rivet_core::tenant::TenantKind;
use rivet_store::{
    AuditFilter, Backend, NewToken, NewUser, Store, StoreError, TokenOwner, UserPatch,
};

fn at(second: i64) -> Timestamp {
    Timestamp::from_second(1_800_000_000 + second).unwrap()
}

fn rnd() -> [u8; 10] {
    *uuid::Uuid::new_v4().as_bytes().first_chunk().unwrap()
}

fn new_user(tenant: TenantId, name: &str, role: Role) -> NewUser {
    NewUser {
        id: UserId::new(at(0), rnd()),
        tenant_id: tenant,
        username: name.into(),
        display_name: name.to_uppercase(),
        role,
        password_hash: "$argon2id$v=19$test".into(),
        customers: CustomerScope::All,
    }
}

async fn bootstrapped(store: &Store) -> TenantId {
    let provider = TenantId::new(at(0), rnd());
    assert!(
        store
            .bootstrap("Provider", new_user(provider, "admin", Role::Admin), at(0))
            .await
            .unwrap()
    );
    provider
}

async fn customer(store: &Store, name: &str) -> TenantId {
    let id = TenantId::new(at(1), rnd());
    store
        .create_tenant(id, name, None, &Actor::system(), at(1))
        .await
        .unwrap();
    id
}

async fn audit_count(store: &Store) -> i64 {
    store.audit_head().await.unwrap().0
}

pub async fn bootstrap_happens_once(store: Store) {
    assert!(store.provider_tenant().await.unwrap().is_none());
    let provider = bootstrapped(&store).await;
    let again = TenantId::new(at(5), rnd());
    assert!(
        !store
            .bootstrap("Other", new_user(again, "admin2", Role::Admin), at(5))
            .await
            .unwrap()
    );
    let p = store.provider_tenant().await.unwrap().unwrap();
    assert_eq!(p.id, provider);
    assert_eq!(p.kind, TenantKind::Provider);
    assert!(store.user_credentials("admin2").await.unwrap().is_none());
    let (admin, hash) = store.user_credentials("admin").await.unwrap().unwrap();
    assert_eq!(admin.role, Role::Admin);
    assert_eq!(hash, "$argon2id$v=19$test");
    // The tenant and the user, each with an entry.
    assert_eq!(audit_count(&store).await, 2);
    // The provider's name is taken like any other...
    let second = store
        .create_tenant(
            TenantId::new(at(6), rnd()),
            "Provider",
            None,
            &Actor::system(),
            at(6),
        )
        .await;
    assert!(matches!(second, Err(StoreError::Conflict(_))), "{second:?}");
    // ...and a second provider is refused by the database itself.
    let sql = "INSERT INTO tenants (id, name, kind, created_at, updated_at) \
               VALUES ('x', 'Second', 'provider', 0, 0)";
    assert!(store.execute_raw_for_tests(sql).await.is_err());
}

pub async fn tenants_are_created_renamed_and_deleted(store: Store) {
    let provider = bootstrapped(&store).await;
    let acme = customer(&store, "Acme").await;
    let dup = store
        .create_tenant(
            TenantId::new(at(2), rnd()),
            "Acme",
            None,
            &Actor::system(),
            at(2),
        )
        .await;
    match dup {
        Err(StoreError::Conflict(m)) => assert!(m.contains("Acme"), "{m}"),
        other => panic!("expected a conflict, got {other:?}"),
    }
    let renamed = store
        .rename_tenant(acme, "Acme GmbH", &Actor::system(), at(3))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(renamed.name, "Acme GmbH");
    assert_eq!(renamed.updated_at, at(3));
    assert_eq!(
        store.get_tenant(acme).await.unwrap().unwrap().name,
        "Acme GmbH"
    );
    let missing = TenantId::new(at(3), rnd());
    assert!(
        store
            .rename_tenant(missing, "x", &Actor::system(), at(3))
            .await
            .unwrap()
            .is_none()
    );

    // Not while it has users; never the provider.
    let user = store
        .create_user(
            &new_user(acme, "jane", Role::CustomerViewer),
            &Actor::system(),
            at(4),
        )
        .await
        .unwrap();
    let refused = store.delete_tenant(acme, &Actor::system(), at(5)).await;
    assert!(
        matches!(refused, Err(StoreError::Refused(_))),
        "{refused:?}"
    );
    assert!(matches!(
        store.delete_tenant(provider, &Actor::system(), at(5)).await,
        Err(StoreError::Refused(_))
    ));
    assert!(
        store
            .delete_user(user.id, &Actor::system(), at(6))
            .await
            .unwrap()
    );
    assert!(
        store
            .delete_tenant(acme, &Actor::system(), at(7))
            .await
            .unwrap()
    );
    assert!(store.get_tenant(acme).await.unwrap().is_none());
    assert!(
        !store
            .delete_tenant(acme, &Actor::system(), at(8))
            .await
            .unwrap()
    );
}

pub async fn listings_show_only_visible_tenants(store: Store) {
    let provider = bootstrapped(&store).await;
    let a = customer(&store, "A").await;
    let b = customer(&store, "B").await;
    store
        .create_user(
            &new_user(a, "a1", Role::CustomerViewer),
            &Actor::system(),
            at(2),
        )
        .await
        .unwrap();
    store
        .create_user(
            &new_user(b, "b1", Role::CustomerViewer),
            &Actor::system(),
            at(2),
        )
        .await
        .unwrap();

    let only_a = Visibility::Tenants(BTreeSet::from([a]));
    let tenants = store
        .list_tenants(&only_a, &PageRequest::first())
        .await
        .unwrap();
    assert_eq!(
        tenants.items.iter().map(|t| t.id).collect::<Vec<_>>(),
        vec![a]
    );
    let all = store
        .list_tenants(&Visibility::All, &PageRequest::first())
        .await
        .unwrap();
    assert_eq!(all.items.len(), 3);
    let none = store
        .list_tenants(&Visibility::Tenants(BTreeSet::new()), &PageRequest::first())
        .await
        .unwrap();
    assert!(none.items.is_empty());

    let users = store
        .list_users(&only_a, None, &PageRequest::first())
        .await
        .unwrap();
    assert_eq!(
        users
            .items
            .iter()
            .map(|u| u.username.as_str())
            .collect::<Vec<_>>(),
        vec!["a1"]
    );
    // Asking for another tenant's users through the filter finds nothing.
    let users = store
        .list_users(&only_a, Some(b), &PageRequest::first())
        .await
        .unwrap();
    assert!(users.items.is_empty());
    let users = store
        .list_users(&Visibility::All, Some(provider), &PageRequest::first())
        .await
        .unwrap();
    assert_eq!(users.items.len(), 1);

    let audit = store
        .list_audit(&only_a, &AuditFilter::default(), &PageRequest::first())
        .await
        .unwrap();
    assert!(!audit.items.is_empty());
    assert!(audit.items.iter().all(|e| e.tenant_id == Some(a)));
    let user_entries = store
        .list_audit(
            &Visibility::All,
            &AuditFilter {
                action_prefix: Some("user.".into()),
                target_id: None,
            },
            &PageRequest::first(),
        )
        .await
        .unwrap();
    assert_eq!(user_entries.items.len(), 3);
}

pub async fn pages_follow_their_cursor(store: Store) {
    bootstrapped(&store).await;
    for i in 0..7 {
        customer(&store, &format!("C{i}")).await;
    }
    let mut seen = Vec::new();
    let mut page = PageRequest::new(Some(3), None).unwrap();
    loop {
        let got = store.list_tenants(&Visibility::All, &page).await.unwrap();
        assert!(got.items.len() <= 3);
        seen.extend(got.items.iter().map(|t| t.name.clone()));
        match got.next_cursor {
            Some(c) => page = PageRequest::new(Some(3), Some(c)).unwrap(),
            None => break,
        }
    }
    assert_eq!(seen.len(), 8);
    assert_eq!(
        seen.iter().collect::<BTreeSet<_>>().len(),
        8,
        "no tenant twice"
    );

    let bad = PageRequest::new(Some(3), Some("'; DROP TABLE tenants; --".into())).unwrap();
    assert!(matches!(
        store.list_tenants(&Visibility::All, &bad).await,
        Err(StoreError::BadCursor(_))
    ));
    let bad = PageRequest::new(Some(3), Some("x".into())).unwrap();
    assert!(matches!(
        store
            .list_audit(&Visibility::All, &AuditFilter::default(), &bad)
            .await,
        Err(StoreError::BadCursor(_))
    ));

    let mut audit_seqs = Vec::new();
    let mut page = PageRequest::new(Some(4), None).unwrap();
    loop {
        let got = store
            .list_audit(&Visibility::All, &AuditFilter::default(), &page)
            .await
            .unwrap();
        audit_seqs.extend(got.items.iter().map(|e| e.seq));
        match got.next_cursor {
            Some(c) => page = PageRequest::new(Some(4), Some(c)).unwrap(),
            None => break,
        }
    }
    assert_eq!(audit_seqs, (1..=9).collect::<Vec<_>>());
}

pub async fn users_keep_their_customer_limits(store: Store) {
    let provider = bootstrapped(&store).await;
    let a = customer(&store, "A").await;
    let b = customer(&store, "B").await;
    let mut op = new_user(provider, "op", Role::Operator);
    op.customers = CustomerScope::Only(BTreeSet::from([a]));
    let created = store
        .create_user(&op, &Actor::system(), at(2))
        .await
        .unwrap();
    assert_eq!(created.customers, CustomerScope::Only(BTreeSet::from([a])));
    assert_eq!(
        store.get_user(op.id).await.unwrap().unwrap().customers,
        created.customers
    );

    let patch = UserPatch {
        customers: Some(CustomerScope::Only(BTreeSet::from([a, b]))),
        role: Some(Role::ChangeManager),
        disabled: Some(true),
        ..UserPatch::default()
    };
    let updated = store
        .update_user(op.id, &patch, &Actor::system(), at(3))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(updated.role, Role::ChangeManager);
    assert!(updated.disabled);
    assert_eq!(store.get_user(op.id).await.unwrap().unwrap(), updated);
    let all = UserPatch {
        customers: Some(CustomerScope::All),
        ..UserPatch::default()
    };
    store
        .update_user(op.id, &all, &Actor::system(), at(4))
        .await
        .unwrap();
    assert_eq!(
        store.get_user(op.id).await.unwrap().unwrap().customers,
        CustomerScope::All
    );

    let dup = store
        .create_user(
            &new_user(a, "op", Role::CustomerViewer),
            &Actor::system(),
            at(5),
        )
        .await;
    assert!(matches!(dup, Err(StoreError::Conflict(_))), "{dup:?}");
    assert_eq!(store.count_enabled_admins().await.unwrap(), 1);
}

async fn token(store: &Store, user: &NewUser, expires: Timestamp) -> TokenId {
    let id = TokenId::new(at(1), rnd());
    let new = NewToken {
        id,
        user_id: user.id,
        tenant_id: user.tenant_id,
        name: "ci".into(),
        secret_hash: "ab".repeat(32),
        scopes: BTreeSet::from([Permission::TenantRead, Permission::AuditRead]),
        expires_at: expires,
    };
    store
        .create_token(&new, &Actor::system(), at(1))
        .await
        .unwrap();
    id
}

pub async fn password_change_revokes_tokens(store: Store) {
    let provider = bootstrapped(&store).await;
    let user = new_user(provider, "sec", Role::SecurityOfficer);
    store
        .create_user(&user, &Actor::system(), at(1))
        .await
        .unwrap();
    let t1 = token(&store, &user, at(1000)).await;
    let t2 = token(&store, &user, at(1000)).await;
    assert!(
        store
            .set_password(user.id, "$argon2id$new", &Actor::system(), at(10))
            .await
            .unwrap()
    );
    for t in [t1, t2] {
        let (tok, _) = store.get_token(t).await.unwrap().unwrap();
        assert_eq!(tok.revoked_at, Some(at(10)));
    }
    assert_eq!(
        store.user_credentials("sec").await.unwrap().unwrap().1,
        "$argon2id$new"
    );
    assert!(
        !store
            .set_password(UserId::new(at(1), rnd()), "x", &Actor::system(), at(10))
            .await
            .unwrap()
    );
}

pub async fn tokens_are_revoked_and_touched(store: Store) {
    let provider = bootstrapped(&store).await;
    let a = customer(&store, "A").await;
    let admin = store.user_credentials("admin").await.unwrap().unwrap().0;
    let viewer = new_user(a, "viewer", Role::CustomerViewer);
    store
        .create_user(&viewer, &Actor::system(), at(1))
        .await
        .unwrap();
    let mine = token(&store, &viewer, at(1000)).await;
    let (stored, hash) = store.get_token(mine).await.unwrap().unwrap();
    assert_eq!(hash, "ab".repeat(32));
    assert_eq!(
        stored.scopes,
        BTreeSet::from([Permission::TenantRead, Permission::AuditRead])
    );
    assert_eq!(stored.tenant_id, a);

    let by_user = store
        .list_tokens(&TokenOwner::User(viewer.id), &PageRequest::first())
        .await
        .unwrap();
    assert_eq!(by_user.items.len(), 1);
    let by_admin = store
        .list_tokens(&TokenOwner::User(admin.id), &PageRequest::first())
        .await
        .unwrap();
    assert!(by_admin.items.is_empty());
    let provider_only = Visibility::Tenants(BTreeSet::from([provider]));
    assert!(
        store
            .list_tokens(&TokenOwner::Visible(provider_only), &PageRequest::first())
            .await
            .unwrap()
            .items
            .is_empty()
    );

    store.touch_token(mine, at(100)).await.unwrap();
    store.touch_token(mine, at(130)).await.unwrap(); // within a minute: not written
    assert_eq!(
        store.get_token(mine).await.unwrap().unwrap().0.last_used_at,
        Some(at(100))
    );
    store.touch_token(mine, at(161)).await.unwrap();
    assert_eq!(
        store.get_token(mine).await.unwrap().unwrap().0.last_used_at,
        Some(at(161))
    );

    let before = audit_count(&store).await;
    let revoked = store
        .revoke_token(mine, &Actor::system(), at(200))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(revoked.revoked_at, Some(at(200)));
    // Again: nothing changes, nothing is recorded.
    let again = store
        .revoke_token(mine, &Actor::system(), at(300))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.revoked_at, Some(at(200)));
    assert_eq!(audit_count(&store).await, before + 1);
    assert!(
        store
            .revoke_token(TokenId::new(at(1), rnd()), &Actor::system(), at(1))
            .await
            .unwrap()
            .is_none()
    );
}

pub async fn every_change_is_chained_in_the_audit_log(store: Store) {
    let provider = bootstrapped(&store).await;
    let a = customer(&store, "A").await;
    let actor = Actor {
        kind: rivet_core::audit::ActorKind::User,
        id: Some("u1".into()),
        name: "jane".into(),
        token_id: Some("t1".into()),
    };
    store.rename_tenant(a, "A2", &actor, at(9)).await.unwrap();
    let page = store
        .list_audit(
            &Visibility::All,
            &AuditFilter {
                action_prefix: None,
                target_id: Some(a.to_string()),
            },
            &PageRequest::first(),
        )
        .await
        .unwrap();
    let actions: Vec<&str> = page.items.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, vec!["tenant.create", "tenant.update"]);
    let update = &page.items[1];
    assert_eq!(update.actor, actor);
    assert_eq!(update.at, at(9));
    assert!(update.before.as_deref().unwrap().contains("\"name\":\"A\""));
    assert!(update.after.as_deref().unwrap().contains("\"name\":\"A2\""));
    assert_eq!(update.tenant_id, Some(a));
    // No secrets in the summaries.
    let user = store
        .list_audit(
            &Visibility::Tenants(BTreeSet::from([provider])),
            &AuditFilter::default(),
            &PageRequest::first(),
        )
        .await
        .unwrap();
    assert!(
        user.items
            .iter()
            .all(|e| !e.after.as_deref().unwrap_or("").contains("argon2"))
    );
    assert_eq!(store.verify_audit().await.unwrap(), Ok(4));
}

pub async fn audit_log_is_append_only_and_edits_are_caught(store: Store) {
    bootstrapped(&store).await;
    customer(&store, "A").await;
    customer(&store, "B").await;
    assert_eq!(store.verify_audit().await.unwrap(), Ok(4));
    // The database refuses edits outright...
    let refused = execute(
        &store,
        "UPDATE audit_log SET actor_name = 'mallory' WHERE seq = 2",
    )
    .await;
    assert!(refused.unwrap_err().to_string().contains("append-only"));
    let refused = execute(&store, "DELETE FROM audit_log WHERE seq = 4").await;
    assert!(refused.is_err());
    // ...and someone who removes that guard is still caught.
    let drop_guard = match store.backend() {
        Backend::Sqlite => "DROP TRIGGER audit_log_no_update",
        Backend::Postgres => "DROP TRIGGER audit_log_no_change ON audit_log",
    };
    execute(&store, drop_guard).await.unwrap();
    execute(
        &store,
        "UPDATE audit_log SET actor_name = 'mallory' WHERE seq = 3",
    )
    .await
    .unwrap();
    let broken = store.verify_audit().await.unwrap().unwrap_err();
    assert_eq!(broken.seq, 3);
    assert!(broken.reason.contains("changed"), "{}", broken.reason);
}

/// Reaches past the store's rules, as an attacker with database access would.
async fn execute(store: &Store, sql: &str) -> Result<(), StoreError> {
    store.execute_raw_for_tests(sql).await
}

pub async fn concurrent_changes_keep_one_chain(store: Store) {
    bootstrapped(&store).await;
    let mut tasks = Vec::new();
    for i in 0..24 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store
                .create_tenant(
                    TenantId::new(at(i), rnd()),
                    &format!("T{i}"),
                    None,
                    &Actor::system(),
                    at(i),
                )
                .await
                .unwrap();
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(store.verify_audit().await.unwrap(), Ok(26));
    let all = store
        .list_tenants(&Visibility::All, &PageRequest::first())
        .await
        .unwrap();
    assert_eq!(all.items.len(), 25);
}

fn advisory(key: &str, id: &str, modified: i64, body: &str) -> rivet_store::AdvisoryRecord {
    rivet_store::AdvisoryRecord {
        key: key.into(),
        id: id.into(),
        format: "osv".into(),
        title: Some(format!("{id} title")),
        published: Some(at(0)),
        modified: Some(at(modified)),
        withdrawn: None,
        severity_score: Some(7.5),
        severity: Some("high".into()),
        aliases: vec!["CVE-2024-0001".into(), "CVE-2024-0001".into()],
        packages: vec![rivet_store::AffectedPackage {
            ecosystem: "AlmaLinux:9".into(),
            ecosystem_name: "AlmaLinux".into(),
            package: "openssl".into(),
            fixed: Some("1:3.0.7-27.el9".into()),
        }],
        source: "test".into(),
        location: format!("{key}.json"),
        fetched_at: at(1),
        content_sha256: format!("{:0>64}", body.len()),
        signature: "unsigned".into(),
        body: body.into(),
    }
}

pub async fn advisories_import_idempotently(store: Store) {
    bootstrapped(&store).await;
    let batch = vec![
        advisory("ALSA-1@9", "ALSA-1", 10, "{\"v\":1}"),
        advisory("ALSA-1@8", "ALSA-1", 10, "{\"v\":2}"),
        advisory("ALSA-2@9", "ALSA-2", 10, "{\"v\":33}"),
    ];
    let counts = store
        .import_advisories(&batch, "t", &Actor::system(), at(20))
        .await
        .unwrap();
    assert_eq!(
        (counts.imported, counts.updated, counts.unchanged),
        (3, 0, 0)
    );
    assert_eq!(store.count_advisories().await.unwrap(), (3, 3));
    let audit = audit_count(&store).await;
    let again = store
        .import_advisories(&batch, "t", &Actor::system(), at(21))
        .await
        .unwrap();
    assert_eq!((again.imported, again.updated, again.unchanged), (0, 0, 3));
    assert_eq!(
        audit_count(&store).await,
        audit,
        "nothing changed, nothing recorded"
    );
    // Same id in two documents: both kept.
    let both = store.get_advisory("ALSA-1").await.unwrap();
    assert_eq!(both.len(), 2);
    assert_ne!(both[0].1, both[1].1);
    // Newer replaces, older does not.
    let newer = vec![advisory("ALSA-2@9", "ALSA-2", 11, "{\"v\":444}")];
    let c = store
        .import_advisories(&newer, "t", &Actor::system(), at(22))
        .await
        .unwrap();
    assert_eq!((c.imported, c.updated, c.unchanged), (0, 1, 0));
    let older = vec![advisory("ALSA-2@9", "ALSA-2", 5, "{\"v\":5555}")];
    let c = store
        .import_advisories(&older, "t", &Actor::system(), at(23))
        .await
        .unwrap();
    assert_eq!((c.imported, c.updated, c.unchanged), (0, 0, 1));
    assert_eq!(
        store.get_advisory("ALSA-2").await.unwrap()[0].1,
        "{\"v\":444}"
    );
    assert_eq!(
        store.count_advisories().await.unwrap(),
        (3, 3),
        "the replaced rows left no orphans"
    );
    assert_eq!(store.verify_audit().await.unwrap().map(|_| ()), Ok(()));
}

pub async fn advisories_are_found_by_filter(store: Store) {
    let mut batch = Vec::new();
    for i in 0..30 {
        let mut a = advisory(
            &format!("A-{i:02}@x"),
            &format!("A-{i:02}"),
            1,
            &format!("{{\"i\":{i}}}"),
        );
        if i % 3 == 0 {
            a.packages[0].package = "bash".into();
            a.aliases = vec![format!("CVE-2024-1{i:03}")];
            a.severity_score = Some(9.8);
        }
        batch.push(a);
    }
    store
        .import_advisories(&batch, "t", &Actor::system(), at(1))
        .await
        .unwrap();
    let all = |f: rivet_store::AdvisoryFilter| {
        let store = store.clone();
        async move {
            let mut out = Vec::new();
            let mut page = PageRequest::new(Some(7), None).unwrap();
            loop {
                let got = store.list_advisories(&f, &page).await.unwrap();
                out.extend(got.items.into_iter().map(|a| a.id));
                match got.next_cursor {
                    Some(c) => page = PageRequest::new(Some(7), Some(c)).unwrap(),
                    None => return out,
                }
            }
        }
    };
    assert_eq!(all(rivet_store::AdvisoryFilter::default()).await.len(), 30);
    let bash = rivet_store::AdvisoryFilter {
        package: Some("bash".into()),
        ..Default::default()
    };
    assert_eq!(all(bash).await.len(), 10);
    let eco = rivet_store::AdvisoryFilter {
        ecosystem: Some("AlmaLinux:9".into()),
        ..Default::default()
    };
    assert_eq!(all(eco).await.len(), 30);
    let other = rivet_store::AdvisoryFilter {
        ecosystem: Some("Debian".into()),
        ..Default::default()
    };
    assert!(all(other).await.is_empty());
    let cve = rivet_store::AdvisoryFilter {
        cve: Some("CVE-2024-1003".into()),
        ..Default::default()
    };
    assert_eq!(all(cve).await, vec!["A-03"]);
    let critical = rivet_store::AdvisoryFilter {
        min_score: Some(9.0),
        ..Default::default()
    };
    assert_eq!(all(critical).await.len(), 10);
}

pub async fn kev_and_epss_are_joined_by_cve(store: Store) {
    let kev = |cve: &str, due: &str| rivet_store::KevRecord {
        cve: cve.into(),
        date_added: "2024-01-02".into(),
        due_date: due.into(),
        ransomware: "Known".into(),
        vendor: "V".into(),
        product: "P".into(),
        name: "N".into(),
        required_action: "Patch".into(),
    };
    let c = store
        .import_kev(
            &[
                kev("CVE-2024-0001", "2024-01-23"),
                kev("CVE-2024-0002", "2024-01-23"),
            ],
            "2024.01.02",
            &Actor::system(),
            at(1),
        )
        .await
        .unwrap();
    assert_eq!((c.imported, c.updated, c.unchanged), (2, 0, 0));
    let c = store
        .import_kev(
            &[
                kev("CVE-2024-0001", "2024-02-01"),
                kev("CVE-2024-0002", "2024-01-23"),
            ],
            "2024.01.03",
            &Actor::system(),
            at(2),
        )
        .await
        .unwrap();
    assert_eq!((c.imported, c.updated, c.unchanged), (0, 1, 1));
    assert_eq!(
        store.kev("CVE-2024-0001").await.unwrap().unwrap().due_date,
        "2024-02-01"
    );
    assert!(store.kev("CVE-1999-0001").await.unwrap().is_none());

    store
        .import_advisories(
            &[advisory("K@x", "K", 1, "{}")],
            "t",
            &Actor::system(),
            at(1),
        )
        .await
        .unwrap();
    store
        .import_advisories(
            &[{
                let mut a = advisory("L@x", "L", 1, "{ }");
                a.aliases = vec!["CVE-2030-0001".into()];
                a
            }],
            "t",
            &Actor::system(),
            at(1),
        )
        .await
        .unwrap();
    let kev_only = rivet_store::AdvisoryFilter {
        kev: true,
        ..Default::default()
    };
    let listed = store
        .list_advisories(&kev_only, &PageRequest::first())
        .await
        .unwrap();
    assert_eq!(
        listed
            .items
            .iter()
            .map(|a| a.id.as_str())
            .collect::<Vec<_>>(),
        vec!["K"]
    );

    let score = |cve: &str, s: f64, day: i64| rivet_store::EpssRecord {
        cve: cve.into(),
        score: s,
        percentile: 0.5,
        score_date: at(day),
        model_version: "v2025.03.14".into(),
    };
    let c = store
        .import_epss(&[score("CVE-2024-0001", 0.1, 0)], &Actor::system(), at(1))
        .await
        .unwrap();
    assert_eq!(c.imported, 1);
    let c = store
        .import_epss(
            &[
                score("CVE-2024-0001", 0.9, 86_400),
                score("CVE-2024-0002", 0.2, 0),
            ],
            &Actor::system(),
            at(2),
        )
        .await
        .unwrap();
    assert_eq!((c.imported, c.updated, c.unchanged), (1, 1, 0));
    let c = store
        .import_epss(&[score("CVE-2024-0001", 0.3, 0)], &Actor::system(), at(3))
        .await
        .unwrap();
    assert_eq!(c.unchanged, 1, "an older day does not replace");
    assert_eq!(
        store.epss("CVE-2024-0001").await.unwrap().unwrap().score,
        0.9
    );
}

pub async fn due_sources_are_claimed_once(store: Store) {
    let new = |name: &str| rivet_store::NewSource {
        id: uuid::Uuid::new_v4().to_string(),
        name: name.into(),
        kind: "kev".into(),
        url: format!("http://127.0.0.1:9/{name}.json"),
        interval_secs: 3600,
        public_keys: String::new(),
    };
    let a = store
        .create_source(&new("a"), &Actor::system(), at(0))
        .await
        .unwrap();
    let dup = store
        .create_source(&new("a"), &Actor::system(), at(0))
        .await;
    assert!(matches!(dup, Err(StoreError::Conflict(_))));
    // Due at once; one replica gets it, the other does not while the lease holds.
    let first = store
        .claim_due_source(at(1), "replica-1", 600)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first.id, a.id);
    assert!(
        store
            .claim_due_source(at(2), "replica-2", 600)
            .await
            .unwrap()
            .is_none()
    );
    // A lease that ran out (the replica died) is taken over.
    let again = store
        .claim_due_source(at(700), "replica-2", 600)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.id, a.id);
    store
        .record_sync(&a.id, true, "imported 3", &Actor::system(), at(710))
        .await
        .unwrap();
    let synced = store.get_source(&a.id).await.unwrap().unwrap();
    assert_eq!(synced.last_status.as_deref(), Some("ok"));
    assert_eq!(synced.next_sync_at, at(710 + 3600));
    assert!(
        store
            .claim_due_source(at(711), "replica-1", 600)
            .await
            .unwrap()
            .is_none(),
        "not due yet"
    );
    assert!(
        store
            .claim_due_source(at(710 + 3600), "replica-1", 600)
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        store
            .delete_source(&a.id, &Actor::system(), at(5000))
            .await
            .unwrap()
    );
    assert!(store.list_sources().await.unwrap().is_empty());
}

fn inventory_of(packages: &[(&str, &str)]) -> rivet_core::inventory::Inventory {
    use rivet_core::inventory::{Inventory, Package, PackageFormat};
    let mut inventory = Inventory {
        collected_at: at(10),
        host: Default::default(),
        packages: packages
            .iter()
            .map(|(name, version)| Package {
                format: PackageFormat::Deb,
                name: (*name).into(),
                version: (*version).into(),
                architecture: "amd64".into(),
                source_name: (*name).into(),
                source_version: (*version).into(),
                repository: None,
                installed_at: None,
            })
            .collect(),
        unfinished_packages: vec![],
        reboot: Default::default(),
        stale_processes: vec![],
        problems: vec![],
    };
    rivet_core::host::canonicalize(&mut inventory);
    inventory
}

async fn enrolled_host(store: &Store, tenant: TenantId, name: &str) -> rivet_core::id::HostId {
    use rivet_core::id::{EnrollmentId, HostId};
    let enrollment = store
        .create_enrollment(
            &rivet_store::NewEnrollment {
                id: EnrollmentId::new(at(2), rnd()),
                tenant_id: tenant,
                secret_hash: "unused".into(),
                attributes: Default::default(),
                note: String::new(),
                expires_at: at(3600),
            },
            &Actor::system(),
            at(2),
        )
        .await
        .unwrap();
    let key = rivet_core::agent::AgentKey::from_bytes(rnd().repeat(4)[..32].try_into().unwrap());
    store
        .enroll_host(
            enrollment.id,
            |_| true,
            HostId::new(at(3), rnd()),
            &key.public(),
            name,
            "test",
            at(3),
        )
        .await
        .unwrap()
        .unwrap()
        .id
}

/// Inventories stored at the same time share a transaction (group commit),
/// yet each has its own outcome: a refused one (a stale base, an unknown
/// host) leaves the others stored and writes nothing itself.
pub async fn inventories_stored_together_keep_their_own_outcomes(store: Store) {
    use rivet_core::host::digest;
    use rivet_store::{InventoryRefusal, InventoryWrite};
    bootstrapped(&store).await;
    let tenant = customer(&store, "Batch").await;
    let mut hosts = Vec::new();
    for n in 0..24 {
        hosts.push(enrolled_host(&store, tenant, &format!("host-{n}")).await);
    }
    let first = inventory_of(&[("libc6", "2.36-9"), ("openssl", "3.0.11-1")]);
    let stale = rivet_core::host::InventoryDigest::try_from("0".repeat(64)).unwrap();
    let writes = hosts.iter().enumerate().map(|(n, host)| {
        let store = store.clone();
        let inventory = match n % 3 {
            0 => first.clone(),
            _ => inventory_of(&[("libc6", "2.36-9"), ("curl", &format!("7.88.{n}-1"))]),
        };
        let write = InventoryWrite {
            host: *host,
            digest: digest(&inventory),
            inventory,
            // Every fourth host claims a base it never had.
            expected_base: (n % 4 == 3).then(|| stale.clone()),
            at: at(20),
        };
        tokio::spawn(async move { store.store_inventory(write).await })
    });
    let unknown = rivet_core::id::HostId::new(at(3), rnd());
    let unknown = {
        let store = store.clone();
        let inventory = first.clone();
        tokio::spawn(async move {
            store
                .store_inventory(InventoryWrite {
                    host: unknown,
                    digest: digest(&inventory),
                    inventory,
                    expected_base: None,
                    at: at(20),
                })
                .await
        })
    };
    let outcomes: Vec<_> = join_all(writes.collect()).await;
    for (n, (host, outcome)) in hosts.iter().zip(outcomes).enumerate() {
        let packages = store.host_packages(*host).await.unwrap();
        if n % 4 == 3 {
            assert_eq!(
                outcome.unwrap(),
                Err(InventoryRefusal::BaseMismatch { held: None }),
                "host {n}"
            );
            assert!(
                packages.is_empty(),
                "host {n}: a refused inventory is not stored"
            );
        } else {
            let stored = outcome.unwrap().unwrap();
            assert_eq!(stored.packages, 2, "host {n}");
            let names: BTreeSet<String> = packages.into_iter().map(|p| p.name).collect();
            let expected = if n % 3 == 0 { "openssl" } else { "curl" };
            assert!(names.contains(expected), "host {n}: {names:?}");
        }
    }
    assert_eq!(
        unknown.await.unwrap().unwrap(),
        Err(InventoryRefusal::UnknownHost)
    );
}

async fn join_all<T>(handles: Vec<tokio::task::JoinHandle<T>>) -> Vec<T> {
    let mut out = Vec::with_capacity(handles.len());
    for handle in handles {
        out.push(handle.await.unwrap());
    }
    out
}

/// A later inventory is written as the difference from the one held: each
/// software change is recorded once, with its old and new version, packages
/// that stayed are not touched, and a changed install time is kept.
pub async fn a_new_inventory_records_each_change_once(store: Store) {
    use rivet_core::host::digest;
    use rivet_store::InventoryWrite;
    bootstrapped(&store).await;
    let tenant = customer(&store, "Changes").await;
    let host = enrolled_host(&store, tenant, "changing").await;
    let write = |inventory: rivet_core::inventory::Inventory, t: i64| InventoryWrite {
        host,
        digest: digest(&inventory),
        inventory,
        expected_base: None,
        at: at(t),
    };
    let before = inventory_of(&[
        ("libc6", "2.36-9"),
        ("openssl", "3.0.11-1"),
        ("curl", "7.88.1-10"),
        ("tzdata", "2024a-0"),
        // Two versions of one name, as kernels are on rpm systems.
        ("kernel", "5.14.0-1"),
        ("kernel", "5.14.0-2"),
    ]);
    let stored = store
        .store_inventory(write(before, 20))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (stored.packages, stored.changes),
        (6, 0),
        "the baseline records no changes"
    );

    let mut after = inventory_of(&[
        ("libc6", "2.36-9"),
        ("openssl", "3.0.15-1"),
        ("curl", "7.88.1-9"),
        ("kernel", "5.14.0-2"),
        ("kernel", "5.14.0-3"),
        ("jq", "1.6-2.1"),
    ]);
    let libc = after
        .packages
        .iter_mut()
        .find(|p| p.name == "libc6")
        .unwrap();
    libc.installed_at = Some(at(30));
    let stored = store
        .store_inventory(write(after, 40))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.changes, 5);

    let history = store
        .host_history(host, &PageRequest::first())
        .await
        .unwrap()
        .items;
    let mut seen: Vec<(String, String, Option<String>, Option<String>)> = history
        .iter()
        .map(|h| {
            assert_eq!(h.observed_at, at(40));
            (
                h.change.as_str().to_owned(),
                h.name.clone(),
                h.old_version.clone(),
                h.new_version.clone(),
            )
        })
        .collect();
    seen.sort();
    let v = |s: &str| Some(s.to_owned());
    assert_eq!(
        seen,
        vec![
            (
                "downgraded".into(),
                "curl".into(),
                v("7.88.1-10"),
                v("7.88.1-9")
            ),
            ("installed".into(), "jq".into(), None, v("1.6-2.1")),
            ("removed".into(), "tzdata".into(), v("2024a-0"), None),
            (
                "upgraded".into(),
                "kernel".into(),
                v("5.14.0-1"),
                v("5.14.0-3")
            ),
            (
                "upgraded".into(),
                "openssl".into(),
                v("3.0.11-1"),
                v("3.0.15-1")
            ),
        ]
    );
    let mut held: Vec<(String, String, Option<Timestamp>)> = store
        .host_packages(host)
        .await
        .unwrap()
        .into_iter()
        .map(|p| (p.name, p.version, p.installed_at))
        .collect();
    held.sort();
    assert_eq!(
        held,
        vec![
            ("curl".into(), "7.88.1-9".into(), None),
            ("jq".into(), "1.6-2.1".into(), None),
            ("kernel".into(), "5.14.0-2".into(), None),
            ("kernel".into(), "5.14.0-3".into(), None),
            ("libc6".into(), "2.36-9".into(), Some(at(30))),
            ("openssl".into(), "3.0.15-1".into(), None),
        ]
    );
}

fn draft(
    advisory: &str,
    package: &str,
    installed: &str,
    severity: rivet_core::finding::Level,
) -> rivet_store::FindingDraft {
    rivet_store::FindingDraft {
        advisory_key: format!("osv:{advisory}"),
        advisory_id: advisory.into(),
        aliases: vec![format!("CVE-2026-{}", advisory.len())],
        package: package.into(),
        architecture: "amd64".into(),
        installed_version: installed.into(),
        source_package: package.into(),
        fixed_version: Some("9.9-1".into()),
        severity,
        score: None,
        kev: false,
        epss: None,
        priority: 50,
        state: rivet_core::finding::FindingState::Open,
        pending_reboot: false,
        published_at: Some(at(1000)),
    }
}

/// Findings follow the engine: new ones open with the tenant's deadline,
/// unchanged ones are not written, missing ones are fixed, found again they
/// reopen; a policy change moves open deadlines; listings and the summary
/// see only visible tenants.
pub async fn findings_follow_their_lifecycle(store: Store) {
    use rivet_core::finding::{DeadlinePolicy, FindingState, Level};
    use rivet_store::{FindingChanges, FindingFilter, HostFindingsDraft};
    const DAY: i64 = 86_400;
    bootstrapped(&store).await;
    let tenant = customer(&store, "Findings").await;
    let other = customer(&store, "Elsewhere").await;
    let host = enrolled_host(&store, tenant, "web-1").await;
    let stranger = enrolled_host(&store, other, "db-1").await;
    let high = draft("ADV-1", "openssl", "3.0.11-1", Level::High);
    let mut low = draft("ADV-22", "curl", "7.88.1-10", Level::Low);
    low.kev = true;
    let sync = |drafts: Vec<HostFindingsDraft>, t: i64| {
        let store = store.clone();
        async move { store.sync_findings(&drafts, at(t)).await.unwrap() }
    };
    let on = |h, findings: Vec<rivet_store::FindingDraft>| HostFindingsDraft { host: h, findings };

    let c = sync(
        vec![
            on(host, vec![high.clone(), low.clone()]),
            on(stranger, vec![high.clone()]),
        ],
        2000,
    )
    .await;
    assert_eq!(
        c,
        FindingChanges {
            opened: 3,
            ..Default::default()
        }
    );
    let c = sync(vec![on(host, vec![high.clone(), low.clone()])], 2100).await;
    assert_eq!(
        c,
        FindingChanges::default(),
        "nothing changed, nothing written"
    );

    let only = Visibility::Tenants(BTreeSet::from([tenant]));
    let list = |filter: FindingFilter, now: i64| {
        let store = store.clone();
        let only = only.clone();
        async move {
            store
                .list_findings(&only, &filter, &PageRequest::first(), at(now))
                .await
                .unwrap()
                .items
        }
    };
    let all = list(FindingFilter::default(), 2100).await;
    assert_eq!(all.len(), 2, "the other tenant's finding is not visible");
    let openssl = all.iter().find(|f| f.package == "openssl").unwrap();
    // High: 7 days from publication.
    assert_eq!(openssl.due_at, Some(at(1000 + 7 * DAY)));
    let curl = all.iter().find(|f| f.package == "curl").unwrap();
    // Known exploited: 3 days, though rated low.
    assert_eq!(curl.due_at, Some(at(1000 + 3 * DAY)));
    let overdue = list(
        FindingFilter {
            overdue_at: Some(at(1000 + 4 * DAY)),
            ..Default::default()
        },
        1000 + 4 * DAY,
    )
    .await;
    assert_eq!(
        overdue
            .iter()
            .map(|f| f.package.as_str())
            .collect::<Vec<_>>(),
        ["curl"]
    );
    assert!(overdue[0].overdue);
    let kev = list(
        FindingFilter {
            kev: Some(true),
            ..Default::default()
        },
        2100,
    )
    .await;
    assert_eq!(kev.len(), 1);
    let by_alias = list(
        FindingFilter {
            severities: vec![Level::High],
            ..Default::default()
        },
        2100,
    )
    .await;
    assert_eq!(by_alias.len(), 1);

    // A longer policy moves the open deadlines.
    let policy = DeadlinePolicy {
        high_days: 14,
        ..DeadlinePolicy::default()
    };
    store
        .set_deadline_policy(tenant, &policy, &Actor::system(), at(2200))
        .await
        .unwrap();
    assert_eq!(store.deadline_policy(tenant).await.unwrap(), policy);
    let all = list(FindingFilter::default(), 2200).await;
    let openssl = all.iter().find(|f| f.package == "openssl").unwrap();
    assert_eq!(openssl.due_at, Some(at(1000 + 14 * DAY)));
    let bad = DeadlinePolicy {
        kev_days: 30,
        ..DeadlinePolicy::default()
    };
    assert!(
        store
            .set_deadline_policy(tenant, &bad, &Actor::system(), at(2200))
            .await
            .is_err()
    );

    // curl updated: its finding is fixed; the upgraded openssl is still
    // affected at its new version.
    let mut upgraded = high.clone();
    upgraded.installed_version = "3.0.13-1".into();
    let c = sync(vec![on(host, vec![upgraded])], 3000).await;
    assert_eq!(
        c,
        FindingChanges {
            fixed: 1,
            updated: 1,
            ..Default::default()
        }
    );
    let fixed = list(
        FindingFilter {
            states: vec![FindingState::Fixed],
            ..Default::default()
        },
        3000,
    )
    .await;
    assert_eq!(fixed.len(), 1);
    assert_eq!(
        (fixed[0].package.as_str(), fixed[0].fixed_at),
        ("curl", Some(at(3000)))
    );
    assert!(!fixed[0].overdue, "a fixed finding is never overdue");
    let summary = store.exposure_summary(&only, None, at(3000)).await.unwrap();
    assert_eq!(summary.by_state.get("open"), Some(&1));
    assert_eq!(summary.by_state.get("fixed"), Some(&1));
    assert_eq!(summary.open_by_severity.get("high"), Some(&1));
    assert_eq!((summary.open_kev, summary.affected_hosts), (0, 1));

    // curl downgraded again: the finding reopens, found anew.
    let c = sync(vec![on(host, vec![high.clone(), low.clone()])], 4000).await;
    assert_eq!(c.reopened, 1);
    let curl = list(
        FindingFilter {
            kev: Some(true),
            ..Default::default()
        },
        4000,
    )
    .await;
    assert_eq!(
        (curl[0].state, curl[0].first_found_at, curl[0].fixed_at),
        (FindingState::Open, at(4000), None)
    );
    let everyone = store
        .exposure_summary(&Visibility::All, None, at(4000))
        .await
        .unwrap();
    assert_eq!(everyone.affected_hosts, 2);
}

pub async fn changes_keep_their_revision_and_their_tenant(store: Store) {
    use rivet_store::{
        ChangeFilter, ChangeSetting, ProblemReport, StoredChange, StoredFreeze, StoredWindow,
    };
    let _provider = bootstrapped(&store).await;
    let acme = customer(&store, "Acme").await;
    let other = customer(&store, "Other").await;
    let actor = Actor::system();
    let before = audit_count(&store).await;
    let draft = |id: &str, tenant: TenantId| StoredChange {
        id: id.into(),
        tenant_id: tenant,
        kind: "normal".into(),
        state: "draft".into(),
        title: format!("change {id}"),
        review_due: false,
        created_at: at(0),
        updated_at: at(0),
        revision: 0,
        body: serde_json::json!({"id": id, "patches": [{"package": "openssl", "version": "3.0.15-1~deb12u1"}]}),
    };
    let created = store
        .create_change(&draft("chg-1", acme), &actor, at(10))
        .await
        .unwrap();
    assert_eq!((created.revision, created.created_at), (1, at(10)));
    store
        .create_change(&draft("chg-2", other), &actor, at(11))
        .await
        .unwrap();

    // Two writers read revision 1: the second write is refused.
    let mut first = store.change("chg-1").await.unwrap().unwrap();
    assert_eq!(first, created);
    let mut second = first.clone();
    first.state = "submitted".into();
    let saved = store
        .save_change(
            &first,
            "change.submit",
            serde_json::json!({"from": "draft"}),
            &actor,
            at(20),
        )
        .await
        .unwrap()
        .expect("the first write wins");
    assert_eq!(saved.revision, 2);
    second.state = "cancelled".into();
    assert!(
        store
            .save_change(
                &second,
                "change.cancel",
                serde_json::Value::Null,
                &actor,
                at(21)
            )
            .await
            .unwrap()
            .is_none()
    );
    let read = store.change("chg-1").await.unwrap().unwrap();
    assert_eq!(
        (read.state.as_str(), read.revision, read.updated_at),
        ("submitted", 2, at(20))
    );
    assert_eq!(
        audit_count(&store).await,
        before + 3,
        "two creations and one write"
    );

    // Listings: per tenant, per state, only what the principal sees.
    let only_acme = Visibility::Tenants([acme].into_iter().collect());
    let page = store
        .list_changes(&only_acme, &ChangeFilter::default(), &PageRequest::first())
        .await
        .unwrap();
    assert_eq!(
        page.items.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(),
        ["chg-1"]
    );
    let drafts = store
        .list_changes(
            &Visibility::All,
            &ChangeFilter {
                states: vec!["draft".into()],
                ..Default::default()
            },
            &PageRequest::first(),
        )
        .await
        .unwrap();
    assert_eq!(
        drafts
            .items
            .iter()
            .map(|c| c.id.as_str())
            .collect::<Vec<_>>(),
        ["chg-2"]
    );
    let due = store
        .changes_in_states(&["submitted", "approved"])
        .await
        .unwrap();
    assert_eq!(due.len(), 1);

    // Windows are unique by name within a tenant.
    let window = StoredWindow {
        id: "win-1".into(),
        tenant_id: acme,
        group: Some("web".into()),
        name: "sunday night".into(),
        body: serde_json::json!({"time_zone": "Europe/Berlin", "rule": "FREQ=WEEKLY;BYDAY=SU"}),
        created_by: String::new(),
        created_at: at(0),
    };
    store.create_window(&window, &actor, at(30)).await.unwrap();
    let twin = StoredWindow {
        id: "win-2".into(),
        ..window.clone()
    };
    assert!(matches!(
        store.create_window(&twin, &actor, at(31)).await,
        Err(StoreError::Conflict(_))
    ));
    let elsewhere = StoredWindow {
        id: "win-3".into(),
        tenant_id: other,
        ..window.clone()
    };
    store
        .create_window(&elsewhere, &actor, at(32))
        .await
        .unwrap();
    let listed = store.list_windows(&only_acme, None).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (listed[0].body.clone(), listed[0].created_at),
        (window.body.clone(), at(30))
    );
    assert!(store.delete_window("win-1", &actor, at(33)).await.unwrap());
    assert!(!store.delete_window("win-1", &actor, at(34)).await.unwrap());

    // A freeze for every tenant shows to each; one tenant's only to it;
    // ended freezes are left out.
    for (id, tenant, end) in [
        ("frz-all", None, 500),
        ("frz-other", Some(other), 500),
        ("frz-old", Some(acme), 40),
    ] {
        let freeze = StoredFreeze {
            id: id.into(),
            tenant_id: tenant,
            starts_at: at(35),
            ends_at: at(end),
            reason: "year-end".into(),
            created_by: String::new(),
            created_at: at(0),
        };
        store.create_freeze(&freeze, &actor, at(35)).await.unwrap();
    }
    let freezes = store.list_freezes(&only_acme, None, at(100)).await.unwrap();
    assert_eq!(
        freezes.iter().map(|f| f.id.as_str()).collect::<Vec<_>>(),
        ["frz-all"]
    );
    let freezes = store
        .list_freezes(&Visibility::All, Some(other), at(100))
        .await
        .unwrap();
    assert_eq!(freezes.len(), 2);

    // Settings are per tenant and replaced whole.
    assert_eq!(
        store
            .change_setting(acme, ChangeSetting::RingPlan)
            .await
            .unwrap(),
        None
    );
    let plan = serde_json::json!({"rings": [{"name": "pilot"}, {"name": "broad"}]});
    store
        .set_change_setting(acme, ChangeSetting::RingPlan, &plan, &actor, at(40))
        .await
        .unwrap();
    let plan2 = serde_json::json!({"rings": [{"name": "pilot"}]});
    store
        .set_change_setting(acme, ChangeSetting::RingPlan, &plan2, &actor, at(41))
        .await
        .unwrap();
    assert_eq!(
        store
            .change_setting(acme, ChangeSetting::RingPlan)
            .await
            .unwrap(),
        Some(plan2)
    );
    assert_eq!(
        store
            .change_setting(other, ChangeSetting::RingPlan)
            .await
            .unwrap(),
        None
    );

    // A problem report is closed once.
    let report = ProblemReport {
        id: "prb-1".into(),
        change_id: "chg-1".into(),
        tenant_id: acme,
        host_id: None,
        reported_by: "customer".into(),
        text: "the shop shows errors".into(),
        opened_at: at(50),
        closed_at: None,
        closed_by: None,
        resolution: None,
    };
    store.open_problem_report(&report, &actor).await.unwrap();
    let closed = store
        .close_problem_report("prb-1", "cache flushed", &actor, at(60))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (closed.closed_at, closed.resolution.as_deref()),
        (Some(at(60)), Some("cache flushed"))
    );
    assert!(
        store
            .close_problem_report("prb-1", "again", &actor, at(61))
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(store.problem_reports("chg-1").await.unwrap(), vec![closed]);
}

pub async fn job_reports_are_recorded_once(store: Store) {
    use rivet_core::id::HostId;
    use rivet_core::job::{JobOutcome, JobPackage, JobReport, PackageChange, RebootPolicy};
    use rivet_store::{JobKind, JobState, ReportReceipt, StoredChange, StoredJob};
    let _provider = bootstrapped(&store).await;
    let acme = customer(&store, "Acme").await;
    let actor = Actor::system();
    let change = StoredChange {
        id: "chg-1".into(),
        tenant_id: acme,
        kind: "normal".into(),
        state: "in_progress".into(),
        title: "openssl".into(),
        review_due: false,
        created_at: at(0),
        updated_at: at(0),
        revision: 0,
        body: serde_json::json!({}),
    };
    store.create_change(&change, &actor, at(1)).await.unwrap();
    let (web, db) = (HostId::new(at(0), rnd()), HostId::new(at(0), rnd()));
    let job = |id: &str, host: HostId, ring: &str| StoredJob {
        id: id.into(),
        change_id: "chg-1".into(),
        tenant_id: acme,
        host_id: host,
        kind: JobKind::Install,
        ring: ring.into(),
        state: JobState::Pending,
        packages: vec![JobPackage {
            name: "openssl".into(),
            version: "3.0.15-1~deb12u1".into(),
            architecture: Some("amd64".into()),
        }],
        not_before: at(100),
        not_after: Some(at(7300)),
        reboot: RebootPolicy::InWindow,
        created_at: at(2),
        dispatched_at: None,
        reported_at: None,
        report: None,
    };
    let before = audit_count(&store).await;
    store
        .create_jobs(
            &[job("job-1", web, "pilot"), job("job-2", db, "broad")],
            &actor,
            at(2),
        )
        .await
        .unwrap();
    assert_eq!(
        audit_count(&store).await,
        before + 1,
        "one entry for the batch"
    );
    let stored = store.jobs_of_change("chg-1").await.unwrap();
    assert_eq!(
        stored,
        vec![job("job-1", web, "pilot"), job("job-2", db, "broad")]
    );
    assert!(
        store.dispatched_jobs(web).await.unwrap().is_empty(),
        "pending jobs stay on the server"
    );

    let ids = vec!["job-1".to_owned()];
    assert_eq!(
        store
            .move_jobs(&ids, JobState::Pending, JobState::Dispatched, at(100))
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .move_jobs(&ids, JobState::Pending, JobState::Dispatched, at(101))
            .await
            .unwrap(),
        0
    );
    let handed = store.dispatched_jobs(web).await.unwrap();
    assert_eq!(handed.len(), 1);
    assert_eq!(handed[0].dispatched_at, Some(at(100)));
    assert_eq!(handed[0].to_job().packages[0].version, "3.0.15-1~deb12u1");

    let report = JobReport {
        outcome: JobOutcome::Succeeded,
        started_at: at(110),
        finished_at: at(170),
        packages: vec![PackageChange {
            name: "openssl".into(),
            from: Some("3.0.14-1~deb12u1".into()),
            to: Some("3.0.15-1~deb12u1".into()),
        }],
        rebooted: false,
        message: String::new(),
    };
    // Another host cannot report it; a pending job cannot be reported.
    assert_eq!(
        store
            .report_job(db, "job-1", &report, at(180))
            .await
            .unwrap(),
        ReportReceipt::NotOpen
    );
    assert_eq!(
        store
            .report_job(db, "job-2", &report, at(180))
            .await
            .unwrap(),
        ReportReceipt::NotOpen
    );
    let ReportReceipt::Recorded(done) = store
        .report_job(web, "job-1", &report, at(180))
        .await
        .unwrap()
    else {
        panic!("the first report is recorded");
    };
    assert_eq!(
        (done.state, done.reported_at),
        (JobState::Succeeded, Some(at(180)))
    );
    let audited = audit_count(&store).await;
    let failed = JobReport {
        outcome: JobOutcome::Failed,
        ..report.clone()
    };
    let ReportReceipt::Repeated(kept) = store
        .report_job(web, "job-1", &failed, at(190))
        .await
        .unwrap()
    else {
        panic!("a repeat is not recorded again");
    };
    assert_eq!(kept.report, Some(report));
    assert_eq!(audit_count(&store).await, audited);
    assert!(store.dispatched_jobs(web).await.unwrap().is_empty());

    // Aborting skips what never ran.
    let rest = vec!["job-1".to_owned(), "job-2".to_owned()];
    assert_eq!(
        store
            .move_jobs(&rest, JobState::Pending, JobState::Skipped, at(200))
            .await
            .unwrap(),
        1
    );
    let states: Vec<JobState> = store
        .jobs_of_change("chg-1")
        .await
        .unwrap()
        .iter()
        .map(|j| j.state)
        .collect();
    assert_eq!(states, [JobState::Succeeded, JobState::Skipped]);
}

fn repo_package(name: &str, arch: &str, version: &str) -> rivet_store::RepositoryPackage {
    rivet_store::RepositoryPackage {
        name: name.into(),
        arch: arch.into(),
        version: version.into(),
        source_name: name.into(),
        source_version: version.into(),
    }
}

fn new_repository(
    tenant: Option<TenantId>,
    name: &str,
    ecosystem: &str,
    approved: bool,
) -> rivet_store::NewRepository {
    rivet_store::NewRepository {
        id: format!("repo-{}", uuid::Uuid::new_v4().simple()),
        tenant_id: tenant,
        name: name.into(),
        kind: rivet_store::RepositoryKind::Apt,
        ecosystem: ecosystem.into(),
        security: false,
        approved,
    }
}

/// Repositories belong to a tenant or to every tenant (provider-wide);
/// names are unique within each; listings show the provider-wide ones and
/// the visible tenants' own; every change is audited.
pub async fn repositories_are_scoped_to_tenants(store: Store) {
    bootstrapped(&store).await;
    let a = customer(&store, "Repo A").await;
    let b = customer(&store, "Repo B").await;
    let actor = Actor::system();
    let before = audit_count(&store).await;
    let shared = store
        .create_repository(
            &new_repository(None, "bookworm", "Debian:12", true),
            &actor,
            at(10),
        )
        .await
        .unwrap();
    assert_eq!(shared.tenant_id, None);
    assert_eq!((shared.package_count, shared.imported_at), (0, None));
    let own_a = store
        .create_repository(
            &new_repository(Some(a), "bookworm", "Debian:12", true),
            &actor,
            at(11),
        )
        .await
        .unwrap();
    let own_b = store
        .create_repository(
            &new_repository(Some(b), "internal", "Debian:12", false),
            &actor,
            at(12),
        )
        .await
        .unwrap();
    for duplicate in [
        new_repository(None, "bookworm", "Debian:12", true),
        new_repository(Some(a), "bookworm", "AlmaLinux:9", true),
    ] {
        let e = store
            .create_repository(&duplicate, &actor, at(13))
            .await
            .unwrap_err();
        assert!(matches!(e, StoreError::Conflict(_)), "{e}");
    }
    assert_eq!(audit_count(&store).await, before + 3);

    let page = PageRequest::new(Some(100), None).unwrap();
    let names = |p: rivet_core::page::Page<rivet_store::Repository>| {
        p.items.into_iter().map(|r| r.id).collect::<BTreeSet<_>>()
    };
    let only_a = Visibility::Tenants(BTreeSet::from([a]));
    assert_eq!(
        names(store.list_repositories(&only_a, None, &page).await.unwrap()),
        BTreeSet::from([shared.id.clone(), own_a.id.clone()])
    );
    // With a tenant: only that tenant's own.
    assert_eq!(
        names(
            store
                .list_repositories(&only_a, Some(a), &page)
                .await
                .unwrap()
        ),
        BTreeSet::from([own_a.id.clone()])
    );
    assert!(
        names(
            store
                .list_repositories(&only_a, Some(b), &page)
                .await
                .unwrap()
        )
        .is_empty()
    );
    assert_eq!(
        names(
            store
                .list_repositories(&Visibility::All, None, &page)
                .await
                .unwrap()
        )
        .len(),
        3
    );
    // A host of A may use A's and the provider-wide approved repositories
    // of its ecosystem; B's unapproved one serves nobody.
    let usable = store.approved_repositories(a, "Debian:12").await.unwrap();
    assert_eq!(
        usable.iter().map(|r| r.id.clone()).collect::<BTreeSet<_>>(),
        BTreeSet::from([shared.id.clone(), own_a.id.clone()])
    );
    assert!(
        store
            .approved_repositories(b, "Debian:12")
            .await
            .unwrap()
            .len()
            == 1
    );
    assert!(
        store
            .approved_repositories(a, "Debian:11")
            .await
            .unwrap()
            .is_empty()
    );

    let deleted = store
        .delete_repository(&own_b.id, &actor, at(20))
        .await
        .unwrap();
    assert_eq!(deleted.map(|r| r.id), Some(own_b.id.clone()));
    assert!(store.get_repository(&own_b.id).await.unwrap().is_none());
    assert!(
        store
            .delete_repository(&own_b.id, &actor, at(21))
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(audit_count(&store).await, before + 4);
    assert_eq!(store.verify_audit().await.unwrap().map(|_| ()), Ok(()));
}

/// An import replaces what a repository offers whole, in one transaction;
/// errata are imported beside the packages; deleting the repository takes
/// both along. The reads the missing updates make find them by name.
pub async fn repository_metadata_is_replaced_whole(store: Store) {
    bootstrapped(&store).await;
    let actor = Actor::system();
    let repo = store
        .create_repository(
            &new_repository(None, "baseos", "AlmaLinux:9", true),
            &actor,
            at(10),
        )
        .await
        .unwrap();
    // 12,001 packages: three statements, and a duplicate stored once.
    let mut packages: Vec<_> = (0..12_000)
        .map(|i| repo_package(&format!("pkg{i}"), "x86_64", "1.0-1.el9"))
        .collect();
    packages.push(repo_package("pkg7", "x86_64", "1.0-1.el9"));
    packages.push(repo_package("openssl", "x86_64", "1:3.0.7-27.el9"));
    let before = audit_count(&store).await;
    let r = store
        .import_repository_packages(&repo.id, &packages, "d1", &actor, at(20))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r.package_count, 12_001);
    assert_eq!(
        (r.metadata_digest.as_deref(), r.imported_at),
        (Some("d1"), Some(at(20)))
    );
    let ids = [repo.id.clone()];
    let offers = store
        .repository_offers(&ids, &["openssl".into(), "pkg7".into(), "absent".into()])
        .await
        .unwrap();
    assert_eq!(offers.len(), 2);
    assert!(offers.contains(&(
        repo.id.clone(),
        repo_package("openssl", "x86_64", "1:3.0.7-27.el9")
    )));

    let r = store
        .import_repository_packages(
            &repo.id,
            &[repo_package("openssl", "x86_64", "1:3.0.7-28.el9")],
            "d2",
            &actor,
            at(30),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r.package_count, 1);
    let offers = store
        .repository_offers(&ids, &["openssl".into(), "pkg7".into()])
        .await
        .unwrap();
    assert_eq!(
        offers,
        [(
            repo.id.clone(),
            repo_package("openssl", "x86_64", "1:3.0.7-28.el9")
        )]
    );

    let erratum = rivet_store::RepositoryErratum {
        id: "ALSA-2024:2447".into(),
        kind: "security".into(),
        severity: Some("Moderate".into()),
        issued: Some("2024-04-30 00:00:00".into()),
        title: Some("openssl security update".into()),
        cves: vec!["CVE-2024-0727".into()],
        references: vec!["RHSA-2024:2447".into()],
        packages: vec![
            ("openssl".into(), "x86_64".into(), "1:3.0.7-27.el9".into()),
            (
                "openssl-libs".into(),
                "x86_64".into(),
                "1:3.0.7-27.el9".into(),
            ),
        ],
    };
    let r = store
        .import_repository_errata(&repo.id, &[erratum.clone(), erratum], "e1", &actor, at(40))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((r.erratum_count, r.package_count), (1, 1));
    assert_eq!(r.errata_digest.as_deref(), Some("e1"));
    let found = store
        .repository_erratum_offers(&ids, &["openssl".into()])
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(
        (
            found[0].erratum_id.as_str(),
            found[0].kind.as_str(),
            found[0].version.as_str()
        ),
        ("ALSA-2024:2447", "security", "1:3.0.7-27.el9")
    );
    assert!(
        store
            .import_repository_packages("repo-none", &packages, "x", &actor, at(50))
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(audit_count(&store).await, before + 3);

    store
        .delete_repository(&repo.id, &actor, at(60))
        .await
        .unwrap()
        .unwrap();
    assert!(
        store
            .repository_offers(&ids, &["openssl".into()])
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .repository_erratum_offers(&ids, &["openssl".into()])
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.verify_audit().await.unwrap().map(|_| ()), Ok(()));
}

/// The reads behind the missing updates: hosts with their OS, the distinct
/// packages they hold, which hosts hold which, and open findings' fixes.
pub async fn update_reads_group_hosts_by_package(store: Store) {
    use rivet_core::finding::Level;
    use rivet_store::HostFindingsDraft;
    bootstrapped(&store).await;
    let tenant = customer(&store, "Updates").await;
    let other = customer(&store, "Other").await;
    let web = enrolled_host(&store, tenant, "web").await;
    let db = enrolled_host(&store, tenant, "db").await;
    let stranger = enrolled_host(&store, other, "x").await;
    let write = |host, packages: &[(&str, &str)]| {
        let store = store.clone();
        let inventory = inventory_of(packages);
        async move {
            let digest = rivet_core::host::digest(&inventory);
            let outcome = store
                .store_inventory(rivet_store::InventoryWrite {
                    host,
                    inventory,
                    digest,
                    expected_base: None,
                    at: at(100),
                })
                .await;
            assert!(matches!(outcome, Ok(Ok(_))), "{outcome:?}");
        }
    };
    write(web, &[("bash", "5.2.15-2"), ("openssl", "3.0.11-1")]).await;
    write(db, &[("bash", "5.2.15-2"), ("curl", "7.88.1-10")]).await;
    write(stranger, &[("bash", "5.2.15-2")]).await;

    let only = Visibility::Tenants(BTreeSet::from([tenant]));
    let hosts = store.update_hosts(&only, None, None).await.unwrap();
    assert_eq!(
        hosts.iter().map(|h| h.id).collect::<BTreeSet<_>>(),
        BTreeSet::from([web, db])
    );
    assert!(
        store
            .update_hosts(&only, Some(other), None)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .update_hosts(&Visibility::All, None, Some(stranger))
            .await
            .unwrap()
            .len(),
        1
    );
    let seqs: Vec<i64> = hosts.iter().map(|h| h.seq).collect();
    let ids = store.distinct_package_ids(&seqs).await.unwrap();
    assert_eq!(ids.len(), 3, "bash is one package on both hosts");
    let packages = store.packages_by_id(&ids).await.unwrap();
    let bash = packages.iter().find(|(_, p)| p.name == "bash").unwrap().0;
    let holding = store.hosts_holding(&seqs, &[bash]).await.unwrap();
    assert_eq!(holding.len(), 2);

    let mut finding = draft("DSA-1", "openssl", "3.0.11-1", Level::High);
    finding.fixed_version = Some("3.0.13-1".into());
    store
        .sync_findings(
            &[HostFindingsDraft {
                host: web,
                findings: vec![finding],
            }],
            at(200),
        )
        .await
        .unwrap();
    let fixes = store
        .open_fixes(&seqs, &["openssl".into(), "bash".into()])
        .await
        .unwrap();
    assert_eq!(fixes.len(), 1);
    assert_eq!(
        (
            fixes[0].fixed_version.as_str(),
            fixes[0].advisory_id.as_str()
        ),
        ("3.0.13-1", "DSA-1")
    );
}

pub async fn notifications_are_queued_once_claimed_and_given_up(store: Store) {
    use rivet_core::id::NotificationId;
    use rivet_core::notify::{Channel, NotificationSettings, WebhookSecret};
    use rivet_store::{
        FailOutcome, MAX_NOTIFICATION_ATTEMPTS, NewNotification, NotificationState, SecretChange,
    };
    let _provider = bootstrapped(&store).await;
    let acme = customer(&store, "Acme").await;
    let other = customer(&store, "Other").await;
    let actor = Actor::system();

    // Settings: the defaults until set; the secret is kept, never shown.
    let unset = store.notification_settings(acme).await.unwrap();
    assert_eq!(unset.settings, NotificationSettings::default());
    assert!(!unset.webhook_secret_set && unset.updated_at.is_none());
    let settings = NotificationSettings {
        email_enabled: true,
        email_recipients: vec!["ops@acme.example".into(), "cto@acme.example".into()],
        webhook_enabled: true,
        webhook_url: Some("https://hooks.acme.example/rivet".into()),
        lead_time_hours: 72,
    };
    let before = audit_count(&store).await;
    let secret = WebhookSecret::new([9; 32]);
    let set = store
        .set_notification_settings(
            acme,
            &settings,
            SecretChange::Set(secret.clone()),
            &actor,
            at(5),
        )
        .await
        .unwrap();
    assert!(set.webhook_secret_set);
    assert_eq!(audit_count(&store).await, before + 1);
    let entry = store
        .list_audit(
            &Visibility::All,
            &AuditFilter {
                action_prefix: Some("tenant.notifications".into()),
                target_id: None,
            },
            &PageRequest::new(None, None).unwrap(),
        )
        .await
        .unwrap()
        .items
        .pop()
        .unwrap();
    assert!(
        !entry.after.unwrap().contains(secret.expose()),
        "the audit log does not keep the secret"
    );
    let (read, kept) = store.notification_delivery(acme).await.unwrap().unwrap();
    assert_eq!((read, kept), (settings.clone(), Some(secret.clone())));
    // Keep leaves the secret; invalid settings are refused.
    store
        .set_notification_settings(acme, &settings, SecretChange::Keep, &actor, at(6))
        .await
        .unwrap();
    assert_eq!(
        store.notification_delivery(acme).await.unwrap().unwrap().1,
        Some(secret)
    );
    let bad = NotificationSettings {
        lead_time_hours: 0,
        ..settings.clone()
    };
    assert!(matches!(
        store
            .set_notification_settings(acme, &bad, SecretChange::Keep, &actor, at(7))
            .await,
        Err(StoreError::Refused(m)) if m.contains("lead_time_hours")
    ));

    // The outbox: a second enqueue of the same keys queues nothing.
    let new = |tenant: TenantId, key: &str, due: Timestamp| NewNotification {
        id: NotificationId::new(at(10), rnd()),
        tenant_id: tenant,
        kind: "downtime_planned".into(),
        channel: Channel::Email,
        target: "ops@acme.example".into(),
        subject: format!("subject {key}"),
        body: "body".into(),
        payload: serde_json::json!({"key": key}),
        dedupe_key: key.into(),
        due_at: due,
    };
    let batch = vec![
        new(acme, "a", at(100)),
        new(acme, "b", at(200)),
        new(other, "a", at(100)),
    ];
    let before = audit_count(&store).await;
    let queued = store
        .enqueue_notifications(&batch, &actor, at(10))
        .await
        .unwrap();
    assert_eq!(queued.len(), 3);
    assert_eq!(
        audit_count(&store).await,
        before + 2,
        "one entry per tenant"
    );
    let again: Vec<NewNotification> = batch
        .iter()
        .map(|n| new(n.tenant_id, &n.dedupe_key, n.due_at))
        .collect();
    assert!(
        store
            .enqueue_notifications(&again, &actor, at(11))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(audit_count(&store).await, before + 2);

    // Nothing is due before its time; a claim holds a row until its lease.
    assert!(
        store
            .claim_due_notifications(at(99), at(99 + 600), 10)
            .await
            .unwrap()
            .is_empty()
    );
    let claimed = store
        .claim_due_notifications(at(100), at(700), 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 2);
    assert!(claimed.iter().all(|n| n.state == NotificationState::Queued));
    assert!(
        store
            .claim_due_notifications(at(150), at(750), 10)
            .await
            .unwrap()
            .is_empty(),
        "claimed rows are not claimed again before their lease ends"
    );
    let (first, second) = (&claimed[0], &claimed[1]);
    assert!(
        store
            .mark_notification_sent(first.id, at(101))
            .await
            .unwrap()
    );
    assert!(
        !store
            .mark_notification_sent(first.id, at(102))
            .await
            .unwrap(),
        "sent once"
    );
    let sent = store.notification(first.id).await.unwrap().unwrap();
    assert_eq!(
        (sent.state, sent.attempts, sent.sent_at),
        (NotificationState::Sent, 1, Some(at(101)))
    );

    // Failures are retried when the caller says, and given up at the cap.
    let mut t = 101;
    for attempt in 1..MAX_NOTIFICATION_ATTEMPTS {
        assert_eq!(
            store
                .mark_notification_failed(second.id, at(t), "HTTP 500\nInternal", Some(at(t + 60)))
                .await
                .unwrap(),
            FailOutcome::Retry
        );
        let row = store.notification(second.id).await.unwrap().unwrap();
        assert_eq!(row.attempts, attempt);
        assert_eq!(row.next_attempt_at, Some(at(t + 60)));
        assert_eq!(row.last_error.as_deref(), Some("HTTP 500 Internal"));
        t += 60;
        let due = store
            .claim_due_notifications(at(t), at(t + 600), 10)
            .await
            .unwrap();
        assert!(due.iter().any(|n| n.id == second.id), "due again at {t}");
    }
    let before = audit_count(&store).await;
    assert_eq!(
        store
            .mark_notification_failed(second.id, at(t), "HTTP 500", Some(at(t + 60)))
            .await
            .unwrap(),
        FailOutcome::GaveUp
    );
    assert_eq!(
        audit_count(&store).await,
        before + 1,
        "a give-up is audited"
    );
    let failed = store.notification(second.id).await.unwrap().unwrap();
    assert_eq!(
        (failed.state, failed.attempts, failed.failed_at),
        (
            NotificationState::Failed,
            MAX_NOTIFICATION_ATTEMPTS,
            Some(at(t))
        )
    );
    assert_eq!(
        store
            .mark_notification_failed(second.id, at(t), "late", None)
            .await
            .unwrap(),
        FailOutcome::NotQueued
    );
    // A permanent refusal gives up at once.
    // (Rows claimed above and not marked are due again once their lease ends.)
    let other_row = store
        .claim_due_notifications(at(t + 600), at(t + 1200), 10)
        .await
        .unwrap();
    assert_eq!(other_row.len(), 1);
    assert_eq!(other_row[0].dedupe_key, "b");
    assert_eq!(
        store
            .mark_notification_failed(other_row[0].id, at(t + 1), "550 no such user", None)
            .await
            .unwrap(),
        FailOutcome::GaveUp
    );

    // Listings: newest first, only visible tenants, filtered by tenant.
    let page = PageRequest::new(None, None).unwrap();
    let all = store
        .list_notifications(&Visibility::All, None, &page)
        .await
        .unwrap();
    assert_eq!(all.items.len(), 3);
    assert!(all.items.windows(2).all(|w| w[0].id > w[1].id));
    let only_acme = store
        .list_notifications(&Visibility::Tenants(BTreeSet::from([acme])), None, &page)
        .await
        .unwrap();
    assert_eq!(only_acme.items.len(), 2);
    assert!(only_acme.items.iter().all(|n| n.tenant_id == acme));
    let foreign = store
        .list_notifications(
            &Visibility::Tenants(BTreeSet::from([acme])),
            Some(other),
            &page,
        )
        .await
        .unwrap();
    assert!(foreign.items.is_empty());

    // Deleting a tenant takes its settings and outbox with it.
    assert!(store.delete_tenant(other, &actor, at(t + 2)).await.unwrap());
    assert_eq!(
        store
            .list_notifications(&Visibility::All, None, &page)
            .await
            .unwrap()
            .items
            .len(),
        2
    );
    assert_eq!(store.verify_audit().await.unwrap().map(|_| ()), Ok(()));
}
