#!/bin/sh
# Build the Cython extensions with AddressSanitizer + UndefinedBehaviorSanitizer (gcc) in a copy of this checkout,
# then run the whole test suite (which replays fuzz/corpus and fuzz/regressions) and any extra corpus
# directories under them. Any sanitizer report stops the run and fails it.
#
#   fuzz/sanitize.sh [DEST [TARGET=DIR ...]]      e.g. fuzz/sanitize.sh /tmp/nncodec-asan huffman=/tmp/nnc-fuzz/huffman
#
# The Python interpreter is not sanitized, so libasan is preloaded; leak detection is off (CPython keeps
# allocations alive until exit by design). Reports also go to DEST/sanitizer.*; the script prints their count.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
dest=${1:-/tmp/nncodec-asan}
[ $# -gt 0 ] && shift
nice -n 19 "$root/fuzz/instrumented_build.sh" asan "$dest"
cd "$dest"
rm -f sanitizer.*
# libubsan comes in as a dependency of the .so files; libstdc++ is preloaded with libasan so that ASan's
# __cxa_throw interceptor finds it (else the first C++ exception, e.g. in matplotlib's ft2font, aborts the run)
export LD_PRELOAD="$(gcc -print-file-name=libasan.so) $(gcc -print-file-name=libstdc++.so)"
export ASAN_OPTIONS="detect_leaks=0:halt_on_error=1:abort_on_error=1:log_path=$dest/sanitizer.asan"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:log_path=$dest/sanitizer.ubsan"
export NNCODEC_REQUIRE_CYTHON=1
status=0
nice -n 19 python -m pytest -q -p no:cacheprovider || status=$?
for spec in "$@"; do
  nice -n 19 python fuzz/replay.py "${spec%%=*}" "${spec#*=}" || status=$?
done
reports=$(cat sanitizer.* 2>/dev/null | grep -c "ERROR: \|runtime error:\|CHECK failed" || true)
echo "sanitizer reports: $reports (files: $(ls sanitizer.* 2>/dev/null | tr '\n' ' '))"
[ "$reports" -eq 0 ] || status=1
exit $status
