#!/usr/bin/env bash
# Packs FiberRuntime, then builds this sample from the package the way an outside project would:
# runs it under the JIT, publishes it with NativeAOT, checks that the binary needs no libfiberrt.so,
# and runs that.
#
#   samples/Consumer/run.sh [--native-dir-x64 DIR] [--native-dir-arm64 DIR] [--arm64]
#
#   --native-dir-x64    libfiberrt.so/.a for linux-x64 to pack (default build/release/native)
#   --native-dir-arm64  the same for linux-arm64 (default build/arm64-release/native)
#   --arm64             also publish the sample with NativeAOT for linux-arm64 and run it under qemu
#                       (needs qemu-user, gcc-aarch64-linux-gnu, libc6-dev-arm64-cross, clang-14)
#
# The last line is "N passed, M failed".
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
sample="$root/samples/Consumer"
library="$root/src/FiberRuntime/FiberRuntime.csproj"
feed="$root/artifacts/packages"

native_x64="$root/build/release/native"
native_arm64="$root/build/arm64-release/native"
arm64=false
while [ $# -gt 0 ]; do
    case "$1" in
        --native-dir-x64) native_x64=${2:?--native-dir-x64 needs a value}; shift 2 ;;
        --native-dir-arm64) native_arm64=${2:?--native-dir-arm64 needs a value}; shift 2 ;;
        --arm64) arm64=true; shift ;;
        -h | --help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "run.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done

say() { printf '\n== %s\n' "$*"; }
die() { echo "run.sh: $*" >&2; echo "0 passed, 1 failed"; exit 1; }

command -v dotnet >/dev/null || die "dotnet is not installed"
command -v unzip >/dev/null || die "unzip is missing: apt-get install -y unzip"
check_native() { # <dir> <rid> <build dir> <extra cmake args>
    [ -e "$1/libfiberrt.so" ] && [ -e "$1/libfiberrt.a" ] && return 0
    die "libfiberrt.so or libfiberrt.a for $2 is missing in $1. The package carries both RIDs, so build them first, for example:
  cmake -S $root -B $3 -DCMAKE_BUILD_TYPE=Release -DFBR_BUILD_TESTS=OFF -DFBR_BUILD_BENCH=OFF$4
  cmake --build $3 -j
or pass --native-dir-x64 / --native-dir-arm64."
}
check_native "$native_x64" linux-x64 "$root/build/release" ""
check_native "$native_arm64" linux-arm64 "$root/build/arm64-release" " -DFBR_BUILD_DEMO=OFF -DCMAKE_TOOLCHAIN_FILE=$root/cmake/toolchains/aarch64-linux-gnu.cmake"
native_x64=$(cd "$native_x64" && pwd)
native_arm64=$(cd "$native_arm64" && pwd)
if $arm64; then
    missing=()
    command -v qemu-aarch64 >/dev/null || missing+=(qemu-user)
    command -v aarch64-linux-gnu-gcc >/dev/null || missing+=(gcc-aarch64-linux-gnu)
    [ -e /usr/aarch64-linux-gnu/lib/libc.so.6 ] || missing+=(libc6-dev-arm64-cross)
    command -v clang-14 >/dev/null || missing+=(clang-14)
    [ ${#missing[@]} -eq 0 ] || die "--arm64 needs these Debian packages: apt-get install -y ${missing[*]}"
fi

out="$root/artifacts/consumer"
rm -rf "$out/package" "$out"/aot-* "$out"/*.log
mkdir -p "$out"

passed=0
failed=0
pass() { echo "PASS $1"; passed=$((passed + 1)); }
fail() { echo "FAIL $1: $2"; failed=$((failed + 1)); }
# Runs a command, shows its output indented, keeps it in $out/<name>.log; returns its status.
logged() { # <name> <command...>
    local name=$1 status=0
    shift
    "$@" >"$out/$name.log" 2>&1 || status=$?
    sed 's/^/  /' "$out/$name.log"
    return "$status"
}

started=$SECONDS

# ---- the package -----------------------------------------------------------------------------

say "pack"
phase=$SECONDS
version=$(dotnet msbuild "$library" -nologo -getProperty:PackageVersion) || version=""
[ -n "$version" ] || die "could not read PackageVersion from $library"
package="$feed/FiberRuntime.$version.nupkg"
rm -f "$package"
# Built in an MSBuild tree of its own, so that builds of the binding running at the same time cannot clash with it.
if logged pack dotnet pack "$library" -c Release -nologo -v:quiet -o "$feed" "-p:ArtifactsPath=$out/msbuild" \
    "-p:FiberRuntimeNativeDir_linux_x64=$native_x64/" "-p:FiberRuntimeNativeDir_linux_arm64=$native_arm64/" &&
    [ -e "$package" ]; then
    pass pack
else
    fail pack "dotnet pack did not make $package"
    echo "$passed passed, $failed failed"
    exit 1
fi
echo "(pack: $((SECONDS - phase)) s)"

# Every library where the targets and NuGet expect it, and built for the right machine.
layout_problems=()
contents=$(unzip -Z1 "$package")
unzip -q -o "$package" -d "$out/package"
for entry in buildTransitive/FiberRuntime.targets lib/net10.0/FiberRuntime.dll \
    runtimes/linux-x64/native/libfiberrt.so runtimes/linux-x64/static/libfiberrt.a \
    runtimes/linux-arm64/native/libfiberrt.so runtimes/linux-arm64/static/libfiberrt.a; do
    grep -qx "$entry" <<<"$contents" || layout_problems+=("no $entry")
done
for rid_machine in "linux-x64:X86-64" "linux-arm64:AArch64"; do
    rid=${rid_machine%%:*} machine=${rid_machine#*:}
    for lib in "native/libfiberrt.so" "static/libfiberrt.a"; do
        file="$out/package/runtimes/$rid/$lib"
        [ -e "$file" ] || continue
        headers=$(readelf -h "$file" 2>/dev/null || true)
        grep -q "Machine:.*$machine" <<<"$headers" || layout_problems+=("runtimes/$rid/$lib is not built for $machine")
    done
done
if [ ${#layout_problems[@]} -eq 0 ]; then
    pass package-layout
else
    fail package-layout "$(IFS=';'; echo "${layout_problems[*]}")"
fi

# The same version is packed again and again: drop NuGet's extracted copy so restore takes the new one.
packages_root=$(dotnet nuget locals global-packages --list) || die "could not ask NuGet where its package folder is"
packages_root=${packages_root#global-packages: }
[ -d "$packages_root" ] || die "NuGet's package folder '$packages_root' does not exist"
rm -rf "${packages_root%/}/fiberruntime/$version"
rm -rf "${sample:?}/bin" "${sample:?}/obj"
build_props=(-c Release "-p:FiberRuntimeVersion=$version")

# ---- JIT -------------------------------------------------------------------------------------

say "JIT: dotnet run"
phase=$SECONDS
if logged jit timeout -k 10 600 dotnet run --project "$sample" "${build_props[@]}" && grep -qx "consumer: ok" "$out/jit.log"; then
    pass jit-run
else
    fail jit-run "the sample failed under the JIT"
fi
if grep -q "libfiberrt is loaded from .*/runtimes/linux-x64/native/libfiberrt.so$" "$out/jit.log"; then
    pass jit-loads-package-native-asset
else
    fail jit-loads-package-native-asset "libfiberrt.so was not loaded from the package's runtimes/linux-x64/native"
fi
echo "(JIT: $((SECONDS - phase)) s)"

# ---- NativeAOT -------------------------------------------------------------------------------

aot_checks() { # <rid> <dependency listing command...>: publishes, inspects and runs one RID
    local rid=$1
    local dir="$out/aot-$rid"
    shift
    local extra=() run=()
    if [ "$rid" = linux-arm64 ]; then
        extra=(-p:CppCompilerAndLinker=clang-14)
        run=(qemu-aarch64 -L /usr/aarch64-linux-gnu)
    fi
    say "NativeAOT $rid: publish"
    phase=$SECONDS
    if ! logged "publish-$rid" dotnet publish "$sample" "${build_props[@]}" -r "$rid" -p:PublishAot=true "${extra[@]}" -o "$dir" -nologo -v:quiet; then
        fail "aot-publish-$rid" "dotnet publish failed"
        return
    fi
    pass "aot-publish-$rid"
    echo "(publish: $((SECONDS - phase)) s)"

    local deps
    if [ "$rid" = linux-x64 ]; then
        deps=$(ldd "$dir/Consumer" 2>&1 || true)
    else
        deps=$(readelf -d "$dir/Consumer" | grep NEEDED || true)
    fi
    printf '  %s\n' "${deps//$'\n'/$'\n'  }"
    if grep -q libfiberrt <<<"$deps"; then
        fail "aot-no-libfiberrt-dependency-$rid" "the binary needs libfiberrt.so"
    elif ! grep -q 'libc\.so' <<<"$deps"; then
        fail "aot-no-libfiberrt-dependency-$rid" "could not read the binary's dependencies"
    else
        pass "aot-no-libfiberrt-dependency-$rid"
    fi
    if [ -e "$dir/libfiberrt.so" ]; then
        fail "aot-publish-without-libfiberrt.so-$rid" "libfiberrt.so was published next to the binary"
    else
        pass "aot-publish-without-libfiberrt.so-$rid"
    fi

    say "NativeAOT $rid: run"
    if logged "run-$rid" timeout -k 10 300 "${run[@]}" "$dir/Consumer" && grep -qx "consumer: ok" "$out/run-$rid.log" &&
        grep -qx "libfiberrt is linked into this binary" "$out/run-$rid.log"; then
        pass "aot-run-$rid"
    else
        fail "aot-run-$rid" "the NativeAOT binary failed, or loaded libfiberrt from a file"
    fi
}

aot_checks linux-x64
if $arm64; then
    aot_checks linux-arm64
fi

say "summary ($((SECONDS - started)) s)"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
