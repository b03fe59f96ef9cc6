#!/bin/sh
# Runs one Rust part of the trading example: `sh launch/rust.sh feed` (from examples/trading).
# Uses $FERROMQ_TRADING_BIN when set (the end-to-end test passes the binary it built);
# otherwise builds the ferromq-trading binary in release mode first (cargo's lock makes the
# parts started together wait for one build) and runs it.
set -eu
if [ -n "${FERROMQ_TRADING_BIN:-}" ]; then
  exec "$FERROMQ_TRADING_BIN" "$@"
fi
root=$(cd ../.. && pwd)
"${CARGO:-cargo}" build --quiet --release -p ferromq-trading --manifest-path "$root/Cargo.toml"
exec "${CARGO_TARGET_DIR:-$root/target}/release/ferromq-trading" "$@"
