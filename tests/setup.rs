//! `setup` (non-interactive on temporary home and workspace directories, and
//! interactive through a pseudo-terminal), `status`, `completions`, `man`.

mod common;

use std::path::{Path, PathBuf};

use common::{Recorder, Reply, Sandboxed};
use predicates::prelude::PredicateBooleanExt;
use predicates::str::contains;
use serde_json::{json, Value};

const KEY: &str = "cc_test_setupkey0123456789";

/// A gateway config with keys setup must leave alone (order included).
fn gateway_doc() -> Value {
    json!({
        "meta": {"lastTouchedVersion": "2026.1.5"},
        "gateway": {
            "mode": "local",
            "port": 19123,
            "bind": "loopback",
            "auth": {"mode": "token", "token": "gw-secret-token"},
            "tools": {"allow": ["web_fetch"], "deny": ["exec"]},
            "http": {"endpoints": {"chatCompletions": {"enabled": true}}}
        },
        "agents": {
            "defaults": {"workspace": "~/.openclaw/workspace", "model": {"primary": "x/y"}},
            "list": [
                {"id": "helper", "workspace": "~/elsewhere"},
                {"id": "pal", "default": true, "workspace": "~/ws-pal", "name": "Pal"}
            ]
        },
        "channels": {"telegram": {"enabled": true}},
        "zz_last": [1, 2, 3]
    })
}

/// Home with `~/.openclaw/openclaw.json` and the default agent's workspace.
fn prepare_home(t: &Sandboxed, gateway: &Value) -> PathBuf {
    let home = t.home();
    std::fs::create_dir_all(home.join(".openclaw")).unwrap();
    std::fs::write(home.join(".openclaw/openclaw.json"), serde_json::to_string_pretty(gateway).unwrap()).unwrap();
    let ws = home.join("ws-pal");
    std::fs::create_dir_all(&ws).unwrap();
    std::fs::write(ws.join("USER.md"), "# USER.md\n\n- **Name:** Alex Doe\n- **What to call them:** Alex (he/him)\n")
        .unwrap();
    std::fs::write(ws.join("IDENTITY.md"), "# IDENTITY\n- Name: Claw — a helpful lobster\n- Emoji: 🦞\n").unwrap();
    home
}

fn user_config(t: &Sandboxed) -> PathBuf {
    t.home().join(".config/clawdtalk/skill-config.json")
}

fn read_json(p: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

#[cfg(unix)]
fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

fn api_ok() -> Recorder {
    let srv = Recorder::start();
    srv.on("GET", "/v1/missions", vec![Reply::json(200, json!({"missions": []}))]);
    srv
}

fn server_of(srv: &Recorder) -> String {
    format!("http://{}", srv.addr)
}

#[test]
fn setup_non_interactive_writes_0600_config_and_only_extends_the_gateway_allow_list() {
    let srv = api_ok();
    let t = Sandboxed::new();
    let home = prepare_home(&t, &gateway_doc());
    t.cmd()
        .args(["setup", "--api-key", KEY, "--server", &server_of(&srv), "--yes"])
        .assert()
        .success()
        .stdout(contains("accepted").and(contains("Added sessions_send")));

    let cfg_path = user_config(&t);
    let cfg = read_json(&cfg_path);
    assert_eq!(
        cfg,
        json!({
            "api_key": KEY,
            "server": server_of(&srv),
            "owner_name": "Alex",
            "agent_name": "Claw",
            "greeting": "Hey Alex, what's up?",
            "gateway_url": "http://127.0.0.1:19123",
            "gateway_token": "gw-secret-token",
            "agent_id": "pal"
        })
    );
    #[cfg(unix)]
    assert_eq!(mode(&cfg_path), 0o600);

    // The gateway config: identical apart from the allow list, key order kept.
    let mut expected = gateway_doc();
    expected["gateway"]["tools"]["allow"] = json!(["web_fetch", "sessions_send", "sessions_history"]);
    let after = std::fs::read_to_string(home.join(".openclaw/openclaw.json")).unwrap();
    assert_eq!(after.trim_end(), serde_json::to_string_pretty(&expected).unwrap());

    // The key was proven with one authenticated request.
    let r = srv.single();
    assert_eq!((r.method.as_str(), r.path.as_str()), ("GET", "/v1/missions"));
    assert_eq!(r.header("authorization"), Some(format!("Bearer {KEY}").as_str()));
}

#[test]
fn setup_output_and_json_never_show_the_key_or_gateway_token() {
    let srv = api_ok();
    let t = Sandboxed::new();
    prepare_home(&t, &gateway_doc());
    let out =
        t.cmd().args(["--json", "setup", "--api-key", KEY, "--server", &server_of(&srv), "--yes"]).assert().success();
    let o = out.get_output();
    let text = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert!(!text.contains(KEY) && !text.contains("gw-secret-token"), "{text}");
    let doc: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(doc["key_check"], "accepted");
    assert_eq!(doc["sessions_send"], "added");
    assert_eq!(doc["gateway_token_set"], true);
}

#[test]
fn setup_no_gateway_edit_leaves_the_gateway_file_byte_for_byte() {
    let srv = api_ok();
    let t = Sandboxed::new();
    let home = prepare_home(&t, &gateway_doc());
    let before = std::fs::read(home.join(".openclaw/openclaw.json")).unwrap();
    t.cmd()
        .args(["setup", "--api-key", KEY, "--server", &server_of(&srv), "--yes", "--no-gateway-edit"])
        .assert()
        .success()
        .stdout(contains("does not allow sessions_send").and(contains("--no-gateway-edit")));
    assert_eq!(std::fs::read(home.join(".openclaw/openclaw.json")).unwrap(), before);
    assert_eq!(read_json(&user_config(&t))["gateway_token"], "gw-secret-token");
}

#[test]
fn setup_without_yes_does_not_edit_the_gateway_when_not_on_a_terminal() {
    let srv = api_ok();
    let t = Sandboxed::new();
    let home = prepare_home(&t, &gateway_doc());
    let before = std::fs::read(home.join(".openclaw/openclaw.json")).unwrap();
    t.cmd().args(["setup", "--api-key", KEY, "--server", &server_of(&srv)]).assert().success();
    assert_eq!(std::fs::read(home.join(".openclaw/openclaw.json")).unwrap(), before);
}

#[test]
fn setup_reconfigures_only_with_yes_and_keeps_unknown_keys() {
    let srv = api_ok();
    let t = Sandboxed::new();
    prepare_home(&t, &gateway_doc());
    let local = t.work().join("skill-config.json");
    let old = r#"{"api_key": "cc_live_oldoldoldold1", "custom_key": {"a": 1}, "greeting": "Yo Alex", "server": "https://clawdtalk.com"}"#;
    std::fs::write(&local, old).unwrap();
    t.cmd().args(["setup", "--api-key", KEY, "--server", &server_of(&srv)]).assert().code(2).stderr(contains("--yes"));
    assert_eq!(std::fs::read_to_string(&local).unwrap(), old, "nothing changed without --yes");
    assert!(srv.requests().is_empty(), "nothing sent before consent");

    t.cmd().args(["setup", "--api-key", KEY, "--server", &server_of(&srv), "--yes"]).assert().success();
    let cfg = read_json(&local);
    assert_eq!(cfg["api_key"], KEY);
    assert_eq!(cfg["custom_key"], json!({"a": 1}));
    assert_eq!(cfg["greeting"], "Yo Alex", "an existing greeting is kept");
    let keys: Vec<&String> = cfg.as_object().unwrap().keys().collect();
    assert_eq!(&keys[..4], ["api_key", "custom_key", "greeting", "server"], "existing keys keep their order");
    assert!(!user_config(&t).exists(), "./skill-config.json is the file commands read, so setup updates it");
}

#[test]
fn setup_refuses_a_rejected_key_unless_forced() {
    let srv = Recorder::start();
    srv.on("GET", "/v1/missions", vec![Reply::json(401, json!({"error": {"message": "Invalid API key"}}))]);
    let t = Sandboxed::new();
    prepare_home(&t, &gateway_doc());
    t.cmd()
        .args(["setup", "--api-key", KEY, "--server", &server_of(&srv), "--no-gateway-edit"])
        .assert()
        .code(1)
        .stderr(contains("Invalid API key").and(contains("nothing was saved")));
    assert!(!user_config(&t).exists());
    t.cmd()
        .args(["setup", "--api-key", KEY, "--server", &server_of(&srv), "--no-gateway-edit", "--force"])
        .assert()
        .success()
        .stderr(contains("saved anyway"));
    assert_eq!(read_json(&user_config(&t))["api_key"], KEY);
}

#[test]
fn setup_yes_does_not_save_a_rejected_key_only_force_does() {
    let srv = Recorder::start();
    srv.on("GET", "/v1/missions", vec![Reply::json(403, json!({"error": {"message": "Key revoked"}}))]);
    let t = Sandboxed::new();
    let home = prepare_home(&t, &gateway_doc());
    let gateway_before = std::fs::read(home.join(".openclaw/openclaw.json")).unwrap();
    // An existing configuration, so `--yes` has a reconfigure question to answer.
    let local = t.work().join("skill-config.json");
    let old = r#"{"api_key": "cc_live_oldoldoldold1", "server": "https://clawdtalk.com"}"#;
    std::fs::write(&local, old).unwrap();

    t.cmd()
        .args(["setup", "--api-key", KEY, "--server", &server_of(&srv), "--yes"])
        .assert()
        .code(1)
        .stderr(contains("rejected the API key").and(contains("Key revoked")).and(contains("--force")))
        .stderr(contains("nothing was saved"));
    assert_eq!(std::fs::read_to_string(&local).unwrap(), old, "--yes must not save a rejected key");
    assert_eq!(
        std::fs::read(home.join(".openclaw/openclaw.json")).unwrap(),
        gateway_before,
        "nothing is edited when setup stops"
    );
    assert!(!user_config(&t).exists());

    t.cmd()
        .args(["setup", "--api-key", KEY, "--server", &server_of(&srv), "--yes", "--force"])
        .assert()
        .success()
        .stderr(contains("rejected the API key (Key revoked); saved anyway"));
    assert_eq!(read_json(&local)["api_key"], KEY);
}

#[test]
fn setup_saves_with_a_warning_when_the_service_cannot_be_reached() {
    let t = Sandboxed::new();
    t.cmd()
        .args(["setup", "--api-key", KEY, "--server", "http://127.0.0.1:9", "--yes"])
        .assert()
        .success()
        .stderr(contains("could not check the API key").and(contains("no gateway config found")));
    let cfg = read_json(&user_config(&t));
    assert_eq!(cfg["api_key"], KEY, "an unverified key is saved");
    assert_eq!(cfg["server"], "http://127.0.0.1:9");
    assert!(cfg.get("gateway_url").is_none(), "nothing invented without a gateway config");
}

#[test]
fn setup_needs_a_key_and_a_valid_server_before_anything_happens() {
    let t = Sandboxed::new();
    t.cmd().args(["setup", "--yes"]).assert().code(2).stderr(contains("--api-key"));
    t.cmd().args(["setup", "--api-key", KEY, "--server", "ftp://x"]).assert().code(2);
    assert!(!user_config(&t).exists());
}

#[test]
fn setup_writes_to_a_new_config_path_and_reads_clawdbot_config() {
    let srv = api_ok();
    let t = Sandboxed::new();
    let home = t.home();
    std::fs::create_dir_all(home.join(".clawdbot")).unwrap();
    std::fs::write(
        home.join(".clawdbot/clawdbot.json"),
        r#"{"gateway": {"port": 18800, "tools": {"allow": ["sessions_send", "sessions_history"]}}, "agents": {"list": [{"id": "main"}]}}"#,
    )
    .unwrap();
    let ws = t.path().join("myws");
    std::fs::create_dir_all(&ws).unwrap();
    std::fs::write(ws.join("USER.md"), "**Name:** Sam\n").unwrap();
    let target = t.path().join("conf/new.json");
    t.cmd()
        .args(["--config", target.to_str().unwrap(), "setup", "--api-key", KEY, "--server", &server_of(&srv)])
        .args(["--workspace", ws.to_str().unwrap(), "--agent-name", "Robo"])
        .assert()
        .success()
        .stdout(contains("allows sessions_send"));
    let cfg = read_json(&target);
    assert_eq!(cfg["gateway_url"], "http://127.0.0.1:18800");
    assert_eq!(cfg["agent_id"], "main");
    assert_eq!((cfg["owner_name"].as_str(), cfg["agent_name"].as_str()), (Some("Sam"), Some("Robo")));
    assert!(cfg.get("gateway_token").is_none());
}

// ─── interactive setup through a pseudo-terminal ─────────────────────────────

/// Drives the binary on a pseudo-terminal: waits for each prompt, types the
/// answer, and prints the whole transcript; exits with the child's code.
const PTY_DRIVER: &str = r#"
import json, os, pty, select, sys, time
binary, args, env, steps = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3]), json.loads(sys.argv[4])
pid, fd = pty.fork()
if pid == 0:
    os.execve(binary, [binary] + args, env)
buf, transcript = b"", b""
def read_until(pat, timeout=30):
    global buf
    end = time.time() + timeout
    while pat.encode() not in buf:
        r, _, _ = select.select([fd], [], [], max(0, end - time.time()))
        data = b""
        if r:
            try:
                data = os.read(fd, 4096)
            except OSError:
                data = b""
        if not data:
            sys.stderr.write("no %r in %r\n" % (pat, buf.decode(errors="replace")))
            os.kill(pid, 9)
            sys.exit(97)
        buf += data
    i = buf.index(pat.encode()) + len(pat)
    seen, buf = buf[:i], buf[i:]
    return seen
for pat, answer in steps:
    transcript += read_until(pat)
    time.sleep(0.3)  # let the program switch echo off before a secret is typed
    os.write(fd, (answer + "\n").encode())
while True:
    try:
        data = os.read(fd, 4096)
    except OSError:
        break
    if not data:
        break
    buf += data
transcript += buf
_, status = os.waitpid(pid, 0)
sys.stdout.write(transcript.decode(errors="replace"))
sys.exit(os.waitstatus_to_exitcode(status))
"#;

fn run_on_pty(t: &Sandboxed, args: &[&str], steps: &[(&str, &str)]) -> (i32, String) {
    let bin = assert_cmd::cargo::cargo_bin("clawdtalk");
    let env = json!({
        "PATH": std::env::var("PATH").unwrap_or_default(),
        "HOME": t.home(),
        "XDG_CONFIG_HOME": t.home().join(".config"),
        "XDG_DATA_HOME": t.home().join(".local/share"),
        "NO_COLOR": "1",
        "TERM": "dumb",
    });
    let steps: Vec<[&str; 2]> = steps.iter().map(|(p, a)| [*p, *a]).collect();
    let out = std::process::Command::new("python3")
        .current_dir(t.work())
        .args(["-c", PTY_DRIVER, bin.to_str().unwrap()])
        .arg(serde_json::to_string(args).unwrap())
        .arg(env.to_string())
        .arg(serde_json::to_string(&steps).unwrap())
        .output()
        .expect("python3 runs the pseudo-terminal driver");
    let transcript = String::from_utf8_lossy(&out.stdout).to_string();
    let code = out.status.code().unwrap_or(-1);
    assert_ne!(code, 97, "a prompt never came: {}\n{transcript}", String::from_utf8_lossy(&out.stderr));
    (code, transcript)
}

#[test]
fn interactive_setup_on_a_terminal_asks_hides_the_key_and_asks_before_editing_the_gateway() {
    let srv = api_ok();
    let t = Sandboxed::new();
    let home = prepare_home(&t, &gateway_doc());
    let server = server_of(&srv);
    let (code, transcript) = run_on_pty(
        &t,
        &["setup", "--server", &server],
        &[
            ("API key:", KEY),
            ("Your name (the agent greets you with it) [Alex]:", ""),
            ("Agent name (Enter to skip) [Claw]:", "Clawd"),
            ("Your own phone number, E.164 like +15551234567 (Enter to skip):", "911"),
            ("Your own phone number, E.164 like +15551234567 (Enter to skip):", "+15551230000"),
            ("Add sessions_send, sessions_history to gateway.tools.allow", "y"),
        ],
    );
    assert_eq!(code, 0, "{transcript}");
    assert!(!transcript.contains(KEY), "the key was echoed: {transcript}");
    assert!(transcript.contains("accepted"), "{transcript}");
    let cfg = read_json(&user_config(&t));
    assert_eq!(cfg["api_key"], KEY);
    assert_eq!((cfg["owner_name"].as_str(), cfg["agent_name"].as_str()), (Some("Alex"), Some("Clawd")));
    assert_eq!(cfg["owner_phone"], "+15551230000", "asked again after a bad number");
    assert!(transcript.contains("emergency number"), "the bad number was explained: {transcript}");
    let gw = read_json(&home.join(".openclaw/openclaw.json"));
    assert_eq!(gw["gateway"]["tools"]["allow"], json!(["web_fetch", "sessions_send", "sessions_history"]));

    // A second run asks before reconfiguring; "n" leaves everything as it was.
    let before = std::fs::read(user_config(&t)).unwrap();
    let (code, transcript) = run_on_pty(&t, &["setup"], &[("Reconfigure? (y/N):", "n")]);
    assert_eq!(code, 0, "{transcript}");
    assert!(transcript.contains("Setup cancelled"), "{transcript}");
    assert_eq!(std::fs::read(user_config(&t)).unwrap(), before);
}

#[test]
fn interactive_setup_declining_the_gateway_edit_leaves_it_untouched() {
    let srv = api_ok();
    let t = Sandboxed::new();
    let home = prepare_home(&t, &gateway_doc());
    let before = std::fs::read(home.join(".openclaw/openclaw.json")).unwrap();
    let server = server_of(&srv);
    let (code, transcript) = run_on_pty(
        &t,
        &["setup", "--server", &server],
        &[("API key:", KEY), ("[Alex]:", ""), ("[Claw]:", ""), ("(Enter to skip):", ""), ("Add sessions_send", "n")],
    );
    assert_eq!(code, 0, "{transcript}");
    assert!(transcript.contains("does not allow sessions_send"), "{transcript}");
    assert_eq!(std::fs::read(home.join(".openclaw/openclaw.json")).unwrap(), before);
}

// ─── status ──────────────────────────────────────────────────────────────────

/// A home where the files are fine: config with a key pointing at `api`,
/// `gateway_url` at `gateway`, and the allow list set.
fn healthy(t: &Sandboxed, api: &str, gateway: &Recorder) {
    let mut doc = gateway_doc();
    doc["gateway"]["tools"]["allow"] = json!(["sessions_send", "sessions_history"]);
    prepare_home(t, &doc);
    std::fs::write(
        t.work().join("skill-config.json"),
        json!({"api_key": KEY, "server": api, "gateway_url": server_of(gateway)}).to_string(),
    )
    .unwrap();
}

/// A `clawdtalk connect` daemon for one test home, stopped when dropped
/// (even when the test fails).
struct Daemon<'a>(&'a Sandboxed);

impl<'a> Daemon<'a> {
    fn start(t: &'a Sandboxed) -> Daemon<'a> {
        t.cmd().args(["connect", "start"]).timeout(std::time::Duration::from_secs(30)).assert().success();
        Daemon(t)
    }
}

impl Drop for Daemon<'_> {
    fn drop(&mut self) {
        let _ = self.0.cmd().args(["connect", "stop"]).timeout(std::time::Duration::from_secs(30)).output();
    }
}

#[test]
fn status_passes_when_every_check_passes_with_a_connected_daemon() {
    let sb = common::sandbox::TestSandbox::start();
    let gw = Recorder::start();
    let t = Sandboxed::new();
    healthy(&t, &sb.root, &gw);
    let daemon = Daemon::start(&t);
    let out = t.cmd().arg("status").assert().success();
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    for name in ["config", "api key", "service", "connect", "gateway", "gateway tools", "state"] {
        assert!(stdout.lines().any(|l| l.starts_with(&format!("✓ {name} "))), "{name}: {stdout}");
    }
    assert!(stdout.contains("connected since"), "{stdout}");
    assert!(stdout.contains("cc_test_...6789") && !stdout.contains(KEY), "{stdout}");
    assert_eq!(gw.requests().len(), 1, "the gateway was probed once");

    let out = t.cmd().args(["--json", "status"]).assert().success();
    let doc: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(doc["ok"], true);
    assert!(doc["checks"].as_array().unwrap().iter().all(|c| c["status"] == "ok"), "{doc}");

    // Once the daemon stops, the connect check fails with the fix.
    drop(daemon);
    t.cmd()
        .arg("status")
        .assert()
        .code(1)
        .stdout(contains("✗ connect").and(contains("not running")).and(contains("clawdtalk connect start")));
}

#[test]
fn status_fails_with_the_fix_when_the_key_is_rejected_or_sessions_send_missing() {
    let api = Recorder::start();
    api.on("GET", "/v1/missions", vec![Reply::json(401, json!({"message": "bad key"}))]);
    let gw = Recorder::start();
    let t = Sandboxed::new();
    healthy(&t, &server_of(&api), &gw);
    std::fs::write(t.home().join(".openclaw/openclaw.json"), r#"{"gateway": {"tools": {"allow": []}}}"#).unwrap();
    let out = t.cmd().arg("status").assert().code(1);
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(stdout.contains("✗ service") && stdout.contains("rejected the key"), "{stdout}");
    assert!(stdout.contains("✗ gateway tools") && stdout.contains("fix: run `clawdtalk setup`"), "{stdout}");
    assert!(stdout.contains("✗ connect") && stdout.contains("not running"), "{stdout}");
    assert!(stdout.contains("3 checks failed."), "{stdout}");
}

#[test]
fn status_flags_a_gateway_that_allows_sessions_send_but_not_sessions_history() {
    let (api, gw) = (api_ok(), Recorder::start());
    let t = Sandboxed::new();
    healthy(&t, &server_of(&api), &gw);
    std::fs::write(t.home().join(".openclaw/openclaw.json"), r#"{"gateway": {"tools": {"allow": ["sessions_send"]}}}"#)
        .unwrap();
    let out = t.cmd().args(["status", "--offline"]).assert().code(1);
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(stdout.contains("✗ gateway tools") && stdout.contains("does not list sessions_history"), "{stdout}");
}

#[test]
fn status_reports_the_state_file_and_its_active_missions() {
    let (api, gw) = (api_ok(), Recorder::start());
    let t = Sandboxed::new();
    healthy(&t, &server_of(&api), &gw);
    let state = t.work().join(".missions_state.json");
    std::fs::write(&state, r#"{"find-cleaners": {"mission_id": "m1"}, "call-dentist": {"mission_id": "m2"}}"#).unwrap();
    t.cmd()
        .args(["status", "--offline"])
        .assert()
        .stdout(contains("✓ state").and(contains("2 active: find-cleaners, call-dentist")));
    std::fs::write(&state, "{oops").unwrap();
    t.cmd().arg("status").assert().code(1).stdout(contains("✗ state"));
}

#[test]
fn status_for_a_missions_only_user_exits_0_with_voice_routing_not_set_up() {
    let api = api_ok();
    let t = Sandboxed::new();
    std::fs::write(t.work().join("skill-config.json"), json!({"api_key": KEY, "server": server_of(&api)}).to_string())
        .unwrap();
    let out = t.cmd().env("CLAWDTALK_RUNTIME_DIR", t.path().join("run")).arg("status").assert().success();
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(stdout.starts_with("Missions API\n✓ config"), "{stdout}");
    assert!(stdout.contains("✓ service") && stdout.contains("\nVoice routing\n- connect"), "{stdout}");
    assert!(stdout.contains("\nGateway\n- gateway") && !stdout.contains("failed"), "{stdout}");
    // Insisting on voice routing makes its absence a failure.
    let out = t
        .cmd()
        .env("CLAWDTALK_RUNTIME_DIR", t.path().join("run"))
        .args(["status", "--require", "connect"])
        .assert()
        .code(1);
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(stdout.contains("✗ connect") && stdout.contains("not running"), "{stdout}");
}

#[test]
fn status_without_any_configuration_says_to_run_setup() {
    let t = Sandboxed::new();
    t.cmd()
        .args(["status", "--offline"])
        .assert()
        .code(1)
        .stdout(contains("✗ config").and(contains("clawdtalk setup")));
}

fn check<'a>(doc: &'a Value, name: &str) -> &'a Value {
    doc["checks"].as_array().unwrap().iter().find(|c| c["name"] == name).unwrap_or_else(|| panic!("{name}: {doc}"))
}

#[test]
fn status_json_with_a_key_the_sandbox_rejects_says_not_ok_with_the_fix_and_exits_1() {
    let sb = common::sandbox::TestSandbox::start();
    let gw = Recorder::start();
    let t = Sandboxed::new();
    healthy(&t, &sb.root, &gw);
    std::fs::write(
        t.work().join("skill-config.json"),
        json!({"api_key": "cc_live_notatestkey0000", "server": sb.root, "gateway_url": server_of(&gw)}).to_string(),
    )
    .unwrap();
    let out = t.cmd().args(["--json", "status"]).assert().code(1);
    let doc: Value = serde_json::from_slice(&out.get_output().stdout).expect("one JSON document on stdout");
    assert_eq!(doc["ok"], false, "{doc}");
    let service = check(&doc, "service");
    assert_eq!(service["status"], "fail", "{doc}");
    assert!(service["detail"].as_str().unwrap().contains("rejected the key"), "{doc}");
    assert!(service["fix"].as_str().unwrap().contains("clawdtalk setup --api-key KEY"), "{doc}");
    assert_eq!(check(&doc, "api key")["status"], "ok", "the key is present, only refused: {doc}");
    assert!(!doc.to_string().contains("cc_live_notatestkey0000"), "the key is masked: {doc}");
}

#[test]
fn status_json_without_any_configuration_says_not_ok_with_the_fix_and_exits_1() {
    let t = Sandboxed::new();
    let out = t.cmd().args(["--json", "status", "--offline"]).assert().code(1);
    let doc: Value = serde_json::from_slice(&out.get_output().stdout).expect("one JSON document on stdout");
    assert_eq!(doc["ok"], false, "{doc}");
    let config = check(&doc, "config");
    assert_eq!(config["status"], "fail", "{doc}");
    assert_eq!(config["fix"], "run `clawdtalk setup`", "{doc}");
    let key = check(&doc, "api key");
    assert_eq!((key["status"].as_str(), key["detail"].as_str()), (Some("fail"), Some("not set")), "{doc}");
    assert!(key["fix"].as_str().unwrap().contains("clawdtalk setup --api-key KEY"), "{doc}");
    assert_eq!(check(&doc, "service")["status"], "unknown", "--offline does not check the service: {doc}");
}

// ─── completions and man ─────────────────────────────────────────────────────

#[test]
fn completions_for_each_shell_and_man_pages() {
    let t = Sandboxed::new();
    t.cmd().args(["completions", "bash"]).assert().success().stdout(contains("_clawdtalk()").and(contains("sms")));
    t.cmd().args(["completions", "zsh"]).assert().success().stdout(contains("#compdef clawdtalk"));
    t.cmd().args(["completions", "fish"]).assert().success().stdout(contains("complete -c clawdtalk"));
    t.cmd().args(["completions", "powershell"]).assert().success().stdout(contains("Register-ArgumentCompleter"));
    t.cmd().args(["completions", "tcsh"]).assert().code(2);
    t.cmd().arg("man").assert().success().stdout(contains(".TH clawdtalk").and(contains("approval")));
    t.cmd().args(["man", "approval"]).assert().success().stdout(contains(".TH clawdtalk-approval"));
    t.cmd().args(["man", "nope"]).assert().code(2);
    t.cmd().args(["man", "schedule", "call"]).assert().success().stdout(contains(".TH clawdtalk-schedule-call"));
    t.cmd().args(["man", "schedule", "nope"]).assert().code(2).stderr(contains("call, sms"));
    // A broken config file does not stop either.
    std::fs::write(t.work().join("skill-config.json"), "{broken").unwrap();
    t.cmd().args(["completions", "bash"]).assert().success();
}

// ─── against the sandbox ─────────────────────────────────────────────────────

#[test]
fn sandbox_setup_accepts_a_test_key_refuses_another_and_status_agrees() {
    let sb = common::sandbox::TestSandbox::start();
    let t = Sandboxed::new();
    prepare_home(&t, &gateway_doc());
    t.cmd()
        .args(["setup", "--api-key", "cc_live_notatestkey0000", "--server", &sb.root, "--no-gateway-edit"])
        .assert()
        .code(1)
        .stderr(contains("nothing was saved"));
    assert!(!user_config(&t).exists());
    t.cmd()
        .args(["setup", "--api-key", KEY, "--server", &sb.root, "--yes"])
        .assert()
        .success()
        .stdout(contains(format!("accepted by {}", sb.api)));
    let out = t.cmd().args(["--json", "status"]).assert();
    let doc: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let service = doc["checks"].as_array().unwrap().iter().find(|c| c["name"] == "service").unwrap().clone();
    assert_eq!(service["status"], "ok", "{doc}");
}
