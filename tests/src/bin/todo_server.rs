//! The todo example as a server process, for tests/tests/app/todo.rs: the
//! example's own `main` (the server's flags and `--database`), so the test
//! runs exactly what `cargo run --example todo` runs.

#[allow(dead_code, unreachable_pub)]
#[path = "../../../examples/todo.rs"]
mod todo;

fn main() -> std::process::ExitCode {
    todo::main()
}
