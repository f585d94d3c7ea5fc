#!/usr/bin/env bash
# The test command: build the release artifacts the end-to-end tests drive (the `hakmem` binary,
# libhakmem_recorder.so, libhakmem.so), then run every test in release mode.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --workspace
cargo test --release --workspace
