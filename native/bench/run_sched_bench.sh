#!/usr/bin/env bash
# Side-by-side scheduler benchmarks: fiberrt, Go, Boost.Fiber and pthreads
# running the same four workloads (see bench_sched.c and peers/). Each
# system runs in a fresh process per run; inside a run every workload goes
# twice and the second (warm) figure counts; each round runs every system
# once. Prints medians over the runs and how many times faster than Go
# fiberrt is. Figures, not tests.
#
#   run_sched_bench.sh <fiberrt build dir> [--runs R] [--threads "1 2"]
set -uo pipefail

build_dir=$(cd "$1" && pwd)
shift
runs=5
threads="1 $(nproc)"
while [ $# -gt 0 ]; do
    case "$1" in
        --runs) runs=$2; shift 2 ;;
        --threads) threads=$2; shift 2 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
peers_out="$build_dir/peers"
mkdir -p "$peers_out"
workloads="spawn_join ping_pong buffered skynet"

# ---- build what can be built -------------------------------------------------
declare -A command
command[fiberrt]="$build_dir/native/bench/fbr_bench_sched --repeat 2 --workers"
# The peers without a repeat option get each workload twice; Boost.Fiber's
# skynet (seconds, gigabytes) only once, cold.
twice="spawn_join ping_pong buffered spawn_join ping_pong buffered skynet"
if command -v go >/dev/null; then
    (cd "$here/peers/go" && GOFLAGS=-mod=mod go build -o "$peers_out/go_peer" .) &&
        command[Go]="$peers_out/go_peer -repeat 2 --threads"
else
    echo "skipping Go: no 'go' command (Debian: golang-go)" >&2
fi
if [ -f /usr/include/boost/fiber/all.hpp ] && command -v g++ >/dev/null; then
    g++ -O2 -std=c++17 "$here/peers/boost_fiber/main.cpp" -o "$peers_out/boost_fiber_peer" \
        -lboost_fiber -lboost_context -lpthread &&
        command[Boost.Fiber]="$peers_out/boost_fiber_peer --threads"
else
    echo "skipping Boost.Fiber: headers or g++ missing (Debian: libboost-fiber-dev g++)" >&2
fi
gcc -O2 -std=c11 -D_GNU_SOURCE "$here/peers/pthreads/main.c" -o "$peers_out/pthreads_peer" -lpthread &&
    command[pthreads]="$peers_out/pthreads_peer --threads"
systems="fiberrt Go Boost.Fiber pthreads"

# ---- run -----------------------------------------------------------------------
# Rounds go through every system in turn, so that a slow spell of the machine
# (these VMs have them, lasting seconds to minutes) falls on all of them
# alike instead of on whichever system happened to run then.
declare -A median
for t in $threads; do
    declare -A samples=()
    for ((r = 0; r < runs; r++)); do
        for sys in $systems; do
            [ -n "${command[$sys]:-}" ] || continue
            case "$sys" in
                Go) out=$(GOMAXPROCS=$t "$peers_out/go_peer" -repeat 2) ;;
                fiberrt) out=$(${command[$sys]} "$t") ;;
                *) out=$(${command[$sys]} "$t" $twice) ;;
            esac
            # Keep the last (warm) figure of each workload.
            declare -A last=()
            while read -r name value _; do
                [ -n "$name" ] && last[$name]=$value
            done < <(echo "$out"; echo)
            for w in $workloads; do
                samples[$sys,$w]="${samples[$sys,$w]:-} ${last[$w]:-n/a}"
            done
            unset last
        done
    done
    for sys in $systems; do
        for w in $workloads; do
            median[$sys,$t,$w]=$(echo "${samples[$sys,$w]:-}" | tr ' ' '\n' | grep -E '^[0-9.]+$' | sort -n |
                awk '{v[NR]=$1} END {if (NR==0) print "n/a"; else if (NR%2) print v[(NR+1)/2]; else printf "%.1f\n", (v[NR/2]+v[NR/2+1])/2}')
        done
    done
    unset samples
done

# ---- report --------------------------------------------------------------------
unit() { case "$1" in spawn_join) echo "ns/fiber" ;; ping_pong) echo "ns/round trip" ;; buffered) echo "ns/item" ;; skynet) echo "ms" ;; esac; }
echo
echo "Scheduler workloads, medians of $runs runs (warm figure of each run); lower is better"
for t in $threads; do
    echo
    printf '%-12s %-14s' "threads: $t" "unit"
    for sys in $systems; do [ -n "${command[$sys]:-}" ] && printf ' %12s' "$sys"; done
    printf ' %14s\n' "Go/fiberrt"
    for w in $workloads; do
        printf '%-12s %-14s' "$w" "$(unit "$w")"
        for sys in $systems; do [ -n "${command[$sys]:-}" ] && printf ' %12s' "${median[$sys,$t,$w]}"; done
        ours=${median[fiberrt,$t,$w]}
        go=${median[Go,$t,$w]:-n/a}
        if [[ $ours =~ ^[0-9.]+$ && $go =~ ^[0-9.]+$ ]]; then
            printf ' %13.2fx\n' "$(echo "$go $ours" | awk '{print $1/$2}')"
        else
            printf ' %14s\n' "n/a"
        fi
    done
done
