#!/bin/sh
# Build the virtqueue fuzz target with clang (libFuzzer + ASan + UBSan) and
# run it for N seconds (default 30) from the seed corpus.  New inputs go to
# a scratch corpus, not into the repository.  Exits non-zero if the fuzzer
# finds a crash (the reproducer is left in the scratch directory).
# Usage: tests/fuzz/run.sh [SECONDS] [WORKDIR]
set -eu
secs=${1:-30}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
work=${2:-$(mktemp -d /tmp/hostel-fuzz.XXXXXX)}
cc=${CLANG:-clang}

if ! command -v "$cc" >/dev/null 2>&1; then
    echo "run.sh: $cc not found (Debian: apt-get install clang libclang-rt-14-dev)" >&2
    exit 2
fi
mkdir -p "$work/corpus"
"$cc" -std=gnu11 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
    -fno-strict-aliasing -D_GNU_SOURCE -I"$root/src" \
    "$here/fuzz_virtq.c" "$root/src/virtio/virtq.c" "$root/src/machine/bus.c" \
    "$root/src/util/error.c" -o "$work/fuzz_virtq"
echo "run.sh: fuzzing the virtqueue walker for ${secs}s in $work" >&2
cd "$work"
status=0
./fuzz_virtq -max_total_time="$secs" -max_len=16384 -timeout=10 -rss_limit_mb=1024 \
    -print_final_stats=1 corpus "$here/corpus/virtq" || status=$?
if [ "$status" -ne 0 ]; then
    echo "run.sh: the fuzzer failed (exit $status); reproducers: $(ls "$work"/crash-* "$work"/timeout-* "$work"/oom-* 2>/dev/null | tr '\n' ' ')" >&2
    exit 1
fi
echo "run.sh: no crash in ${secs}s" >&2
