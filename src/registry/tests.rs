use super::*;

fn client(conn: u64) -> ClientRecord {
    ClientRecord {
        conn: ConnId(conn),
        user: User::anonymous("u".into()),
        subscriptions: Subscriptions::default(),
    }
}

fn service(ws: &str, cid: &str, name: &str, visibility: Visibility) -> ServiceRecord {
    ServiceRecord {
        id: ServiceId::new(ClientAddr::new(ws, cid), name),
        app_id: "*".into(),
        visibility,
        service_type: "generic".into(),
        authorized_workspaces: vec![],
        require_context: RequireContext::None,
        encoded_info: Box::default(),
        bytes: 100,
    }
}

fn pattern(ws: &str, cid: &str, name: &str) -> ServicePattern {
    ServicePattern {
        workspace: ws.into(),
        client_id: cid.into(),
        name: name.into(),
        app_id: "*".into(),
    }
}

#[test]
fn a_client_address_is_held_once() {
    let mut reg = Registry::new();
    let addr = ClientAddr::new("ws", "c1");
    reg.add_client(addr.clone(), client(1)).unwrap();
    assert_eq!(
        reg.add_client(addr.clone(), client(2)),
        Err(RegistryError::ClientExists(addr))
    );
}

#[test]
fn an_address_splits_at_its_first_slash() {
    for text in [
        "ws/c1", "ws/c1/x", "/c1", "ws/", "/", "c1", "", "é/名", "a//b",
    ] {
        assert_eq!(split_address(text), text.split_once('/'), "{text:?}");
    }
}

#[test]
fn an_address_reads_as_its_own_text_only() {
    let addr = ClientAddr::new("ws", "c1");
    assert!(addr.is_text(&addr.text()));
    for other in [
        "c1", "ws/c2", "wx/c1", "ws/c1/x", "ws/c", "ws/c1x", "/c1", "ws/", "",
    ] {
        assert!(!addr.is_text(other), "{other}");
    }
}

#[test]
fn roots_connection_is_known_while_the_superuser_holds_default_root() {
    let mut reg = Registry::new();
    let root = ClientAddr::new(ROOT_ADDR.0, ROOT_ADDR.1);
    // Anyone else at root's address, or root elsewhere, is not root.
    reg.add_client(root.clone(), client(1)).unwrap();
    let mut superuser = client(2);
    superuser.user = User::root();
    reg.add_client(ClientAddr::new("ws", "root"), superuser.clone())
        .unwrap();
    assert_eq!(reg.root_conn(), None);
    reg.remove_client(&root).unwrap();
    reg.add_client(root.clone(), superuser).unwrap();
    assert_eq!(reg.root_conn(), Some(ConnId(2)));
    reg.remove_client(&ClientAddr::new("ws", "root")).unwrap();
    assert_eq!(reg.root_conn(), Some(ConnId(2)));
    reg.remove_client(&root).unwrap();
    assert_eq!(reg.root_conn(), None);
}

#[test]
fn services_need_a_registered_provider_and_leave_with_it() {
    let mut reg = Registry::new();
    let addr = ClientAddr::new("ws", "c1");
    let orphan = service("ws", "c1", "svc", Visibility::Public);
    assert_eq!(
        reg.register(orphan.clone()),
        Err(RegistryError::UnknownClient(addr.clone()))
    );
    reg.add_client(addr.clone(), client(1)).unwrap();
    reg.add_client(ClientAddr::new("ws", "c10"), client(2))
        .unwrap();
    reg.register(orphan).unwrap();
    reg.register(service("ws", "c1", "other", Visibility::Public))
        .unwrap();
    // `c10` shares the text prefix `ws/c1`; its services must not be taken for c1's.
    reg.register(service("ws", "c10", "svc", Visibility::Public))
        .unwrap();
    let (_, removed) = reg.remove_client(&addr).unwrap();
    assert_eq!(removed.len(), 2);
    assert_eq!(reg.find(&pattern("*", "*", "*")).len(), 1);
}

#[test]
fn patterns_match_each_part() {
    let mut reg = Registry::new();
    for (ws, cid) in [("a", "c1"), ("a", "c2"), ("b", "c1")] {
        reg.add_client(ClientAddr::new(ws, cid), client(0)).unwrap();
        reg.register(service(ws, cid, "echo", Visibility::Protected))
            .unwrap();
    }
    assert_eq!(reg.find(&pattern("a", "*", "echo")).len(), 2);
    assert_eq!(reg.find(&pattern("*", "c1", "echo")).len(), 2);
    assert_eq!(reg.find(&pattern("b", "c1", "*")).len(), 1);
    assert_eq!(reg.find(&pattern("a", "c1", "nope")).len(), 0);
}

#[test]
fn protected_services_are_usable_only_at_home_or_when_authorized() {
    let mut svc = service("a", "c1", "s", Visibility::Protected);
    assert!(svc.usable_from("a"));
    assert!(!svc.usable_from("b"));
    svc.authorized_workspaces.push("b".into());
    assert!(svc.usable_from("b"));
    let unlisted = service("a", "c1", "s", Visibility::Unlisted);
    assert!(unlisted.usable_from("b") && !unlisted.listed_for("a"));
}

#[test]
fn service_quota_is_enforced() {
    let mut reg = Registry::new();
    reg.add_client(ClientAddr::new("ws", "c"), client(1))
        .unwrap();
    for i in 0..MAX_SERVICES_PER_CLIENT {
        reg.register(service("ws", "c", &format!("s{i}"), Visibility::Public))
            .unwrap();
    }
    assert!(matches!(
        reg.register(service("ws", "c", "one-more", Visibility::Public)),
        Err(RegistryError::TooManyServices(_))
    ));
    // Replacing an existing one is still fine.
    reg.register(service("ws", "c", "s0", Visibility::Public))
        .unwrap();
}
