//! Bearer-token authentication: refusals carry `WWW-Authenticate` and a SCIM body; tokens come
//! from the environment, from the config file (hashed or plain), or are generated once.

use std::path::Path;

use reqwest::Method;
use scim_gateway_e2e::{
    Gateway, TOKEN, assert_scim_error, contains_bytes, expect, files_under, hash_token, header,
    scratch_dir, user, write_config,
};

/// GET `/Users` with the given Authorization header value (none for `None`).
fn get_users(gw: &Gateway, authorization: Option<&str>) -> reqwest::blocking::Response {
    let mut req = gw.client.get(format!("{}/Users", gw.base));
    if let Some(value) = authorization {
        req = req.header("authorization", value);
    }
    req.send().expect("request")
}

/// Asserts a `401` with a Bearer challenge and a SCIM error body.
#[track_caller]
fn assert_unauthorized(r: reqwest::blocking::Response) {
    let challenge = header(&r, "www-authenticate").expect("WWW-Authenticate header");
    assert!(challenge.starts_with("Bearer"), "{challenge}");
    assert_scim_error(r, 401, None);
}

/// Without a token, with a wrong one, or with another scheme, every endpoint answers `401`
/// with `WWW-Authenticate` and a SCIM body; nothing is created.
#[test]
fn missing_or_wrong_tokens_are_401() {
    let gw = Gateway::start();
    assert_unauthorized(get_users(&gw, None));
    assert_unauthorized(get_users(&gw, Some("Bearer wrong-token")));
    assert_unauthorized(get_users(&gw, Some(&format!("Bearer {TOKEN}x"))));
    assert_unauthorized(get_users(&gw, Some("Bearer ")));
    assert_unauthorized(get_users(&gw, Some(&format!("Basic {TOKEN}"))));
    assert_unauthorized(get_users(&gw, Some(TOKEN)));
    for (method, path) in [
        (Method::POST, "/Users"),
        (Method::GET, "/Groups"),
        (Method::POST, "/Bulk"),
        (Method::POST, "/.search"),
        (Method::GET, "/ServiceProviderConfig"),
        (Method::GET, "/Me"),
    ] {
        let r = gw
            .client
            .request(method, format!("{}{path}", gw.base))
            .header("content-type", "application/scim+json")
            .body(user("intruder@example.com").to_string())
            .send()
            .expect("request");
        assert_unauthorized(r);
    }
    // The scheme name is case-insensitive (RFC 7235).
    expect(get_users(&gw, Some(&format!("bearer {TOKEN}"))), 200);
    let list = expect(get_users(&gw, Some(&format!("Bearer {TOKEN}"))), 200);
    assert_eq!(list["totalResults"], 0);
}

/// Asserts that no file under `dir` (the store `*.redb` included) holds any of `tokens`.
#[track_caller]
fn assert_no_file_holds(dir: &Path, tokens: &[&str]) {
    let files = files_under(dir);
    assert!(
        files
            .iter()
            .any(|(p, _)| p.extension().is_some_and(|x| x == "redb")),
        "the store is among the files scanned: {:?}",
        files.iter().map(|f| &f.0).collect::<Vec<_>>()
    );
    for (path, bytes) in &files {
        for token in tokens {
            assert!(
                !contains_bytes(bytes, token.as_bytes()),
                "{} holds the token `{token}`",
                path.display()
            );
        }
    }
}

/// Tokens from the config file, as `sha256` (computed with `scim-gateway hash-token`) or as
/// plain `token`, are accepted next to the environment's; others are not; and none of them is
/// written to the data directory.
#[test]
fn config_file_tokens_hashed_or_plain_are_accepted_and_never_stored() {
    let hash = hash_token("entra-s3cret");
    assert_eq!(hash.len(), 64);
    assert!(hash.bytes().all(|b| b.is_ascii_hexdigit()), "{hash}");
    assert_ne!(hash, hash_token("entra-s3creT"));
    let config_dir = scratch_dir("cfg-tokens");
    let config = write_config(
        &config_dir,
        &format!(
            "[[tokens]]\nname = \"x\"\nsha256 = \"{hash}\"\n\n\
             [[tokens]]\nname = \"script\"\ntoken = \"plain-s3cret\"\n"
        ),
    );
    let data = scratch_dir("cfg-tokens-data");
    let mut gw = Gateway::start_in(&data, &["--config", config.to_str().expect("utf-8")]);
    expect(get_users(&gw, Some("Bearer entra-s3cret")), 200);
    expect(get_users(&gw, Some("Bearer plain-s3cret")), 200);
    expect(get_users(&gw, Some(&format!("Bearer {TOKEN}"))), 200);
    assert_unauthorized(get_users(&gw, Some(&format!("Bearer {hash}"))));
    assert_unauthorized(get_users(&gw, Some("Bearer entra-s3cre")));
    // Each token makes a change, so the store records who made it.
    for (i, token) in ["entra-s3cret", "plain-s3cret", TOKEN].iter().enumerate() {
        let r = gw
            .client
            .post(format!("{}/Users", gw.base))
            .bearer_auth(token)
            .header("content-type", "application/scim+json")
            .body(user(&format!("u{i}@example.com")).to_string())
            .send()
            .expect("request");
        expect(r, 201);
    }
    gw.stop();
    assert_no_file_holds(&data, &["entra-s3cret", "plain-s3cret", TOKEN]);
    let _ = std::fs::remove_dir_all(&config_dir);
    let _ = std::fs::remove_dir_all(&data);
}

/// A config-file token works with no environment token at all, and no token is generated.
#[test]
fn a_config_file_token_alone_is_enough_and_no_token_is_generated() {
    let dir = scratch_dir("cfg-token");
    let config = write_config(
        &dir,
        &format!(
            "[[tokens]]\nname = \"x\"\nsha256 = \"{}\"\n",
            hash_token("only-s3cret")
        ),
    );
    let gw = Gateway::spawn(&dir, &["--config", config.to_str().unwrap()], &[]);
    let printed = Gateway::startup_output();
    assert!(
        !printed
            .iter()
            .any(|l| l.contains("SCIM_TOKEN=") || l.contains("generated")),
        "{printed:?}"
    );
    assert!(!dir.join("generated-token").exists());
    expect(get_users(&gw, Some("Bearer only-s3cret")), 200);
    assert_unauthorized(get_users(&gw, Some(&format!("Bearer {TOKEN}"))));
    drop(gw);
    let _ = std::fs::remove_dir_all(&dir);
}

/// With no token configured and no terminal (the tests read its output through a pipe, as a
/// log collector would), the first start writes a generated token to `generated-token`,
/// readable by its owner only, and prints the file's path, never the token. The token works;
/// once the operator deleted that file, only its hash is kept (no file the gateway wrote holds
/// the token, the store included); a restart on the same data directory says nothing and still
/// accepts it.
#[test]
fn a_generated_token_is_written_to_an_owner_only_file_never_printed_and_survives_restart() {
    let dir = scratch_dir("gen-token");
    let mut gw = Gateway::spawn(&dir, &[], &[]);
    let printed = Gateway::startup_output();
    let file = dir.join("generated-token");
    assert!(
        printed
            .iter()
            .any(|l| l.contains(&file.display().to_string())),
        "the path is not shown: {printed:?}"
    );
    let token = std::fs::read_to_string(&file)
        .expect("the token file")
        .trim()
        .to_owned();
    assert!(token.len() >= 32, "{token}");
    assert!(
        !printed.iter().any(|l| l.contains(&token)),
        "printed: {printed:?}"
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| std::fs::metadata(p).expect("metadata").permissions().mode() & 0o777;
    assert_eq!(mode(&file), 0o600);
    // The data directory and what it holds are the owner's only.
    assert_eq!(mode(&dir), 0o700, "the data directory");
    for name in ["gateway.redb", "generated-token.sha256"] {
        assert_eq!(mode(&dir.join(name)), 0o600, "{name}");
    }
    std::fs::remove_file(&file).expect("the operator deletes it");
    let bearer = format!("Bearer {token}");
    expect(get_users(&gw, Some(&bearer)), 200);
    assert_unauthorized(get_users(&gw, Some(&format!("Bearer {TOKEN}"))));
    let created = gw
        .client
        .post(format!("{}/Users", gw.base))
        .header("authorization", &bearer)
        .header("content-type", "application/scim+json")
        .body(user("ann@example.com").to_string())
        .send()
        .expect("request");
    expect(created, 201);
    gw.stop();

    assert_no_file_holds(&dir, &[&token]);

    let again = Gateway::spawn(&dir, &[], &[]);
    let printed = Gateway::startup_output();
    assert!(
        !printed.iter().any(|l| l.contains("SCIM_TOKEN")),
        "printed again: {printed:?}"
    );
    let list = expect(get_users(&again, Some(&bearer)), 200);
    assert_eq!(list["totalResults"], 1);
    assert_unauthorized(get_users(&again, None));
    drop(again);
    let _ = std::fs::remove_dir_all(&dir);
}
