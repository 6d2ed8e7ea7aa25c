#!/usr/bin/env bash
# FiberRuntime build driver. build.ps1 does the same steps under PowerShell.
#
#   ./build.sh          install what is missing, build, run the tour (the main job)
#   ./build.sh test     install what is missing, build and run every test suite:
#                       native (x86-64), ASan+UBSan, TSan, ARM64 under qemu
#   ./build.sh bench    build and run the benchmarks (figures, not tests)
#
# Missing Debian packages are installed with apt-get when running as root;
# otherwise the exact command to run is printed and the build stops.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
build_root="$root/build"
jobs=$(nproc 2>/dev/null || echo 2)

say() { printf '\n== %s\n' "$*"; }

# ---- dependencies -----------------------------------------------------------

packages_for() {
    case "$1" in
        main) echo "cmake make gcc libc6-dev pkg-config" ;;
        test) echo "cmake make gcc libc6-dev pkg-config gdb valgrind qemu-user gcc-aarch64-linux-gnu libc6-dev-arm64-cross" ;;
        bench) echo "cmake make gcc libc6-dev pkg-config libboost-context-dev" ;;
    esac
}

ensure_packages() {
    local missing=()
    for p in $(packages_for "$1"); do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" -eq 0 ]; then
        say "installing ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    else
        echo "These packages are missing: ${missing[*]}" >&2
        echo "Install them with:" >&2
        echo "  sudo apt-get install -y ${missing[*]}" >&2
        exit 1
    fi
}

# ---- building ---------------------------------------------------------------

configure_and_build() { # <build dir> <cmake args...>
    local dir=$1
    shift
    cmake -S "$root" -B "$dir" "$@" >/dev/null
    cmake --build "$dir" -j "$jobs" >/dev/null
}

# ---- tests ------------------------------------------------------------------

total_passed=0
total_failed=0
failed_suites=()

# Runs one CTest suite and adds its counts to the totals. Skipped tests (a
# case that cannot run here says why) count as neither.
run_ctest() { # <suite name> <build dir> [ctest args...]
    local name=$1 dir=$2
    shift 2
    say "tests: $name"
    local junit="$dir/ctest-results.xml"
    rm -f "$junit"
    local status=0
    (cd "$dir" && ctest -j "$jobs" --output-on-failure --output-junit "$junit" "$@") || status=$?
    local tests=0 failures=0 skipped=0
    if [ -f "$junit" ]; then
        # The first of each attribute is the <testsuite> summary.
        tests=$(grep -m 1 -o 'tests="[0-9]*"' "$junit" | tr -dc '0-9' || true)
        failures=$(grep -m 1 -o 'failures="[0-9]*"' "$junit" | tr -dc '0-9' || true)
        skipped=$(grep -m 1 -o 'skipped="[0-9]*"' "$junit" | tr -dc '0-9' || true)
    fi
    tests=${tests:-0} failures=${failures:-0} skipped=${skipped:-0}
    if [ "$status" -ne 0 ] && [ "$failures" -eq 0 ]; then
        failures=1 # ctest itself failed (build or configuration): never report green
    fi
    local passed=$((tests - failures - skipped))
    echo "$name: $passed passed, $failures failed, $skipped skipped"
    total_passed=$((total_passed + passed))
    total_failed=$((total_failed + failures))
    [ "$failures" -eq 0 ] || failed_suites+=("$name")
}

build_and_test_native() { # <suite name> <build dir> <cmake args...>
    local name=$1 dir=$2
    shift 2
    say "building: $name"
    if ! configure_and_build "$dir" -DFBR_BUILD_BENCH=OFF -DFBR_BUILD_DEMO=OFF "$@"; then
        echo "$name: the build failed" >&2
        total_failed=$((total_failed + 1))
        failed_suites+=("$name (build)")
        return 0
    fi
    run_ctest "$name" "$dir"
}

run_tests() {
    ensure_packages test
    build_and_test_native "native x86-64" "$build_root/test" -DCMAKE_BUILD_TYPE=RelWithDebInfo
    build_and_test_native "ASan+UBSan" "$build_root/asan" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFBR_SANITIZE=address
    build_and_test_native "TSan" "$build_root/tsan" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFBR_SANITIZE=thread
    build_and_test_native "ARM64 (qemu)" "$build_root/arm64" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DCMAKE_TOOLCHAIN_FILE="$root/cmake/toolchains/aarch64-linux-gnu.cmake"
    say "summary"
    if [ ${#failed_suites[@]} -gt 0 ]; then
        echo "failing suites: ${failed_suites[*]}"
    fi
    echo "$total_passed passed, $total_failed failed"
    [ "$total_failed" -eq 0 ]
}

# ---- main job and benchmarks ------------------------------------------------

run_main() {
    ensure_packages main
    say "building (Release)"
    configure_and_build "$build_root/release" -DCMAKE_BUILD_TYPE=Release -DFBR_BUILD_TESTS=OFF -DFBR_BUILD_BENCH=OFF
    say "running the native tour"
    "$build_root/release/native/demo/fbr_tour" "$@"
}

run_bench() {
    ensure_packages bench
    say "building benchmarks (Release)"
    configure_and_build "$build_root/release" -DCMAKE_BUILD_TYPE=Release -DFBR_BUILD_TESTS=OFF -DFBR_BUILD_BENCH=ON
    say "native core vs Boost.Context"
    "$build_root/release/native/bench/fbr_bench_core" "$@"
}

command=run
case "${1:-}" in
    test | bench | run | help | -h | --help) command=$1; shift ;;
esac
case "$command" in
    run) run_main "$@" ;;
    test) run_tests ;;
    bench) run_bench "$@" ;;
    -h | --help | help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//' ;;
    *)
        echo "unknown command '$command' (use: ./build.sh [test|bench])" >&2
        exit 2
        ;;
esac
