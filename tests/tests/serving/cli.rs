//! Configuration from the command line, the environment and a file, as a
//! deployed binary sees it: precedence, `--help`, and invalid values
//! refused before anything is bound.

use std::io::Read;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use wsgi_core::Config;

/// Runs `program` with `args` and only `env` as its environment; returns
/// its exit status, stdout and stderr. Fails the test after 10 s.
fn run(program: &str, args: &[&str], env: &[(&str, &str)]) -> (ExitStatus, String, String) {
    let mut child = Command::new(program)
        .args(args)
        .env_clear()
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the binary");
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{program} {args:?} did not exit: it should refuse its configuration");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let mut out = String::new();
    let mut err = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    (status, out, err)
}

fn setting<'a>(out: &'a str, name: &str) -> &'a str {
    out.lines()
        .find_map(|line| line.strip_prefix(&format!("{name}=")))
        .unwrap_or_else(|| panic!("{name} not printed: {out}"))
}

#[test]
fn precedence_is_code_then_file_then_environment_then_flags() {
    let path = std::env::temp_dir().join(format!("wsgi-cli-{}.toml", std::process::id()));
    std::fs::write(
        &path,
        "backlog = 8\nmax_requests = 8\nmax_connections = 8\nhttp_keep_alive = 2.5\n",
    )
    .unwrap();
    let (status, out, err) = run(
        env!("CARGO_BIN_EXE_print_config"),
        &[
            "--config",
            path.to_str().unwrap(),
            "--max-connections",
            "10",
        ],
        &[
            ("WSGI_MAX_REQUESTS", "9"),
            ("WSGI_MAX_CONNECTIONS", "9"),
            ("WSGI_BIND", "127.0.0.1:1,unix:/tmp/wsgi.sock"),
        ],
    );
    std::fs::remove_file(&path).unwrap();
    assert!(status.success(), "{err}");
    assert_eq!(setting(&out, "workers"), "7", "code value");
    assert_eq!(setting(&out, "backlog"), "8", "file beats code");
    assert_eq!(setting(&out, "http_keep_alive"), "2.5", "file, in seconds");
    assert_eq!(setting(&out, "max_requests"), "9", "environment beats file");
    assert_eq!(
        setting(&out, "max_connections"),
        "10",
        "flag beats environment"
    );
    assert_eq!(setting(&out, "bind"), "127.0.0.1:1,unix:/tmp/wsgi.sock");
    assert_eq!(setting(&out, "log_level"), "info", "default");
}

#[test]
fn help_lists_every_setting_with_its_default() {
    let (status, out, _) = run(env!("CARGO_BIN_EXE_print_config"), &["--help"], &[]);
    assert!(status.success());
    for name in Config::SETTINGS {
        let flag = format!("--{}", name.replace('_', "-"));
        assert!(out.contains(&flag), "{flag} missing from --help:\n{out}");
        assert!(
            out.contains(&format!("WSGI_{}", name.to_ascii_uppercase())),
            "{name}'s variable missing"
        );
    }
    assert!(out.matches("[default:").count() >= Config::SETTINGS.len());
}

/// Arguments, environment, and a word the error must contain.
type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str);

#[test]
fn invalid_settings_exit_with_an_error_before_binding() {
    let server = env!("CARGO_BIN_EXE_slow_server");
    let file = std::env::temp_dir().join(format!("wsgi-cli-bad-{}.toml", std::process::id()));
    std::fs::write(&file, "wokers = 2\n").unwrap();
    let file = file.to_str().unwrap().to_owned();
    let cases: [Case; 10] = [
        (&["--workers", "many"], &[], "--workers"),
        (
            &["--forwarded-allow-ips", "10.0.0.0/99"],
            &[],
            "forwarded_allow_ips",
        ),
        (
            &[],
            &[("WSGI_FORWARDED_ALLOW_IPS", "127.0.0.1,proxy.internal")],
            "proxy.internal",
        ),
        (&["--bind", "fd://1"], &[], "fd://N"),
        (&[], &[("WSGI_SHUTDOWN_DRAIN", "soon")], "--shutdown-drain"),
        (&["--bind", "127.0.0.1"], &[], "bind"),
        (&["--http-keep-alive", "soon"], &[], "seconds"),
        (&["--access-log-format", "{nope}"], &[], "access_log_format"),
        (&["--config", &file], &[], "wokers"),
        // clap names the flag for a bad environment value too.
        (&[], &[("WSGI_MAX_REQUESTS", "-3")], "--max-requests"),
    ];
    for (args, env, needle) in cases {
        let (status, out, err) = run(server, args, env);
        assert_eq!(status.code(), Some(2), "{args:?} {env:?}: {err}");
        assert!(
            err.contains(needle),
            "{args:?}: {err:?} should mention {needle}"
        );
        assert!(
            !out.contains("listening"),
            "bound despite bad settings: {out}"
        );
    }
    std::fs::remove_file(&file).unwrap();
}

#[test]
fn address_in_use_is_reported_and_exits_non_zero() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let (status, _, err) = run(env!("CARGO_BIN_EXE_slow_server"), &["--bind", &addr], &[]);
    assert!(!status.success());
    assert!(err.contains(&addr) && err.contains("--bind"), "{err}");
}

/// Sends `request` on a new connection and reads the whole response.
fn exchange(addr: &str, request: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(request).unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    response
}

#[test]
fn access_log_follows_access_log_format_and_errors_carry_the_request() {
    use std::io::{BufRead, BufReader};
    let mut child = Command::new(env!("CARGO_BIN_EXE_slow_server"))
        .args([
            "--bind",
            "127.0.0.1:0",
            "--access-log-format",
            "ACCESS {method} {path} q={query} {status} {bytes} {user_agent} from={remote_addr}",
        ])
        .env("NO_COLOR", "1")
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start slow_server");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let addr = loop {
        let line = lines.next().expect("a log line").expect("read");
        if let Some(rest) = line.split("listening on http://").nth(1) {
            break rest.split(' ').next().unwrap().to_owned();
        }
    };
    exchange(
        &addr,
        // From loopback, a trusted proxy by default: the log names the
        // forwarded client, not the peer.
        b"GET /slow?a=1 HTTP/1.1\r\nHost: h\r\nUser-Agent: tester/1\r\nX-Forwarded-For: 203.0.113.5\r\nConnection: close\r\n\r\n",
    );
    let failed = exchange(
        &addr,
        b"GET /fail HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    );
    assert!(failed.starts_with(b"HTTP/1.1 500"));
    let mut seen = Vec::new();
    while !seen.iter().any(|l: &String| l.contains("ACCESS GET /fail")) {
        seen.push(lines.next().expect("more log lines").expect("read"));
    }
    let _ = child.kill();
    let _ = child.wait();
    let log = seen.join("\n");
    assert!(
        log.contains("ACCESS GET /slow q=a=1 200 17 tester/1 from=203.0.113.5"),
        "{log}"
    );
    let error = seen
        .iter()
        .find(|l| l.contains("request failed"))
        .unwrap_or_else(|| panic!("no error line: {log}"));
    assert!(
        error.contains("ERROR") && error.contains("method=GET") && error.contains("uri=/fail"),
        "the error line names the request: {error}"
    );
    assert!(
        !log.contains(" WARN "),
        "requests logged at warn by default: {log}"
    );
}

/// Every line a `slow_server` writes to a pipe when it answers one
/// failing request and then stops (SIGTERM: every line is written before
/// it exits), started with `env` set and `NO_COLOR` and `RUST_LOG` unset.
fn log_over_a_pipe(env: &[(&str, &str)]) -> String {
    use std::io::{BufRead, BufReader};
    let mut child = Command::new(env!("CARGO_BIN_EXE_slow_server"))
        .args([
            "--bind",
            "127.0.0.1:0",
            "--access-log-format",
            "ACCESS {path} from {peer}",
        ])
        .env_remove("NO_COLOR")
        .env_remove("RUST_LOG")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start slow_server");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut seen = Vec::new();
    let addr = loop {
        let line = lines.next().expect("a log line").expect("read");
        seen.push(line.clone());
        if let Some(rest) = line.split("listening on http://").nth(1) {
            let end = rest.find([' ', '\x1b']).unwrap_or(rest.len());
            break rest[..end].to_owned();
        }
    };
    exchange(
        &addr,
        b"GET /fail HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    );
    while !seen.iter().any(|l| l.contains("request failed")) {
        seen.push(lines.next().expect("more log lines").expect("read"));
    }
    wsgi_tests::child::send_signal(child.id(), "TERM");
    seen.extend(lines.map(|line| line.expect("read")));
    let _ = child.wait();
    seen.join("\n")
}

#[test]
fn the_log_has_no_colour_codes_when_stdout_is_not_a_terminal() {
    // Without NO_COLOR: a pipe (or a file) is not a terminal.
    let log = log_over_a_pipe(&[]);
    assert!(log.contains("ACCESS /fail from 127.0.0.1:"), "{log}");
    assert!(log.contains("request failed"), "{log}");
    assert!(!log.contains('\x1b'), "ANSI codes in a pipe: {log:?}");
    // An empty NO_COLOR means "not set": still no colour in a pipe.
    let log = log_over_a_pipe(&[("NO_COLOR", "")]);
    assert!(!log.contains('\x1b'), "ANSI codes in a pipe: {log:?}");
}

#[test]
fn rust_log_turns_the_access_lines_off() {
    let log = log_over_a_pipe(&[("RUST_LOG", "info,wsgi::access=off")]);
    assert!(log.contains("server stopped"), "{log}");
    assert!(!log.contains("ACCESS"), "{log}");
    // With a span-dependent directive the filter is asked per request.
    let log = log_over_a_pipe(&[("RUST_LOG", "info,[nospan]=debug")]);
    assert!(log.contains("ACCESS /fail"), "{log}");
}

/// `GET /` from a `settings_server` started with `args` and `env`: the
/// greeting its handler makes from the typed application settings.
fn greeting(args: &[&str], env: &[(&str, &str)]) -> String {
    let server = wsgi_tests::child::ChildServer::start_with_env(
        env!("CARGO_BIN_EXE_settings_server"),
        args,
        env,
    );
    let response = exchange(
        &server.addr().to_string(),
        b"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    );
    let response = String::from_utf8(response).expect("a text response");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    let (_, body) = response.split_once("\r\n\r\n").expect("a head and a body");
    body.to_owned()
}

#[test]
fn app_settings_reach_the_handler_typed_from_flags_environment_and_file() {
    assert_eq!(greeting(&[], &[]), "Hello x1, secret key: no", "defaults");
    assert_eq!(
        greeting(&["--greeting", "Hi", "--times", "2"], &[]),
        "Hi x2, secret key: no"
    );
    let secret = "an-environment-secret-of-40-bytes-or-so";
    assert_eq!(
        greeting(
            &[],
            &[
                ("GREET_GREETING", "Hey"),
                ("GREET_TIMES", "3"),
                ("WSGI_SECRET_KEY", secret)
            ]
        ),
        "Hey x3, secret key: yes"
    );
    let path = std::env::temp_dir().join(format!("wsgi-cli-app-{}.toml", std::process::id()));
    std::fs::write(
        &path,
        "workers = 1\n[app]\ngreeting = \"Howdy\"\ntimes = 4\n",
    )
    .unwrap();
    let file = path.to_str().unwrap();
    assert_eq!(
        greeting(&["--config", file], &[]),
        "Howdy x4, secret key: no"
    );
    assert_eq!(
        greeting(
            &["--config", file, "--times", "5"],
            &[("GREET_GREETING", "Yo")]
        ),
        "Yo x5, secret key: no",
        "environment and flags beat the file"
    );
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn app_settings_are_in_help_and_invalid_ones_exit_before_binding() {
    let server = env!("CARGO_BIN_EXE_settings_server");
    let (status, out, _) = run(server, &["--help"], &[]);
    assert!(status.success());
    for needle in [
        "--greeting <GREETING>",
        "The word to greet with",
        "GREET_GREETING",
        "[default: Hello]",
        "--times <TIMES>",
        "--secret-key <SECRET>",
        "WSGI_SECRET_KEY",
        "--workers",
    ] {
        assert!(out.contains(needle), "{needle} missing from --help:\n{out}");
    }
    // The secret is never shown, not even as the variable's value.
    let secret = "a-secret-that-help-must-not-print-0123456789";
    let (_, out, _) = run(server, &["--help"], &[("WSGI_SECRET_KEY", secret)]);
    assert!(!out.contains(secret), "{out}");

    let file = std::env::temp_dir().join(format!("wsgi-cli-app-bad-{}.toml", std::process::id()));
    let file = file.to_str().unwrap().to_owned();
    let cases: [(&str, Case); 7] = [
        ("", (&["--times", "9"], &[], "`times`: greet 1 to 5 times")),
        ("", (&["--times", "many"], &[], "--times")),
        ("", (&[], &[("GREET_TIMES", "-1")], "--times")),
        (
            "[app]\ntimes = \"many\"\n",
            (&["--config", &file], &[], "`times`"),
        ),
        ("[app]\ntimez = 2\n", (&["--config", &file], &[], "timez")),
        ("[app]\ntimes = 0\n", (&["--config", &file], &[], "`times`")),
        (
            "",
            (
                &["--secret-key", "too-short"],
                &[],
                "openssl rand -base64 48",
            ),
        ),
    ];
    for (toml, (args, env, needle)) in cases {
        std::fs::write(&file, toml).unwrap();
        let (status, out, err) = run(server, args, env);
        assert_eq!(status.code(), Some(2), "{args:?} {env:?}: {err}");
        assert!(
            err.contains(needle),
            "{args:?} {env:?}: {err:?} should mention {needle}"
        );
        assert!(
            !out.contains("listening"),
            "bound despite bad settings: {out}"
        );
        assert!(!err.contains("too-short"), "the secret was printed: {err}");
    }
    std::fs::remove_file(&file).unwrap();
}
