use super::*;

fn claims(sub: &str, workspace: Option<&str>, scope: &str, roles: &[&str]) -> Claims {
    Claims {
        sub: sub.to_owned(),
        workspace: workspace.map(str::to_owned),
        client_id: None,
        email: None,
        roles: roles.iter().map(|r| (*r).to_owned()).collect(),
        scope: scope.to_owned(),
        iat: 0,
        exp: 100,
        nbf: None,
        iss: crate::jwt::ISSUER.to_owned(),
        aud: "hypha-api".to_owned(),
    }
}

#[test]
fn anonymous_owns_only_its_workspace_and_reads_public() {
    let user = User::anonymous("anonymouz-x".into());
    assert_eq!(
        user.permission("ws-user-anonymouz-x"),
        Some(Permission::Admin)
    );
    assert_eq!(user.permission(PUBLIC_WORKSPACE), Some(Permission::Read));
    assert_eq!(user.permission(DEFAULT_WORKSPACE), None);
    assert_eq!(user.permission("ws-user-alice"), None);
    assert!(!user.can_write(PUBLIC_WORKSPACE));
}

#[test]
fn token_workspace_claim_grants_read_write_unless_scoped() {
    let user = User::from_claims(&claims("bob", Some("lab"), "", &[]));
    assert_eq!(user.permission("lab"), Some(Permission::ReadWrite));
    let reader = User::from_claims(&claims("bob", Some("lab"), "ws:lab#r", &[]));
    assert_eq!(reader.permission("lab"), Some(Permission::Read));
    assert!(!reader.can_write("lab"));
}

#[test]
fn public_is_never_writable_except_by_root() {
    let user = User::from_claims(&claims("bob", Some("public"), "ws:public#a", &[]));
    assert_eq!(user.permission(PUBLIC_WORKSPACE), Some(Permission::Read));
    assert!(User::root().can_write(PUBLIC_WORKSPACE));
}

#[test]
fn admin_role_alone_does_not_make_root() {
    let user = User::from_claims(&claims("mallory", None, "", &[ADMIN_ROLE]));
    assert!(!user.is_root());
    assert_eq!(user.permission(DEFAULT_WORKSPACE), None);
    assert!(User::from_claims(&claims("root", None, "", &[ADMIN_ROLE])).is_root());
}

#[test]
fn scope_string_round_trips_through_claims() {
    let user = User::from_claims(&claims("bob", None, "ws:a#r ws:b#a file:read", &[]));
    let again = User::from_claims(&claims("bob", None, &user.scope_string(), &[]));
    assert_eq!(user.grants, again.grants);
    assert_eq!(again.extra_scopes, vec!["file:read".to_owned()]);
}

#[test]
fn names_with_separators_are_invalid() {
    for bad in ["", "a/b", "a:b", "a@b", "*", "a b", "x#y"] {
        assert!(!is_valid_name(bad), "{bad:?} accepted");
    }
    assert!(is_valid_name("ws-user-anonymouz-abc"));
}

#[test]
fn a_name_is_checked_per_character_the_same_in_ascii_and_beyond() {
    // The rule, character by character, as the ASCII fast path must keep it.
    let allowed = |c: char| {
        !matches!(c, '/' | ':' | '@' | '*' | '#') && !c.is_whitespace() && !c.is_control()
    };
    for c in (0u8..=0x7f).map(char::from) {
        let alone = c.to_string();
        assert_eq!(is_valid_name(&alone), allowed(c), "{c:?} alone");
        // The same character among non-ASCII ones takes the other path.
        let mixed = format!("é{c}é");
        assert_eq!(is_valid_name(&mixed), allowed(c), "{c:?} among non-ASCII");
    }
    for c in ['é', '名', '\u{85}', '\u{a0}', '\u{2028}', '\u{9f}'] {
        assert_eq!(is_valid_name(&format!("a{c}")), allowed(c), "{c:?}");
    }
    assert!(is_valid_name(&"a".repeat(128)));
    assert!(!is_valid_name(&"a".repeat(129)));
}

#[test]
fn grants_keep_the_highest_permission_in_name_order() {
    let user = User::from_claims(&claims(
        "bob",
        Some("b"),
        "ws:c#r ws:b#r ws:a#rw ws:c#a",
        &[],
    ));
    let grants: Vec<_> = user.grants.iter().collect();
    assert_eq!(
        grants,
        [
            ("a", Permission::ReadWrite),
            ("b", Permission::Read),
            ("c", Permission::Admin)
        ]
    );
    assert_eq!(user.scope_string(), "ws:a#rw ws:b#r ws:c#a");
    let claimed = User::from_claims(&claims("bob", Some("d"), "ws:c#r", &[]));
    assert_eq!(claimed.permission("d"), Some(Permission::ReadWrite));
    assert!(!claimed.grants.contains("a"));
}
