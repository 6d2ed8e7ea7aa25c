#!/usr/bin/env bash
# FiberRuntime build driver. build.ps1 does the same steps under PowerShell.
#
#   ./build.sh [args]   install what is missing, build the `fibers` tool (NativeAOT) and run
#                       its tour (the main job); `./build.sh run stress|bench|--help` runs others
#   ./build.sh test     install what is missing, build and run every test suite:
#                       native (x86-64), ASan+UBSan, TSan, ARM64 under qemu, then
#                       the C# suites: NUnit (JIT, and ARM64 under qemu), the
#                       NativeAOT smoke app (x86-64 and ARM64), the NuGet consumer, the tool
#   ./build.sh test native | dotnet    only the native or only the C# suites
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
        test) echo "cmake make gcc libc6-dev pkg-config gdb valgrind qemu-user gcc-aarch64-linux-gnu libc6-dev-arm64-cross libclang1-14 clang-14 binutils unzip file jq" ;;
        bench) echo "cmake make gcc g++ libc6-dev pkg-config libboost-context-dev libboost-fiber-dev golang-go wrk" ;;
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

ensure_dotnet() {
    if ! command -v dotnet >/dev/null && [ -x "$HOME/.dotnet/dotnet" ]; then
        export PATH="$HOME/.dotnet:$PATH"
    fi
    if ! command -v dotnet >/dev/null; then
        echo "The .NET 10 SDK is missing (it is not a Debian package)." >&2
        echo "Install it with Microsoft's script, then run this again:" >&2
        echo "  curl -sSL https://dot.net/v1/dotnet-install.sh | bash -s -- --channel 10.0" >&2
        exit 1
    fi
    export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
}

# The Release native tree the C# projects link against (library + test fixtures).
build_release_native() {
    configure_and_build "$build_root/release" -DCMAKE_BUILD_TYPE=Release -DFBR_BUILD_TESTS=OFF -DFBR_BUILD_BENCH=OFF
}

# The same for linux-arm64 (packaged, and run under qemu by the C# suites).
build_arm64_release_native() {
    configure_and_build "$build_root/arm64-release" -DCMAKE_BUILD_TYPE=Release -DFBR_BUILD_TESTS=OFF \
        -DFBR_BUILD_BENCH=OFF -DFBR_BUILD_DEMO=OFF -DCMAKE_TOOLCHAIN_FILE="$root/cmake/toolchains/aarch64-linux-gnu.cmake"
}

# ---- tests ------------------------------------------------------------------

total_passed=0
total_failed=0
failed_suites=()
# What each failing suite said about its failures, repeated at the end of the
# run: CI keeps only the tail of a long log, and that tail must name the test.
failure_digest=$(mktemp)
trap 'rm -f "$failure_digest"' EXIT

# Appends a failing suite's own failure lines (test names, assertion messages,
# crash reports) from its log to the digest, a bounded number per suite.
digest_failures() { # <suite name> <log>
    {
        echo "-- $1"
        grep -E -A 12 '^ *failed [^0-9]|FAILED|Failed|Assert|Exception|Segmentation|Aborted|core dumped|timed out|Timeout' "$2" \
            | grep -v -E '(^| )0 failed' | head -n 60
    } >> "$failure_digest" || true
}

# Adds a suite's counts to the totals; a failing suite's log goes to the digest
# (a build that failed has printed its errors already: /dev/null).
add_result() { # <suite name> <passed> <failures> <log>
    total_passed=$((total_passed + $2))
    total_failed=$((total_failed + $3))
    if [ "$3" -ne 0 ]; then
        failed_suites+=("$1")
        digest_failures "$1" "$4"
    fi
}

# Runs one CTest suite and adds its counts to the totals. Skipped tests (a
# case that cannot run here says why) count as neither.
run_ctest() { # <suite name> <build dir> [ctest args...]
    local name=$1 dir=$2
    shift 2
    say "tests: $name"
    local junit="$dir/ctest-results.xml"
    rm -f "$junit"
    local status=0
    local log
    log=$(mktemp)
    set +e
    (cd "$dir" && ctest -j "$jobs" --output-on-failure --output-junit "$junit" "$@") 2>&1 | tee "$log"
    status=${PIPESTATUS[0]}
    set -e
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
    add_result "$name" "$passed" "$failures" "$log"
    rm -f "$log"
}

# Runs a command that ends its output with "N passed, M failed" and adds
# those counts to the totals. A command that dies before printing it counts
# as one failure.
run_counted() { # <suite name> <command...>
    local name=$1
    shift
    say "tests: $name"
    local log
    log=$(mktemp)
    local status=0
    set +e
    "$@" 2>&1 | tee "$log"
    status=${PIPESTATUS[0]}
    set -e
    local line passed=0 failures=1
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -n 1 || true)
    if [ -n "$line" ]; then
        passed=${line%% passed*}
        failures=$(echo "$line" | sed -E 's/.* ([0-9]+) failed$/\1/')
    fi
    if [ "$status" -ne 0 ] && [ "$failures" -eq 0 ]; then
        failures=1
    fi
    echo "$name: $passed passed, $failures failed"
    add_result "$name" "$passed" "$failures" "$log"
    rm -f "$log"
}

# Runs `dotnet test` on a project (Microsoft.Testing.Platform output) and
# prints its counts as "N passed, M failed" for run_counted.
dotnet_test_counted() { # <project> [dotnet test args...]
    local log
    log=$(mktemp)
    local status=0
    set +e
    dotnet test "$@" -c Release 2>&1 | tee "$log"
    status=${PIPESTATUS[0]}
    set -e
    local succeeded failed
    succeeded=$(grep -E '^ +succeeded: [0-9]+' "$log" | tail -n 1 | tr -dc '0-9')
    failed=$(grep -E '^ +failed: [0-9]+' "$log" | tail -n 1 | tr -dc '0-9')
    rm -f "$log"
    echo "${succeeded:-0} passed, ${failed:-1} failed"
    return "$status"
}

build_and_test_native() { # <suite name> <build dir> <cmake args...>
    local name=$1 dir=$2
    shift 2
    say "building: $name"
    if ! configure_and_build "$dir" -DFBR_BUILD_BENCH=OFF -DFBR_BUILD_DEMO=OFF "$@"; then
        echo "$name: the build failed" >&2
        add_result "$name (build)" 0 1 /dev/null
        return 0
    fi
    run_ctest "$name" "$dir"
}

run_tests() {
    local which=${1:-all}
    case "$which" in
        all | native | dotnet) ;;
        *) echo "unknown test selection '$which' (use: all, native or dotnet)" >&2; exit 2 ;;
    esac
    ensure_packages test
    [ "$which" = dotnet ] || run_native_suites
    [ "$which" = native ] || run_dotnet_suites
    say "summary"
    if [ ${#failed_suites[@]} -gt 0 ]; then
        echo "what the failing suites reported:"
        cat "$failure_digest"
        echo "failing suites: ${failed_suites[*]}"
    fi
    echo "$total_passed passed, $total_failed failed"
    [ "$total_failed" -eq 0 ]
}

run_native_suites() {
    build_and_test_native "native x86-64" "$build_root/test" -DCMAKE_BUILD_TYPE=RelWithDebInfo
    build_and_test_native "ASan+UBSan" "$build_root/asan" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFBR_SANITIZE=address
    build_and_test_native "TSan" "$build_root/tsan" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFBR_SANITIZE=thread
    build_and_test_native "ARM64 (qemu)" "$build_root/arm64" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DCMAKE_TOOLCHAIN_FILE="$root/cmake/toolchains/aarch64-linux-gnu.cmake"
}

run_dotnet_suites() {
    ensure_dotnet
    say "building: Release native libraries for .NET (x86-64, arm64)"
    if build_release_native && build_arm64_release_native; then
        run_counted "C# (NUnit, JIT)" dotnet_test_counted "$root/tests/FiberRuntime.Tests/FiberRuntime.Tests.csproj" \
            -p:FiberRuntimeNativeDir="$build_root/release/native/"
        run_counted "C# analyzers (NUnit)" dotnet_test_counted \
            "$root/tests/FiberRuntime.Analyzers.Tests/FiberRuntime.Analyzers.Tests.csproj"
        run_counted "C# (NUnit, ARM64 qemu)" "$root/tests/FiberRuntime.Tests/run_arm64.sh" \
            --native-build-dir "$build_root/arm64-release"
        run_counted "C# smoke (JIT + NativeAOT, x86-64)" "$root/tests/FiberRuntime.Smoke/run.sh" --rid linux-x64
        run_counted "C# smoke (JIT + NativeAOT, ARM64 qemu)" "$root/tests/FiberRuntime.Smoke/run.sh" --rid linux-arm64
        run_counted "NuGet package consumer (JIT + NativeAOT)" "$root/samples/Consumer/run.sh"
        run_counted "fibers tool (NativeAOT: tour, stress, bench)" "$root/src/FiberRuntime.Cli/check.sh"
    else
        echo "the Release native build failed" >&2
        add_result "Release native (build)" 0 1 /dev/null
    fi
}

# ---- main job and benchmarks ------------------------------------------------

run_main() {
    ensure_packages main
    ensure_dotnet
    say "building (Release)"
    build_release_native
    say "building the fibers tool (NativeAOT)"
    dotnet publish "$root/src/FiberRuntime.Cli" -c Release -r linux-x64 -p:FibersNativeBuildDir="$build_root/release/" \
        -o "$root/artifacts/fibers" >/dev/null
    say "fibers $*"
    "$root/artifacts/fibers/fibers" "$@"
}

run_bench() {
    ensure_packages bench
    say "building benchmarks (Release)"
    configure_and_build "$build_root/release" -DCMAKE_BUILD_TYPE=Release -DFBR_BUILD_TESTS=OFF -DFBR_BUILD_BENCH=ON
    say "native core vs Boost.Context"
    "$build_root/release/native/bench/fbr_bench_core" "$@"
    say "poller: epoll vs io_uring readiness notification"
    "$build_root/release/native/bench/fbr_bench_poller"
    say "scheduler vs Go, Boost.Fiber and pthreads"
    "$root/native/bench/run_sched_bench.sh" "$build_root/release" --runs 3
    ensure_dotnet
    say "C# binding vs System.Threading.Channels and Tasks"
    dotnet run -c Release --project "$root/src/FiberRuntime.Bench" -p:FiberRuntimeNativeDir="$build_root/release/native/"
    say "HTTP: fibers serve vs Go net/http and ASP.NET Core (wrk, 100 and 10,000 connections)"
    dotnet publish "$root/src/FiberRuntime.Cli" -c Release -r linux-x64 -p:FibersNativeBuildDir="$build_root/release/" \
        -o "$root/artifacts/fibers" >/dev/null
    "$root/native/bench/run_http_bench.sh" "$root/artifacts/fibers/fibers" --runs 3
}

command=run
case "${1:-}" in
    test | bench | run | help | -h | --help) command=$1; shift ;;
esac
case "$command" in
    run) run_main "$@" ;;
    test) run_tests "$@" ;;
    bench) run_bench "$@" ;;
    -h | --help | help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//' ;;
    *)
        echo "unknown command '$command' (use: ./build.sh [test|bench])" >&2
        exit 2
        ;;
esac
