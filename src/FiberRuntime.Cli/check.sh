#!/usr/bin/env bash
# Builds the `fibers` tool as a NativeAOT binary and runs each command with small sizes, checking what it
# prints: the JSON parses, the figures are there and plausible, the stress run found no corruption, the
# exit codes mean what they say, Ctrl-C stops a run cleanly. Sizes are small: figures belong to the tool,
# not to this check, so nothing here depends on how fast the machine is.
#
#   src/FiberRuntime.Cli/check.sh [--build-dir DIR] [--no-bench]
#
#   --build-dir  CMake build of this repository to use and (re)build (default build/cli-release)
#   --no-bench   skip the bench command (it builds the Go, Boost.Fiber and pthreads peers: ~40 s)
#
# Needs cmake, gcc, the .NET 10 SDK and jq (Debian: apt-get install -y jq). Last line: "N passed, M failed".
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build_dir=$root/build/cli-release
bench=true
while [ $# -gt 0 ]; do
    case "$1" in
        --build-dir) build_dir=${2:?--build-dir needs a value}; shift 2 ;;
        --no-bench) bench=false; shift ;;
        -h | --help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "check.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done
build_dir=$(mkdir -p "$build_dir" && cd "$build_dir" && pwd)

passed=0
failed=0
pass() { echo "PASS $1"; passed=$((passed + 1)); }
fail() { echo "FAIL $1: $2"; failed=$((failed + 1)); }
finish() { echo "$passed passed, $failed failed"; [ "$failed" -eq 0 ]; exit; }
die() { fail "$1" "$2"; finish; }

for tool in cmake gcc dotnet jq; do
    command -v "$tool" >/dev/null || die prerequisites "'$tool' is missing (Debian: apt-get install -y cmake gcc jq; .NET 10 SDK for dotnet)"
done

out=$root/artifacts/fibers-check
rm -rf "$out"
mkdir -p "$out"
# A child that overflows on purpose must not leave a core file behind.
ulimit -c 0

# ---- build ---------------------------------------------------------------------------------------

started=$SECONDS
if [ ! -f "$build_dir/CMakeCache.txt" ]; then
    cmake -S "$root" -B "$build_dir" -DCMAKE_BUILD_TYPE=Release -DFBR_BUILD_TESTS=OFF -DFBR_BUILD_DEMO=OFF \
        -DFBR_BUILD_DOTNET_FIXTURES=OFF >"$out/cmake.log" 2>&1 || { cat "$out/cmake.log"; die native-build "cmake could not configure $build_dir"; }
fi
targets=(fiberrt fiberrt_static fbr_workloads fbr_workloads_static fbr_bench_sched)
grep -q '^FBR_BOOST_CONTEXT_LIBRARY:FILEPATH=/' "$build_dir/CMakeCache.txt" && targets+=(fbr_bench_core)
if cmake --build "$build_dir" -j 2 --target "${targets[@]}" >"$out/native.log" 2>&1; then
    pass native-build
else
    tail -30 "$out/native.log"
    die native-build "the native build failed (log above)"
fi
props=(-c Release "-p:FibersNativeBuildDir=$build_dir/")
# FIBERS_BINDING_DIR: build against another copy of src/FiberRuntime (one not being edited right now).
[ -n "${FIBERS_BINDING_DIR:-}" ] && props+=("-p:FibersBindingDir=$FIBERS_BINDING_DIR/")
if dotnet publish "$root/src/FiberRuntime.Cli" "${props[@]}" -r linux-x64 -p:PublishAot=true \
    "-p:ArtifactsPath=$out/msbuild-aot" -o "$out/aot" -nologo -v:quiet -clp:ErrorsOnly >"$out/publish.log" 2>&1; then
    pass nativeaot-publish
else
    cat "$out/publish.log"
    die nativeaot-publish "dotnet publish failed (log above)"
fi
fibers=$out/aot/fibers
echo "(build: $((SECONDS - started)) s)"

deps=$(ldd "$fibers" 2>&1 || true)
if grep -qE 'libfiberrt|libfbr_workloads' <<<"$deps"; then
    fail aot-single-binary "the binary still loads a native library of ours: $deps"
elif [ -e "$out/aot/libfiberrt.so" ] || [ -e "$out/aot/libfbr_workloads.so" ]; then
    fail aot-single-binary "the publish folder has a .so: $(ls "$out/aot")"
else
    pass aot-single-binary
fi

# Runs the binary, keeping stdout, stderr and the exit status: run <name> <args...>
run() {
    local name=$1
    shift
    local t=$SECONDS
    timeout -k 10 600 "$fibers" "$@" >"$out/$name.out" 2>"$out/$name.err"
    echo $? >"$out/$name.status"
    echo "  ($name: $((SECONDS - t)) s)"
}
status() { cat "$out/$1.status"; }
# jq -e exits non-zero when the expression is false or null: expect <check> <file> <jq expression>
expect() {
    local check=$1 file=$2 expr=$3
    if jq -e "$expr" "$file" >/dev/null 2>"$out/jq.err"; then
        pass "$check"
    else
        fail "$check" "$(basename "$file"): '$expr' does not hold ($(head -c 300 "$out/jq.err"))"
    fi
}

# ---- help, usage errors ------------------------------------------------------------------------

for cmd in "" stress bench serve; do
    if "$fibers" $cmd --help >"$out/help.out" 2>&1 && grep -q -- '--json' "$out/help.out"; then
        pass "help${cmd:+-$cmd}"
    else
        fail "help${cmd:+-$cmd}" "--help did not exit 0 or does not list --json"
    fi
done
"$fibers" --no-such-option >/dev/null 2>&1
code=$?
[ "$code" -eq 2 ] && pass usage-exit-code || fail usage-exit-code "an unknown option exited with $code, not 2"
"$fibers" stress --fibers 0 >/dev/null 2>&1
code=$?
[ "$code" -eq 2 ] && pass usage-exit-code-values || fail usage-exit-code-values "--fibers 0 exited with $code, not 2"

# ---- the tour ----------------------------------------------------------------------------------

tour_sizes=(--fibers 20000 --threads 500 --dives 2000 --max-depth-kib 256 --rounds 20000)
run tour-json "${tour_sizes[@]}" --json
j=$out/tour-json.out
[ "$(status tour-json)" -eq 0 ] && pass tour-exit-0 || fail tour-exit-0 "exit $(status tour-json): $(tail -5 "$out/tour-json.err")"
expect tour-json-parses "$j" '.command == "tour" and .ok == true and .interrupted == false'
expect tour-alive-reach-bounds "$j" '.results[] | select(.key == "alive_at_once") | .fibers == 20000 and .threads == 500 and .tasks == 20000'
# A parked fiber holds a page or two of stack plus its record; a thread holds at least its own stack page and TLS.
expect tour-memory-per-fiber-plausible "$j" '.results[] | select(.key == "resident_per_parked") | .fibers > 512 and .fibers < 65536 and .threads > 0 and .tasks > 0'
expect tour-start-cost-present "$j" '.results[] | select(.key == "start_cost") | .fibers > 0 and .threads > 0 and .tasks > 0'
# Two fibers hand a value over without the kernel; two threads cannot: this holds on any machine.
expect tour-ping-pong-fibers-beat-threads "$j" '.results[] | select(.key == "ping_pong") | .fibers > 0 and .fibers < .threads and .tasks > 0'
expect tour-deep-recursion-intact "$j" '.deep_recursion | .fibers == 2000 and .corrupted_fibers == 0 and .threads_corrupted == 0 and .growth_faults > 0 and .peak_committed > 0'
expect tour-mn-per-worker "$j" '.mn | (.per_worker | length) == .workers and ([.per_worker[].runs] | add) >= .fibers * .yields_each'

run tour-text "${tour_sizes[@]}"
if [ "$(status tour-text)" -eq 0 ] && grep -q 'Summary' "$out/tour-text.out" && grep -q 'checked intact' "$out/tour-text.out"; then
    pass tour-text-summary
else
    fail tour-text-summary "exit $(status tour-text), or no summary table / verification line"
fi

# ---- stress ------------------------------------------------------------------------------------

run stress-json stress --count 4000 --fibers 1000 --guard-check --json
j=$out/stress-json.out
[ "$(status stress-json)" -eq 0 ] && pass stress-exit-0 || fail stress-exit-0 "exit $(status stress-json): $(tail -5 "$out/stress-json.err")"
expect stress-json-parses "$j" '.command == "stress" and .ok == true'
expect stress-no-corruption "$j" '.dives == 4000 and .corrupted_fibers == 0 and .corrupted_frames == 0'
expect stress-stacks-grew "$j" '.growth_faults > 0 and .peak_committed_bytes > 0 and .largest_stack_committed_bytes > 16384'
expect stress-stacks-recycled "$j" '.rounds == 4 and .stacks_cached_after > 0'
expect stress-guard-hit-reported "$j" '.guard_check.passed == true and .guard_check.exit_code == 86 and (.guard_check.report | contains("guard-hit-check"))'

run stress-duration stress --duration 1 --fibers 500 --max-depth-kib 128
[ "$(status stress-duration)" -eq 0 ] && grep -q 'corrupted' "$out/stress-duration.out" &&
    pass stress-duration || fail stress-duration "exit $(status stress-duration)"

# Ctrl-C: once the run has started (its header line is out), SIGINT must end it with 130 and its table.
# Job control on: a non-interactive shell would otherwise start the background job with SIGINT ignored.
set -m
"$fibers" stress --duration 120 --fibers 500 --max-depth-kib 128 >"$out/stress-int.out" 2>"$out/stress-int.err" &
pid=$!
set +m
for _ in $(seq 600); do
    grep -q 'stress' "$out/stress-int.out" 2>/dev/null && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
done
kill -INT "$pid" 2>/dev/null
t=$SECONDS
wait "$pid"
code=$?
if [ "$code" -eq 130 ] && grep -q 'corrupted' "$out/stress-int.out" && [ $((SECONDS - t)) -lt 30 ]; then
    pass ctrl-c-stops-cleanly
else
    fail ctrl-c-stops-cleanly "exit $code after $((SECONDS - t)) s (want 130 with the table printed)"
fi

# ---- serve -------------------------------------------------------------------------------------

# Starts `fibers serve` on a free port (its "listening on" line names it) and sets serve_pid/serve_port.
start_server() { # <name> <serve args...>
    local name=$1
    shift
    serve_port=
    set -m
    "$fibers" serve --port 0 --json "$@" >"$out/$name.out" 2>"$out/$name.err" &
    serve_pid=$!
    set +m
    for _ in $(seq 300); do
        serve_port=$(sed -n 's/^listening on [a-z:/]*127\.0\.0\.1:\([0-9]*\).*/\1/p' "$out/$name.err" 2>/dev/null)
        [ -n "$serve_port" ] && return 0
        kill -0 "$serve_pid" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}
stop_server() { # <name>: SIGINT, then the exit code and JSON are checked by the caller
    kill -INT "$serve_pid" 2>/dev/null
    wait "$serve_pid"
    echo $? >"$out/$1.status"
}

for handlers in native csharp; do
    name=serve-http-$handlers
    if ! start_server "$name" --handlers "$handlers"; then
        fail "$name" "the server did not start: $(tail -3 "$out/$name.err")"
        continue
    fi
    # Three requests on one keep-alive connection, the last asking to close: three answers, then EOF.
    answers=$(timeout 10 bash -c '
        exec 3<>"/dev/tcp/127.0.0.1/$1"
        printf "GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /x HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n" >&3
        cat <&3' _ "$serve_port" | grep -c 'Hello, World!')
    [ "$answers" = 3 ] && pass "$name-keep-alive" || fail "$name-keep-alive" "got $answers answers, want 3 then the close"
    stop_server "$name"
    [ "$(status "$name")" -eq 130 ] && pass "$name-stops-on-ctrl-c" || fail "$name-stops-on-ctrl-c" "exit $(status "$name"), want 130"
    expect "$name-counted" "$out/$name.out" ".command == \"serve\" and .handlers == \"$handlers\" and .connections == 1 and .requests == 3 and .errors == 0"

    name=serve-echo-$handlers
    if ! start_server "$name" --handlers "$handlers" --protocol echo; then
        fail "$name" "the server did not start: $(tail -3 "$out/$name.err")"
        continue
    fi
    message="echo-check-$RANDOM-$handlers"
    echoed=$(timeout 10 bash -c '
        exec 3<>"/dev/tcp/127.0.0.1/$1"
        printf "%s" "$2" >&3
        IFS= read -r -t 5 -N "${#2}" line <&3
        printf "%s" "$line"' _ "$serve_port" "$message")
    [ "$echoed" = "$message" ] && pass "$name" || fail "$name" "sent '$message', got '$echoed'"
    stop_server "$name"
    expect "$name-counted" "$out/$name.out" ".protocol == \"echo\" and .connections == 1 and .bytes_out == ${#message} and .errors == 0"
done

# ---- bench -------------------------------------------------------------------------------------

if $bench; then
    run bench-json bench --runs 1 --threads 1 --workloads spawn_join,ping_pong --repo "$root" \
        --build-dir "$build_dir" --out "$out/bench" --json
    j=$out/bench-json.out
    [ "$(status bench-json)" -eq 0 ] && pass bench-exit-0 || fail bench-exit-0 "exit $(status bench-json): $(tail -5 "$out/bench-json.err")"
    expect bench-json-parses "$j" '.command == "bench" and (.systems | index("fiberrt")) != null'
    expect bench-fiberrt-figures "$j" '[.results[] | select(.system == "fiberrt") | .median > 0] | length == 2'
    expect bench-dotnet-figures "$j" '[.results[] | select(.system == ".NET Tasks") | .median > 0] | length == 2'
    expect bench-ratios "$j" '[.results[] | select(.system != "fiberrt") | .vs_fiberrt > 0] | all'
    # Each peer either ran or was skipped with a message saying so.
    expect bench-peers-ran-or-explained "$j" '. as $d | ["Go", "Boost.Fiber", "pthreads"] | map(. as $p | ($d.systems | index($p)) != null or ($d.problems | any(contains($p)))) | all'
    if grep -q 'FBR_BOOST_CONTEXT_LIBRARY:FILEPATH=/' "$build_dir/CMakeCache.txt"; then
        expect bench-core-vs-boost "$j" '[.core[] | select(.boost_context != null and .fiberrt > 0)] | length > 0'
    fi
    if [ -s "$out/bench/bench.md" ] && grep -q '| ping_pong |' "$out/bench/bench.md" &&
        grep -q '<svg' "$out/bench/bench.svg" && grep -q '</svg>' "$out/bench/bench.svg" &&
        jq -e . "$out/bench/bench.json" >/dev/null; then
        pass bench-files-written
    else
        fail bench-files-written "bench.json, bench.md or bench.svg is missing or incomplete in $out/bench"
    fi
fi

echo "(total: $((SECONDS - started)) s)"
finish
