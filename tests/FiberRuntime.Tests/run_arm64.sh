#!/usr/bin/env bash
# Runs the NUnit suite as linux-arm64 under qemu-user, on an x86-64 host.
#
#   tests/FiberRuntime.Tests/run_arm64.sh [--native-build-dir DIR] [--artifacts-dir DIR]
#
#   1. builds (configures first if needed) the aarch64 native library and test
#      fibers in DIR (default build/arm64-dotnet),
#   2. publishes this test project self-contained for linux-arm64 into its own
#      ArtifactsPath (default artifacts/linux-arm64-qemu), so that neither its
#      project.assets.json nor the RID-less FiberRuntime.dll it builds clash with
#      the x86-64 builds under artifacts/,
#   3. runs the published test executable with qemu-aarch64 and counts the NUnit
#      result XML it writes.
#
# Tests in the NUnit category "HostOnly" (they need something of the x86-64 host,
# such as BindingDrift's libclang) are filtered out; FBR_ARM64_TEST_FILTER replaces that filter (the runner's --filter syntax).
# FBR_ARM64_TEST_TIMEOUT limits the test run (seconds, default 1200).
# The last line is always "N passed, M failed"; the exit status is non-zero when
# anything failed or could not run.
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
native_dir="$root/build/arm64-dotnet"
artifacts_dir="$root/artifacts/linux-arm64-qemu"
sysroot=/usr/aarch64-linux-gnu
jobs=$(nproc 2>/dev/null || echo 2)
# Whole-run limit for the tests under qemu (a hung fiber must not hang CI).
run_timeout=${FBR_ARM64_TEST_TIMEOUT:-1200}

usage() { sed -n '2,/^set /p' "${BASH_SOURCE[0]}" | grep '^#' | sed 's/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
    case "$1" in
        --native-build-dir) native_dir=${2:?--native-build-dir needs a directory}; shift 2 ;;
        --native-build-dir=*) native_dir=${1#*=}; shift ;;
        --artifacts-dir) artifacts_dir=${2:?--artifacts-dir needs a directory}; shift 2 ;;
        --artifacts-dir=*) artifacts_dir=${1#*=}; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "unknown argument: $1" >&2; usage >&2; echo "0 passed, 1 failed"; exit 2 ;;
    esac
done
native_dir=$(realpath -m "$native_dir")
artifacts_dir=$(realpath -m "$artifacts_dir")

say() { printf '\n== %s\n' "$*"; }
give_up() { # <message>: the run could not count anything
    echo "run_arm64.sh: $*" >&2
    echo "0 passed, 1 failed"
    exit 1
}

for tool in cmake dotnet qemu-aarch64 aarch64-linux-gnu-gcc; do
    command -v "$tool" >/dev/null || give_up "$tool is missing (apt-get install qemu-user gcc-aarch64-linux-gnu libc6-dev-arm64-cross)"
done
[ -e "$sysroot/lib/ld-linux-aarch64.so.1" ] || give_up "$sysroot has no aarch64 loader (apt-get install libc6-dev-arm64-cross)"

# True when the file is an ELF for AArch64 (e_machine 183 at offset 18).
is_aarch64() { [ "$(od -An -tu2 -j18 -N2 "$1" 2>/dev/null | tr -d ' ')" = 183 ]; }

# ---- 1. the aarch64 native build ---------------------------------------------

say "native aarch64 build: $native_dir"
if [ ! -f "$native_dir/CMakeCache.txt" ]; then
    cmake -S "$root" -B "$native_dir" -DCMAKE_BUILD_TYPE=Release \
        -DFBR_BUILD_TESTS=OFF -DFBR_BUILD_BENCH=OFF -DFBR_BUILD_DEMO=OFF \
        -DCMAKE_TOOLCHAIN_FILE="$root/cmake/toolchains/aarch64-linux-gnu.cmake" >/dev/null ||
        give_up "cmake could not configure $native_dir"
fi
cmake --build "$native_dir" -j "$jobs" >/dev/null || give_up "the native build in $native_dir failed"
lib="$native_dir/native/libfiberrt.so"
fixtures="$native_dir/tests/native_fibers/libfbrtest_fibers.so"
for f in "$lib" "$fixtures"; do
    [ -f "$f" ] || give_up "$f was not built"
    is_aarch64 "$f" || give_up "$f is not an AArch64 ELF (wrong build dir?)"
done

# ---- 2. the self-contained linux-arm64 publish --------------------------------

say "publishing the tests for linux-arm64 into $artifacts_dir"
publish_dir="$artifacts_dir/publish/FiberRuntime.Tests/release_linux-arm64"
bin_dir="$artifacts_dir/bin/FiberRuntime.Tests/release_linux-arm64"
# The csproj copies the native libraries with PreserveNewest, which would keep a
# newer copy from another native build dir: drop them so they are copied again.
rm -f "$bin_dir"/libfiberrt.so "$bin_dir"/libfbrtest_fibers.so \
    "$publish_dir"/libfiberrt.so "$publish_dir"/libfbrtest_fibers.so
publish_log="$artifacts_dir/publish.log"
mkdir -p "$artifacts_dir"
if ! dotnet publish "$root/tests/FiberRuntime.Tests" -c Release -r linux-arm64 --self-contained \
        -p:ArtifactsPath="$artifacts_dir/" \
        -p:FiberRuntimeNativeDir="$native_dir/native/" \
        -p:FiberTestFixturesDir="$native_dir/tests/native_fibers/" \
        -nologo -clp:NoSummary >"$publish_log" 2>&1; then
    grep -E 'error|warning' "$publish_log" | sort -u >&2 || cat "$publish_log" >&2
    give_up "dotnet publish failed (log: $publish_log)"
fi
exe="$publish_dir/FiberRuntime.Tests"
[ -x "$exe" ] || give_up "$exe was not published"
is_aarch64 "$exe" || give_up "$exe is not an AArch64 executable"
for pair in "$lib:libfiberrt.so" "$fixtures:libfbrtest_fibers.so"; do
    cmp -s "${pair%%:*}" "$publish_dir/${pair#*:}" ||
        give_up "$publish_dir/${pair#*:} is not the library of $native_dir"
done

# ---- 3. the run under qemu ----------------------------------------------------

say "tests: C# binding, linux-arm64 under qemu"
results_dir="$artifacts_dir/TestResults"
xml_dir="$results_dir/nunit"
xml="$xml_dir/FiberRuntime.Tests.xml"
run_log="$artifacts_dir/test-run.log"
rm -f "$xml"
# The runner has no TRX option without an extra package, and the TRX extension
# would run the tests in a child process that it starts directly (an aarch64
# binary: "Exec format error" here). NUnit's own result XML is written in-process.
settings="$artifacts_dir/arm64.runsettings"
cat >"$settings" <<XML
<RunSettings>
  <NUnit>
    <TestOutputXml>$xml_dir</TestOutputXml>
    <OutputXmlFolderMode>AbsoluteFolder</OutputXmlFolderMode>
  </NUnit>
</RunSettings>
XML
# Tests that need the x86-64 host carry the category HostOnly (BindingDrift loads
# libclang, which exists here only as an x86-64 library).
filter=${FBR_ARM64_TEST_FILTER:-"TestCategory!=HostOnly"}

# DOTNET_EnableWriteXorExecute=0 is needed for correctness, not speed: with W^X
# the JIT writes code through a second (writable) mapping of the executable
# pages, and qemu-user does not notice writes made through that alias, so it
# goes on running its stale translation of code that was since replaced (seen
# as NullReferenceExceptions in reflection InvokeStub_* methods once earlier
# tests had churned the code heap; dotnet/runtime#70910, dotnet/sdk#27190).
# The aarch64 sysroot has no libicu, hence invariant globalization (the tests
# need only UTF-8, which does not use ICU). Measured and not needed: TieredPGO=0,
# a bigger gen0, a GC heap limit; TieredCompilation=0 makes the run ~1.4x slower.
export DOTNET_EnableWriteXorExecute=0
export DOTNET_SYSTEM_GLOBALIZATION_INVARIANT=1
export DOTNET_CLI_TELEMETRY_OPTOUT=1 TESTINGPLATFORM_TELEMETRY_OPTOUT=1
started=$(date +%s)
timeout --kill-after=30 "$run_timeout" \
    qemu-aarch64 -L "$sysroot" "$exe" \
        --settings "$settings" --filter "$filter" \
        --results-directory "$results_dir" \
        --no-ansi --progress off --output Detailed --show-slowest-tests 5 \
    2>&1 | tee "$run_log"
status=${PIPESTATUS[0]}
echo "(tests under qemu: $(($(date +%s) - started)) s, exit status $status; log $run_log, results $xml)"

passed=0 failed=0
if [ -f "$xml" ]; then
    # The first <test-run ...> element holds the totals.
    run_element=$(grep -m 1 -o '<test-run [^>]*>' "$xml")
    attr() { local n; n=$(echo "$run_element" | grep -o " $1=\"[0-9]*\"" | tr -dc '0-9'); echo "${n:-0}"; }
    passed=$(attr passed)
    failed=$(attr failed)
else
    # The process died before writing its results (a crash in native code, a
    # timeout): count what its log shows, and the death as one failure more.
    passed=$(grep -c '^passed ' "$run_log")
    failed=$(grep -cE '^(failed|error|timeout|cancelled) ' "$run_log")
    echo "run_arm64.sh: no NUnit result XML; the test process ended with status $status" >&2
    failed=$((failed + 1))
fi
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then
    # Non-zero status with nothing failed: e.g. 8 (no test ran) or a crash at exit.
    echo "run_arm64.sh: the test process exited with status $status" >&2
    failed=1
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
