//! The httpbin example as a production server would run it, for the
//! deployment tests (nginx in front, rolling restarts): configuration from
//! the command line, the environment and `--config` (`Config::from_args`),
//! `ready ADDRESS` on standard output once every address is bound and the
//! workers are serving, and a graceful shutdown on SIGTERM or SIGINT.
//!
//! ```text
//! httpbin_server --bind 127.0.0.1:8001 --server-software instance-a
//! ```

#[allow(dead_code, unreachable_pub)]
#[path = "../../../examples/httpbin.rs"]
mod httpbin;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use wsgi_core::server::{Hooks, Server};
use wsgi_core::Config;

fn main() -> ExitCode {
    let media = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/media");
    // Printed rather than logged, so it shows whatever `--log-level` is.
    let hooks = Hooks::default().when_ready(|addrs| async move {
        let mut out = std::io::stdout().lock();
        for addr in addrs {
            let _ = writeln!(out, "ready {addr}");
        }
        let _ = out.flush();
    });
    match Server::new(httpbin::app(media))
        .config(Config::from_args())
        .hooks(hooks)
        .run()
    {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}
