//! The admin CLI as scripts use it: real processes, JSON on stdout, an SQLite
//! file of its own per test. (The commands go through the same `Store` trait
//! as the server, which the storage suite checks on both backends.)

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

struct Cli {
    dir: tempfile::TempDir,
    url: String,
}

impl Cli {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("cli.db").display());
        Self { dir, url }
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_enuchat"));
        cmd.env("ENUCHAT_DATABASE_URL", &self.url)
            .env_remove("ENUCHAT_CONFIG");
        cmd
    }

    fn run(&self, args: &[&str]) -> std::process::Output {
        self.command().args(args).output().unwrap()
    }

    /// Runs a command that must succeed and print JSON lines.
    fn json_lines(&self, args: &[&str]) -> Vec<Value> {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON: {l}")))
            .collect()
    }

    fn json(&self, args: &[&str]) -> Value {
        let mut lines = self.json_lines(args);
        assert_eq!(
            lines.len(),
            1,
            "{args:?} should print exactly one JSON line"
        );
        lines.remove(0)
    }
}

#[test]
fn create_list_revoke_and_credit() {
    let cli = Cli::new();
    let tenant = cli.json(&[
        "tenant",
        "create",
        "--name",
        "Acme",
        "--plan",
        "pro",
        "--language",
        "pl",
    ]);
    let id = tenant["id"].as_str().unwrap().to_owned();
    assert_eq!(tenant["plan"], "pro");
    assert_eq!(tenant["language"], "pl");

    let widget = cli.json(&[
        "widget",
        "create",
        "--tenant",
        &id,
        "--name",
        "Main Website Chat",
        "--ai-enabled",
        "true",
        "--position",
        "bottom-left",
        "--primary-color",
        "#112233",
    ]);
    assert_eq!(widget["aiEnabled"], true);
    assert_eq!(widget["isActive"], true);
    assert_eq!(widget["position"], "bottom-left");

    let op = cli.json(&[
        "operator",
        "create",
        "--tenant",
        &id,
        "--email",
        "Ada@Example.com",
        "--name",
        "Ada",
        "--password",
        "correct horse",
        "--role",
        "admin",
    ]);
    assert_eq!(op["email"], "ada@example.com");
    assert_eq!(op["role"], "admin");
    assert!(!op.to_string().contains("correct horse"));
    let again = cli.run(&[
        "operator",
        "create",
        "--tenant",
        &id,
        "--email",
        "ada@example.com",
        "--name",
        "Ada",
        "--password",
        "correct horse",
    ]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));

    let key = cli.json(&[
        "api-key",
        "create",
        "--tenant",
        &id,
        "--name",
        "CRM",
        "--expires-in",
        "30d",
    ]);
    let secret = key["key"].as_str().unwrap();
    assert!(secret.starts_with("tak_") && secret.len() >= 36);
    assert!(key["expiresAt"].is_string());
    let listed = cli.json_lines(&["api-key", "list", "--tenant", &id]);
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["prefix"], key["prefix"]);
    assert!(listed[0].get("key").is_none());
    assert!(!listed[0].to_string().contains(secret));
    let revoked = cli.json(&["api-key", "revoke", "--id", key["id"].as_str().unwrap()]);
    assert!(revoked["revokedAt"].is_string());

    let credits = cli.json(&["credits", "add", "--tenant", &id, "--amount", "1500"]);
    assert_eq!(credits["amount"], 1500);
    let credits = cli.json(&["credits", "add", "--tenant", &id, "--amount", "500"]);
    assert_eq!(credits["creditBalance"], 2000);

    let demo = cli.json(&["demo", "--tenant", &id, "--conversations", "120"]);
    assert_eq!(demo["conversations"], 120);
    assert!(demo["messages"].as_u64().unwrap() >= 120);
}

#[test]
fn bad_input_is_refused_with_a_clear_message() {
    let cli = Cli::new();
    for (args, needle) in [
        (vec!["tenant", "create", "--name", "  "], "--name"),
        (
            vec!["tenant", "create", "--name", "A", "--plan", "Pro!"],
            "--plan",
        ),
        (
            vec!["tenant", "create", "--name", "A", "--language", "english"],
            "--language",
        ),
        (
            vec![
                "widget",
                "create",
                "--tenant",
                "019d19c6-7e0b-7c3a-9f1e-2b4d6a8c0e12",
                "--name",
                "W",
            ],
            "no tenant",
        ),
        (
            vec![
                "api-key",
                "revoke",
                "--id",
                "019d19c6-7e0b-7c3a-9f1e-2b4d6a8c0e12",
            ],
            "no API key",
        ),
        (
            vec![
                "credits",
                "add",
                "--tenant",
                "019d19c6-7e0b-7c3a-9f1e-2b4d6a8c0e12",
                "--amount",
                "0",
            ],
            "amount",
        ),
    ] {
        let out = cli.run(&args);
        assert!(!out.status.success(), "{args:?} should fail");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
    }
}

#[test]
fn first_serve_creates_an_account_and_prints_a_working_key() {
    let cli = Cli::new();
    let mut child = cli
        .command()
        .args(["serve", "--listen", "127.0.0.1:0", "--demo"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut key = None;
    let mut base = None;
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        if let Some(rest) = line.trim().strip_prefix("API key:") {
            key = Some(rest.trim().to_owned());
        }
        if let Some(rest) = line.trim().strip_prefix("enuchat is ready at ") {
            base = Some(rest.trim().to_owned());
        }
        if line.contains("API description:") {
            break;
        }
    }
    let (key, base) = (key.expect("printed key"), base.expect("printed address"));
    let out = Command::new("curl")
        .args([
            "-s",
            "-H",
            &format!("X-Api-Key: {key}"),
            &format!("{base}/api/v1/tenant-api/conversations?limit=5"),
        ])
        .output();
    // SIGTERM asks for a graceful shutdown.
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let status = child.wait().unwrap();
    assert!(
        status.success(),
        "serve should exit cleanly on SIGTERM: {status}"
    );
    let out = out.expect("curl is needed for this test");
    let body: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        body["data"].as_array().unwrap().len(),
        5,
        "demo conversations are listed: {body}"
    );

    // A second start finds the account and creates nothing.
    let again = cli
        .command()
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(800));
    let _ = Command::new("kill")
        .args(["-TERM", &again.id().to_string()])
        .status();
    let output = again.wait_with_output().unwrap();
    assert!(!String::from_utf8_lossy(&output.stdout).contains("API key:"));
}

/// A tenant and one of its widgets, made with the CLI: (tenant id, widget id).
fn tenant_with_widget(cli: &Cli, name: &str) -> (String, String) {
    let tenant = cli.json(&["tenant", "create", "--name", name]);
    let tenant = tenant["id"].as_str().unwrap().to_owned();
    let widget = cli.json(&["widget", "create", "--tenant", &tenant, "--name", "Chat"]);
    (tenant, widget["id"].as_str().unwrap().to_owned())
}

#[test]
fn knowledge_entries_are_added_listed_and_removed() {
    let cli = Cli::new();
    let (tenant, widget) = tenant_with_widget(&cli, "Acme");
    let (_, other_widget) = tenant_with_widget(&cli, "Other");

    assert_eq!(
        cli.json(&["knowledge", "list", "--widget", &widget]),
        serde_json::json!([])
    );
    let hours = cli.json(&[
        "knowledge",
        "add",
        "--widget",
        &widget,
        "--question",
        "What are your opening hours?",
        "--answer",
        "We are open 9–17, Monday to Friday.",
    ]);
    let mut keys: Vec<&String> = hours.as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(
        keys,
        ["answer", "createdAt", "id", "question", "widgetId"],
        "{hours}"
    );
    assert_eq!(hours["widgetId"], widget.as_str());
    assert_eq!(hours["question"], "What are your opening hours?");
    assert_eq!(hours["answer"], "We are open 9–17, Monday to Friday.");
    let shipping = cli.json(&[
        "knowledge",
        "add",
        "--widget",
        &widget,
        "--question",
        "Do you ship abroad?",
        "--answer",
        "Yes, to the whole EU.",
    ]);
    // Another widget's entries stay apart.
    cli.json(&[
        "knowledge",
        "add",
        "--widget",
        &other_widget,
        "--question",
        "Elsewhere?",
        "--answer",
        "Yes.",
    ]);

    let listed = cli.json(&["knowledge", "list", "--widget", &widget]);
    assert_eq!(listed, serde_json::json!([hours, shipping]), "oldest first");

    let removed = cli.json(&[
        "knowledge",
        "remove",
        "--tenant",
        &tenant,
        "--id",
        hours["id"].as_str().unwrap(),
    ]);
    assert_eq!(removed, serde_json::json!({"removed": true}));
    let listed = cli.json(&["knowledge", "list", "--widget", &widget]);
    assert_eq!(listed, serde_json::json!([shipping]));

    // Removing it again is an error, and so is removing it via another tenant.
    let again = cli.run(&[
        "knowledge",
        "remove",
        "--tenant",
        &tenant,
        "--id",
        hours["id"].as_str().unwrap(),
    ]);
    assert!(!again.status.success());
    assert!(again.stdout.is_empty());
    assert!(String::from_utf8_lossy(&again.stderr).contains("no knowledge entry"));
    let (stranger, _) = tenant_with_widget(&cli, "Stranger");
    let foreign = cli.run(&[
        "knowledge",
        "remove",
        "--tenant",
        &stranger,
        "--id",
        shipping["id"].as_str().unwrap(),
    ]);
    assert!(!foreign.status.success());
    assert!(String::from_utf8_lossy(&foreign.stderr).contains("no knowledge entry"));
    assert_eq!(
        cli.json(&["knowledge", "list", "--widget", &widget]),
        serde_json::json!([shipping])
    );
}

#[test]
fn knowledge_input_is_refused_with_a_clear_message() {
    let cli = Cli::new();
    let (tenant, widget) = tenant_with_widget(&cli, "Acme");
    let unknown = "019d19c6-7e0b-7c3a-9f1e-2b4d6a8c0e12";
    let long = "x".repeat(10_001);
    for (args, needle) in [
        (
            vec![
                "knowledge",
                "add",
                "--widget",
                &widget,
                "--question",
                "  ",
                "--answer",
                "A",
            ],
            "--question must not be empty",
        ),
        (
            vec![
                "knowledge",
                "add",
                "--widget",
                &widget,
                "--question",
                "Q",
                "--answer",
                "\n\t",
            ],
            "--answer must not be empty",
        ),
        (
            vec![
                "knowledge",
                "add",
                "--widget",
                &widget,
                "--question",
                "Q",
                "--answer",
                &long,
            ],
            "--answer must be at most 10000 characters",
        ),
        (
            vec![
                "knowledge",
                "add",
                "--widget",
                unknown,
                "--question",
                "Q",
                "--answer",
                "A",
            ],
            "no widget with id",
        ),
        (
            vec!["knowledge", "add", "--widget", &widget, "--question", "Q"],
            "--answer",
        ),
        (vec!["knowledge", "list", "--widget", unknown], "no widget"),
        (vec!["knowledge", "list", "--widget", "nope"], "--widget"),
        (
            vec!["knowledge", "remove", "--tenant", &tenant, "--id", unknown],
            "no knowledge entry",
        ),
        (
            vec!["knowledge", "remove", "--tenant", unknown, "--id", unknown],
            "no tenant",
        ),
        (vec!["knowledge", "remove", "--id", unknown], "--tenant"),
    ] {
        let out = cli.run(&args);
        assert!(!out.status.success(), "{args:?} should fail");
        assert!(out.stdout.is_empty(), "{args:?} printed on stdout");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
    }
    assert_eq!(
        cli.json(&["knowledge", "list", "--widget", &widget]),
        serde_json::json!([]),
        "nothing was added"
    );
}

#[test]
fn backups_are_working_databases_and_never_overwrite() {
    let cli = Cli::new();
    let (tenant, _) = tenant_with_widget(&cli, "Acme");
    let key = cli.json(&["api-key", "create", "--tenant", &tenant, "--name", "CRM"]);
    let target = cli.dir.path().join("backup.db");
    let target_arg = target.to_str().unwrap();
    let done = cli.json(&["backup", "--to", target_arg]);
    assert_eq!(done["backup"], target_arg);
    assert!(done["bytes"].as_u64().unwrap() > 0);

    // The copy is a database the CLI (and so the server) opens, with the key.
    let copy_url = format!("sqlite://{target_arg}");
    let listed = cli
        .command()
        .env("ENUCHAT_DATABASE_URL", &copy_url)
        .args(["api-key", "list", "--tenant", &tenant])
        .output()
        .unwrap();
    assert!(
        listed.status.success(),
        "{}",
        String::from_utf8_lossy(&listed.stderr)
    );
    let listed: Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(listed["id"], key["id"]);

    let before = std::fs::read(&target).unwrap();
    let again = cli.run(&["backup", "--to", target_arg]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
    assert_eq!(std::fs::read(&target).unwrap(), before);

    // PostgreSQL is refused before anything connects.
    let other = cli.dir.path().join("other.db");
    let refused = cli
        .command()
        .env("ENUCHAT_DATABASE_URL", "postgres://nobody@127.0.0.1:1/none")
        .args(["backup", "--to", other.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("pg_dump"));
    assert!(!other.exists());
}
