//! Prints the configuration the server would run with, one `name=value`
//! line per setting, for the configuration-precedence tests. The code's
//! values are `workers = 7`, `backlog = 7`, `max_requests = 7`,
//! `max_connections = 7`; the file, environment and flags override them.

use wsgi_core::Config;

fn main() {
    let mut code = Config::default();
    code.workers = 7;
    code.backlog = 7;
    code.max_requests = 7;
    code.max_connections = 7;
    let config = code.update_from_args();
    for name in Config::SETTINGS {
        println!("{name}={}", config.get(name).unwrap_or_default());
    }
}
