#!/usr/bin/env bash
# HTTP/1.1 on loopback, side by side: `fibers serve` (native and C# handlers,
# one fiber per connection) against Go 1.19 net/http and an ASP.NET Core
# minimal API, all answering GET / with "Hello, World!". wrk drives each
# server at every connection count for a fixed time, after a warm-up; every
# run starts a fresh server process. Prints medians of requests per second and
# p99 latency, and each system's ratio to Go. Figures, not tests. All load
# stays on 127.0.0.1 and every process is stopped at the end.
#
#   run_http_bench.sh <fibers binary> [--runs R] [--duration S] [--connections "100 10000"]
set -uo pipefail

fibers=$(realpath "$1")
shift
runs=3
duration=5
connections="100 10000"
while [ $# -gt 0 ]; do
    case "$1" in
        --runs) runs=$2; shift 2 ;;
        --duration) duration=$2; shift 2 ;;
        --connections) connections=$2; shift 2 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
out_dir="$root/artifacts/bench"
peers_out="$root/artifacts/bench/http-peers"
mkdir -p "$out_dir" "$peers_out"

if ! command -v wrk >/dev/null; then
    echo "skipping the HTTP benchmark: no 'wrk' (Debian: wrk)" >&2
    exit 0
fi
# 10,000 connections need as many descriptors on both sides.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt 10100 ]; then
    echo "note: only $(ulimit -n) descriptors per process; large connection counts may fail" >&2
fi

port=18181
url="http://127.0.0.1:$port/"
declare -A start_cmd
start_cmd["fibers (C handlers)"]="$fibers serve --port $port --handlers native --idle-timeout 0"
start_cmd["fibers (C# handlers)"]="$fibers serve --port $port --handlers csharp --idle-timeout 0"
if command -v go >/dev/null; then
    (cd "$here/peers/go_http" && GOFLAGS=-mod=mod go build -o "$peers_out/go_http_peer" .) &&
        start_cmd["Go net/http"]="$peers_out/go_http_peer -addr 127.0.0.1:$port"
else
    echo "skipping Go: no 'go' command (Debian: golang-go)" >&2
fi
if command -v dotnet >/dev/null &&
    dotnet build -c Release "$root/src/FiberRuntime.Bench.AspNetPeer" -o "$peers_out/aspnet" >/dev/null 2>&1; then
    start_cmd["ASP.NET Core"]="dotnet $peers_out/aspnet/FiberRuntime.Bench.AspNetPeer.dll --urls http://127.0.0.1:$port"
else
    echo "skipping ASP.NET Core: the peer did not build" >&2
fi
systems=("fibers (C handlers)" "fibers (C# handlers)" "Go net/http" "ASP.NET Core")

server_pid=
stop_server() {
    if [ -n "$server_pid" ]; then
        kill -TERM "$server_pid" 2>/dev/null
        for _ in $(seq 50); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$server_pid" 2>/dev/null
        wait "$server_pid" 2>/dev/null
        server_pid=
    fi
}
trap stop_server EXIT

wait_for_port() {
    for _ in $(seq 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

# wrk's "99%" latency in microseconds.
p99_us() {
    awk '$1 == "99%" {
        v = $2; unit = v; sub(/[0-9.]+/, "", unit); sub(/[a-z]+$/, "", v)
        if (unit == "us") print v; else if (unit == "ms") print v * 1000; else if (unit == "s") print v * 1000000
    }'
}

median() { sort -g | awk '{ a[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

declare -A rps p99 errs
for c in $connections; do
    threads=2
    [ "$c" -lt "$threads" ] && threads=$c
    for sys in "${systems[@]}"; do
        [ -n "${start_cmd[$sys]:-}" ] || continue
        rps_samples="" p99_samples="" err_total=0
        for ((r = 0; r < runs; r++)); do
            # shellcheck disable=SC2086 # the command is words on purpose
            ${start_cmd[$sys]} >/dev/null 2>&1 &
            server_pid=$!
            if ! wait_for_port; then
                echo "$sys did not start listening on $port" >&2
                stop_server
                continue
            fi
            wrk -t"$threads" -c"$c" -d1s --timeout 10s "$url" >/dev/null 2>&1 # warm-up (JIT, pools)
            result=$(wrk -t"$threads" -c"$c" -d"${duration}s" --timeout 10s --latency "$url" 2>&1)
            stop_server
            rps_samples+="$(awk '/^Requests\/sec:/ { print $2 }' <<<"$result")"$'\n'
            p99_samples+="$(p99_us <<<"$result")"$'\n'
            e=$(awk '/Socket errors:/ { gsub(",", ""); print $4 + $6 + $8 + $10 } /Non-2xx/ { print $NF }' <<<"$result" |
                awk '{ s += $1 } END { print s + 0 }')
            err_total=$((err_total + e))
        done
        rps[$sys,$c]=$(grep -v '^$' <<<"$rps_samples" | median)
        p99[$sys,$c]=$(grep -v '^$' <<<"$p99_samples" | median)
        errs[$sys,$c]=$err_total
        printf '  %-22s %6s connections: %10.0f req/s, p99 %9.0f us, %s socket errors or non-2xx\n' \
            "$sys" "$c" "${rps[$sys,$c]}" "${p99[$sys,$c]}" "$err_total" >&2
    done
done

# ---- report ---------------------------------------------------------------------
report="$out_dir/http.md"
{
    echo "HTTP/1.1 GET / on loopback, wrk ($(nproc) CPUs shared by server and wrk), medians of $runs runs of ${duration} s"
    echo
    echo "| server | connections | requests/s | p99 latency | req/s vs Go | p99 vs Go | socket errors |"
    echo "|---|---:|---:|---:|---:|---:|---:|"
    for c in $connections; do
        for sys in "${systems[@]}"; do
            [ -n "${rps[$sys,$c]:-}" ] || continue
            go_rps=${rps["Go net/http",$c]:-}
            go_p99=${p99["Go net/http",$c]:-}
            ratio=-
            p99_ratio=-
            if [ -n "$go_rps" ]; then
                ratio=$(awk -v a="${rps[$sys,$c]}" -v b="$go_rps" 'BEGIN { printf "%.2fx", a / b }')
                p99_ratio=$(awk -v a="${p99[$sys,$c]}" -v b="$go_p99" 'BEGIN { printf "%.2fx", a / b }')
            fi
            printf '| %s | %s | %.0f | %.2f ms | %s | %s | %s |\n' "$sys" "$c" "${rps[$sys,$c]}" \
                "$(awk -v u="${p99[$sys,$c]}" 'BEGIN { print u / 1000 }')" "$ratio" "$p99_ratio" "${errs[$sys,$c]}"
        done
    done
} >"$report"
cat "$report"
echo "(also in $report)" >&2
