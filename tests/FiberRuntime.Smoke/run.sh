#!/usr/bin/env bash
# Runs the FiberRuntime smoke app twice, under the JIT and as a NativeAOT binary, and checks that
# the NativeAOT binary carries libfiberrt inside it (no libfiberrt.so needed at run time).
#
#   tests/FiberRuntime.Smoke/run.sh [--rid linux-x64|linux-arm64] [--native-dir DIR] [--fixtures-dir DIR]
#
#   --rid           target (default linux-x64). linux-arm64 is cross-built here and run under
#                   qemu-aarch64; its NativeAOT link needs clang-14.
#   --native-dir    folder with libfiberrt.so and libfiberrt.a for that RID
#                   (default build/release/native, or build/arm64-release/native for linux-arm64)
#   --fixtures-dir  folder with libfbrtest_fibers.so and .a (tests/native_fibers)
#                   (default build/release/tests/native_fibers, or build/arm64-release/tests/native_fibers)
#
# The last line is "N passed, M failed", summing both runs and the checks made here.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
project="$root/tests/FiberRuntime.Smoke/FiberRuntime.Smoke.csproj"

rid=linux-x64
native_dir=""
fixtures_dir=""
while [ $# -gt 0 ]; do
    case "$1" in
        --rid) rid=${2:?--rid needs a value}; shift 2 ;;
        --native-dir) native_dir=${2:?--native-dir needs a value}; shift 2 ;;
        --fixtures-dir) fixtures_dir=${2:?--fixtures-dir needs a value}; shift 2 ;;
        -h | --help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "run.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done

case "$rid" in
    linux-x64) default_build="$root/build/release" ;;
    linux-arm64) default_build="$root/build/arm64-release" ;;
    *) echo "run.sh: --rid must be linux-x64 or linux-arm64, not '$rid'" >&2; exit 2 ;;
esac
# The x64 line matches what build.sh configures in build/release, so following it does not undo build.sh's setup.
cmake_extra=""
[ "$rid" = linux-arm64 ] && cmake_extra=" -DFBR_BUILD_DEMO=OFF -DCMAKE_TOOLCHAIN_FILE=$root/cmake/toolchains/aarch64-linux-gnu.cmake"
native_dir=${native_dir:-$default_build/native}
fixtures_dir=${fixtures_dir:-$default_build/tests/native_fibers}

say() { printf '\n== %s\n' "$*"; }
die() { echo "run.sh: $*" >&2; echo "0 passed, 1 failed"; exit 1; }

# ---- what must be there before anything is built ---------------------------------------------

command -v dotnet >/dev/null || die "dotnet is not installed"
for f in "$native_dir/libfiberrt.so" "$native_dir/libfiberrt.a"; do
    [ -e "$f" ] || die "$f is missing. Build libfiberrt for $rid first, for example:
  cmake -S $root -B $default_build -DCMAKE_BUILD_TYPE=Release -DFBR_BUILD_TESTS=OFF -DFBR_BUILD_BENCH=OFF$cmake_extra
  cmake --build $default_build -j
or pass --native-dir DIR."
done
for f in "$fixtures_dir/libfbrtest_fibers.so" "$fixtures_dir/libfbrtest_fibers.a"; do
    [ -e "$f" ] || die "$f is missing: the same CMake build makes it (FBR_BUILD_DOTNET_FIXTURES=ON, the default), or pass --fixtures-dir DIR."
done
native_dir=$(cd "$native_dir" && pwd)
fixtures_dir=$(cd "$fixtures_dir" && pwd)

launcher=()
aot_args=()
if [ "$rid" = linux-arm64 ]; then
    missing=()
    command -v qemu-aarch64 >/dev/null || missing+=(qemu-user)
    command -v aarch64-linux-gnu-gcc >/dev/null || missing+=(gcc-aarch64-linux-gnu)
    [ -e /usr/aarch64-linux-gnu/lib/libc.so.6 ] || missing+=(libc6-dev-arm64-cross)
    # NativeAOT cross-links with clang (--target=aarch64-linux-gnu); gcc cannot target another architecture.
    command -v clang-14 >/dev/null || missing+=(clang-14)
    [ ${#missing[@]} -eq 0 ] || die "linux-arm64 needs these Debian packages: apt-get install -y ${missing[*]}"
    launcher=(qemu-aarch64 -L /usr/aarch64-linux-gnu)
    aot_args=(-p:CppCompilerAndLinker=clang-14)
fi

# Crashing children are part of the checks; qemu would otherwise leave a core file for each.
ulimit -c 0

out="$root/artifacts/smoke/$rid"
rm -rf "$out/jit" "$out/aot" "$out"/*.log
mkdir -p "$out"
# An MSBuild tree (obj/ with project.assets.json, bin/) of its own per RID and per JIT/NativeAOT: each
# restore (RID, PublishAot) differs, and sharing one tree would make every run rebuild everything and
# rewrite the assets files that other builds of the binding, perhaps running at this moment, use.
props=(-c Release "-p:FiberSmokeNativeDir=$native_dir/" "-p:FiberSmokeFixturesDir=$fixtures_dir/")

passed=0
failed=0
pass() { echo "PASS $1"; passed=$((passed + 1)); }
fail() { echo "FAIL $1: $2"; failed=$((failed + 1)); }

# Runs the app (indented, so its own summary line is not mistaken for this script's) and adds its
# counts. A run that ends without a summary line died: one failure.
run_app() { # <label> <command...>
    local label=$1
    shift
    local log="$out/$label.log"
    local status=0
    # Each check has its own time limit inside the app; this one only stops a run that hangs outright.
    FIBER_SMOKE_LAUNCHER="${launcher[*]}" timeout -k 10 900 "$@" >"$log" 2>&1 || status=$?
    sed "s/^/  [$label] /" "$log"
    local summary
    summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -n 1 || true)
    if [ -z "$summary" ]; then
        fail "$label-run" "the app exited with status $status before printing its summary (124: killed after 900 s)"
        return
    fi
    local p f
    p=${summary%% passed*}
    f=${summary#*, }
    f=${f%% failed*}
    passed=$((passed + p))
    failed=$((failed + f))
    if [ "$status" -ne 0 ] && [ "$f" -eq 0 ]; then
        fail "$label-run" "the app reported no failure but exited with status $status"
    fi
}

started=$SECONDS

# ---- JIT ---------------------------------------------------------------------------------------

say "JIT ($rid): build"
phase=$SECONDS
jit_ok=true
if [ "$rid" = linux-x64 ]; then
    # No -o: it would redirect the binding's output as well and build it a second time. With
    # ArtifactsPath set, where the app lands is known anyway.
    dotnet build "$project" "${props[@]}" "-p:ArtifactsPath=$out/msbuild-jit" -nologo -v:quiet -clp:ErrorsOnly -clp:NoSummary || jit_ok=false
    jit_app="$out/msbuild-jit/bin/FiberRuntime.Smoke/release/FiberRuntime.Smoke.dll"
else
    # No arm64 dotnet host here: a self-contained publish brings the arm64 runtime for qemu to run.
    dotnet publish "$project" "${props[@]}" "-p:ArtifactsPath=$out/msbuild-jit" -r "$rid" --self-contained -p:PublishAot=false -o "$out/jit" -nologo -v:quiet -clp:ErrorsOnly -clp:NoSummary || jit_ok=false
    jit_app="$out/jit/FiberRuntime.Smoke"
fi
echo "(build: $((SECONDS - phase)) s)"
if $jit_ok && [ -e "$jit_app" ]; then
    say "JIT ($rid): run"
    phase=$SECONDS
    if [ "$rid" = linux-x64 ]; then
        run_app jit dotnet "$jit_app"
    else
        run_app jit "${launcher[@]}" "$jit_app"
    fi
    echo "(run: $((SECONDS - phase)) s)"
else
    fail jit-build "dotnet could not build the smoke app (errors above), or $jit_app is missing"
fi

# ---- NativeAOT -----------------------------------------------------------------------------------

say "NativeAOT ($rid): publish"
phase=$SECONDS
aot_ok=true
dotnet publish "$project" "${props[@]}" "-p:ArtifactsPath=$out/msbuild-aot" -r "$rid" -p:PublishAot=true "${aot_args[@]}" -o "$out/aot" -nologo -v:quiet -clp:ErrorsOnly -clp:NoSummary || aot_ok=false
echo "(publish: $((SECONDS - phase)) s)"
binary="$out/aot/FiberRuntime.Smoke"
if $aot_ok && [ -x "$binary" ]; then
    say "NativeAOT ($rid): one self-contained binary"
    if [ "$rid" = linux-x64 ]; then
        deps=$(ldd "$binary" 2>&1 || true)
    else
        # ldd would have to run the arm64 loader; the dynamic section says the same without running anything.
        deps=$(readelf -d "$binary" | grep NEEDED || true)
    fi
    printf '  %s\n' "${deps//$'\n'/$'\n'  }"
    # Here-strings, not "echo | grep -q": grep -q stops reading early, and pipefail would count the
    # writer's SIGPIPE as a failure.
    if grep -q libfiberrt <<<"$deps"; then
        fail aot-no-libfiberrt-dependency "the binary still needs libfiberrt.so"
    elif ! grep -q 'libc\.so' <<<"$deps"; then
        fail aot-no-libfiberrt-dependency "could not read the binary's dependencies"
    else
        pass aot-no-libfiberrt-dependency
    fi
    if [ -e "$out/aot/libfiberrt.so" ] || [ -e "$out/aot/libfbrtest_fibers.so" ]; then
        fail aot-publish-without-shared-libraries "the publish folder has a .so: $(ls "$out/aot")"
    else
        pass aot-publish-without-shared-libraries
    fi
    # The separate symbol file keeps the names the stripped binary lost.
    symbols=$(nm "$binary.dbg" 2>/dev/null || true)
    if grep -qE ' [tT] fbr_sched_create$' <<<"$symbols"; then
        pass aot-libfiberrt-linked-in
    else
        fail aot-libfiberrt-linked-in "fbr_sched_create is not defined in $binary.dbg"
    fi

    say "NativeAOT ($rid): run"
    phase=$SECONDS
    run_app aot "${launcher[@]}" "$binary"
    echo "(run: $((SECONDS - phase)) s)"
else
    fail aot-publish "the NativeAOT publish failed (errors above)"
fi

say "summary ($rid, $((SECONDS - started)) s)"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
