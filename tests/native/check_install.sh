#!/bin/sh
# Installs the built library into a scratch prefix, then builds and runs a
# consumer two ways: CMake's find_package (shared and static targets) and
# pkg-config on the command line.
set -eu
build_dir=$1
source_dir=$2
c_compiler=$3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cmake --install "$build_dir" --prefix "$work/prefix" >/dev/null
cmake -S "$source_dir/consumer" -B "$work/consumer" -DCMAKE_PREFIX_PATH="$work/prefix" \
    -DCMAKE_C_COMPILER="$c_compiler" >/dev/null
cmake --build "$work/consumer" >/dev/null
LD_LIBRARY_PATH="$work/prefix/lib" "$work/consumer/consumer_shared"
"$work/consumer/consumer_static"
libdir=$(ls -d "$work"/prefix/lib*/pkgconfig | head -n 1)
export PKG_CONFIG_PATH="$libdir"
# The .pc file names the install prefix given at configure time; point it at
# the scratch prefix the way a relocated install would.
sed -i "s|^prefix=.*|prefix=$work/prefix|" "$libdir/fiberrt.pc"
"$c_compiler" "$source_dir/consumer/consumer.c" $(pkg-config --cflags --libs fiberrt) -o "$work/consumer_pc"
LD_LIBRARY_PATH="$work/prefix/lib" "$work/consumer_pc"
echo "PASS"
