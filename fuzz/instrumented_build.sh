#!/bin/sh
# Copy this checkout (tracked and new files, no build products) to DEST and build the Cython extensions there
# with instrumentation, so the checkout's own .so files stay untouched.
#
#   fuzz/instrumented_build.sh asan DEST   # gcc -O0 -g, Cython bounds checks, -fsanitize=address,undefined
#   fuzz/instrumented_build.sh gcov DEST   # gcc -O0 -g --coverage (line counts for fuzz/coverage.py)
#
# Used by fuzz/sanitize.sh and described in FUZZING.md. Needs gcc; clang works too (CC=clang).
set -eu
mode=$1
dest=$2
root=$(cd "$(dirname "$0")/.." && pwd)
rm -rf "$dest"
mkdir -p "$dest"
(cd "$root" && git ls-files -co --exclude-standard -z | xargs -0 cp --parents -t "$dest")
cd "$dest"
rm -f nncodec/_cy/*.so nncodec/_cy/*.c
case $mode in
  asan) export NNCODEC_DEBUG_BUILD=1 NNCODEC_SANITIZE=1 ;;
  gcov) export NNCODEC_DEBUG_BUILD=1 CFLAGS="--coverage" LDFLAGS="--coverage" ;;
  *) echo "usage: $0 asan|gcov DEST" >&2; exit 2 ;;
esac
python setup.py -q build_ext --inplace > build.log 2>&1 || { tail -40 build.log; exit 1; }
echo "built $mode extensions in $dest/nncodec/_cy"
