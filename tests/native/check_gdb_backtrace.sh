#!/bin/sh
# Stops gdb inside a fiber and checks the backtrace: every fiber frame is
# there, the last one is the entry trampoline, and gdb did not have to give
# up on a corrupt or looping stack.
set -u
target=$1
out=$(gdb -nx -batch -ex "break fiber_breakpoint_here" -ex run -ex bt -ex continue "$target" 2>&1)
echo "$out"
fail() { echo "FAIL: $1"; exit 1; }
bt=$(echo "$out" | grep '^#')
echo "$bt" | grep -q 'fiber_breakpoint_here' || fail "no frame for the breakpoint function"
echo "$bt" | grep -q 'middle_of_fiber' || fail "no frame for the caller inside the fiber"
echo "$bt" | grep -q 'fiber_body' || fail "no frame for the fiber's entry function"
echo "$bt" | tail -n 1 | grep -q 'fbr__context_trampoline' || fail "the backtrace does not end at the trampoline"
echo "$out" | grep -q 'Backtrace stopped' && fail "gdb stopped the backtrace on an error"
echo "$out" | grep -q 'exited normally' || fail "the program did not finish normally after the breakpoint"
echo "PASS"
