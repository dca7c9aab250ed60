#!/usr/bin/env bash
# The new-user check: a fresh crate outside the workspace depends on
# wsgi-core by path, gets the README's first Rust block (the tour) as its
# main.rs, builds, runs, and answers a request on loopback. If the README
# drifts from the API, this fails. Prints how long it took.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
port="${QUICKSTART_PORT:-18777}"
started=$(date +%s)
server_pid=""
cleanup() {
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$work/quickstart/src"
cat > "$work/quickstart/Cargo.toml" <<TOML
[package]
name = "quickstart"
version = "0.1.0"
edition = "2021"
publish = false

[dependencies]
wsgi-core = { path = "$repo/crates/wsgi-core" }

[workspace]
TOML
# The first ```rust block of the README, verbatim.
awk '/^```rust/ && !seen { inside = 1; seen = 1; next } inside && /^```/ { exit } inside { print }' \
    "$repo/README.md" > "$work/quickstart/src/main.rs"
test -s "$work/quickstart/src/main.rs" || { echo "quickstart: no Rust block in README.md"; exit 1; }

# Reuse the workspace's build directory: only what differs is rebuilt.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$repo/target}"
cargo build --quiet --manifest-path "$work/quickstart/Cargo.toml"
"$CARGO_TARGET_DIR/debug/quickstart" --bind "127.0.0.1:$port" --log-level warn &
server_pid=$!

answer=""
for _ in $(seq 1 100); do
    if answer=$(curl -sf --max-time 5 -d 'four' "http://127.0.0.1:$port/tour"); then
        break
    fi
    sleep 0.1
done
expected="path /tour, 4 bytes posted"
if [ "$answer" != "$expected" ]; then
    echo "quickstart: expected '$expected', got '$answer'"
    exit 1
fi
# The tour's typed handler, behind its router.
sum=$(curl -sf --max-time 5 "http://127.0.0.1:$port/add/2/3" || true)
if [ "$sum" != "2 + 3 = 5" ]; then
    echo "quickstart: expected '2 + 3 = 5' from /add/2/3, got '$sum'"
    exit 1
fi
echo "quickstart: README tour built and answered '$answer' in $(( $(date +%s) - started )) s"
