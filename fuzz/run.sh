#!/usr/bin/env bash
# Runs one fuzz target (or all of them in turn) for a number of seconds, at the lowest CPU
# priority, keeping its corpus in corpus/<target>/, and prints the executions done.
#
#   fuzz/run.sh TARGET SECONDS     # e.g. fuzz/run.sh telnet_engine 600
#   fuzz/run.sh all SECONDS        # every target in turn, SECONDS each
#
# Builds with `-s none` (no sanitizer): the crate is `#![forbid(unsafe_code)]`, so
# AddressSanitizer has no memory errors of ours to find, and without it a target runs several
# times faster (panics, overflow checks and debug assertions still fire). A crash is kept in
# artifacts/<target>/ and makes this script fail. Extra libFuzzer flags can go in
# FUZZ_FLAGS, e.g. FUZZ_FLAGS=-runs=10000000.
set -euo pipefail

cd "$(dirname "$0")"

usage() {
    echo "usage: $0 TARGET|all SECONDS" >&2
    echo "targets: $(targets | tr '\n' ' ')" >&2
    exit 2
}

targets() {
    sed -n 's/^name = "\(.*\)"$/\1/p' Cargo.toml | grep -v '^portcullis-fuzz$'
}

[[ $# -eq 2 ]] || usage
target=$1
seconds=$2
[[ $seconds =~ ^[0-9]+$ ]] || usage

if [[ ! -f Cargo.lock && -f ../Cargo.lock ]]; then
    # Same dependency versions as the main build.
    cp ../Cargo.lock Cargo.lock
fi

FUZZ="cargo +nightly fuzz"
BUILD_FLAGS=(-s none --release --debug-assertions)

run_one() {
    local t=$1
    mkdir -p "corpus/$t" "artifacts/$t"
    nice -n 19 $FUZZ build "${BUILD_FLAGS[@]}" "$t"
    local log
    log=$(mktemp)
    local status=0 start=$SECONDS
    # -print_final_stats prints "stat::number_of_executed_units: N" at the end.
    nice -n 19 $FUZZ run "${BUILD_FLAGS[@]}" "$t" "corpus/$t" -- \
        -max_total_time="$seconds" -print_final_stats=1 ${FUZZ_FLAGS:-} >"$log" 2>&1 ||
        status=$?
    local took=$((SECONDS - start))
    if [[ $status -ne 0 ]]; then
        grep -E -A8 'panicked|ERROR|SUMMARY|Test unit written' "$log" >&2 || tail -40 "$log" >&2
    fi
    local execs rate entries
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    entries=$(find "corpus/$t" -type f | wc -l)
    echo "== $t: ${execs:-?} executions in ${took} s (${rate:-?}/s), corpus ${entries} entries, exit ${status}"
    rm -f "$log"
    return "$status"
}

if [[ $target == all ]]; then
    failed=()
    for t in $(targets); do
        run_one "$t" || failed+=("$t")
    done
    if [[ ${#failed[@]} -gt 0 ]]; then
        echo "failed: ${failed[*]}" >&2
        exit 1
    fi
else
    targets | grep -qx "$target" || usage
    run_one "$target"
fi
