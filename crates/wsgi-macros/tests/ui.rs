//! The macros' compile-time interface: every accepted form compiles (and
//! its `main` runs), and every rejected one fails with the message in the
//! matching `.stderr` file. Regenerate those with `TRYBUILD=overwrite`
//! after a deliberate change, and review the diff.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass/*.rs");
    t.compile_fail("tests/ui/fail/*.rs");
}
