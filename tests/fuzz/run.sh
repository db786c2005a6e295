#!/bin/sh
# Build a fuzz target with clang (libFuzzer + ASan + UBSan) and run it for
# N seconds (default 30) from its seed corpus.  New inputs go to a scratch
# corpus, not into the repository.  Exits non-zero if the fuzzer finds a
# crash, a timeout or an out-of-memory (the reproducer is left in the
# scratch directory).
# Usage: tests/fuzz/run.sh TARGET [SECONDS] [WORKDIR]
#   TARGET: virtq (the virtqueue walker), qcow2 (the qcow2 open/read path),
#           state (reading state files), migrate (an incoming migration stream),
#           api (hosteld's request handlers), switch (the virtual switch's core)
#           console (virtio-console) or gpu (virtio-gpu and its front-end API)
set -eu
target=${1:?usage: run.sh virtq|qcow2|state|migrate|api|switch|console|gpu [SECONDS] [WORKDIR]}
secs=${2:-30}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
work=${3:-$(mktemp -d /tmp/hostel-fuzz.XXXXXX)}
cc=${CLANG:-clang}

# Every library source below the management layer, as the src/*/meson.build files list them
# (hostel-util ... hostel-vmm), without error.c (added below for every target), and the
# libraries they link.
emu_sources() {
    (cd "$root" && for m in src/*/meson.build; do
         grep -o "'[^']*\.c'" "$m" | tr -d "'" | sed "s|^|$(dirname "$m")/|"
     done | grep -v -e '^src/util/error.c$' -e '^src/mgmt/' | sed "s|^|$root/|" | tr '\n' ' ')
}
emu_libs="-lfdt -lslirp -lz -lzstd -ljansson -lm -lpthread -lpng -lvncserver -lgnutls"

case "$target" in
virtq)
    what="the virtqueue walker"
    srcs="$here/fuzz_virtq.c $root/src/virtio/virtq.c $root/src/hw/bus.c"
    libs=""
    opts="-max_len=16384"
    ;;
qcow2)
    what="the qcow2 open/read path"
    # The block layer's sources as its meson.build lists them (not half-written files).
    block=$(grep -o "'[^']*\.c'" "$root/src/block/meson.build" | tr -d "'" |
            sed "s|^|$root/src/block/|" | tr '\n' ' ')
    srcs="$here/fuzz_qcow2.c $root/tests/block/mem_file.c $block"
    libs="-lz -lzstd"
    # Bounded memory: an image must not make the driver allocate without limit.
    opts="-max_len=65536 -malloc_limit_mb=512"
    ;;
state|migrate)
    what="the state file reader"
    [ "$target" = migrate ] && what="the incoming side of a live migration"
    srcs="$here/fuzz_$target.c $(emu_sources)"
    libs=$emu_libs
    opts="-max_len=262144 -malloc_limit_mb=1024"
    ;;
console)
    what="virtio-console under a hostile driver"
    srcs="$here/fuzz_console.c $(emu_sources)"
    libs=$emu_libs
    opts="-max_len=4096"
    ;;
gpu)
    what="virtio-gpu under a hostile driver"
    srcs="$here/fuzz_gpu.c $(emu_sources)"
    libs=$emu_libs
    # A resource may be up to 256 MiB of host pixels: the device's own cap.
    opts="-max_len=4096 -malloc_limit_mb=1024"
    ;;
api)
    what="hosteld's request handlers"
    # hostel-util, -netcfg, -vmconfig, -block, -control and -mgmt as their meson.build files
    # list them (no emulator), plus the OpenAPI document compiled in as the build does.
    libsrc=$(cd "$root" && for m in src/util/meson.build src/net/meson.build \
                                     src/machine/meson.build src/block/meson.build \
                                     src/control/meson.build src/mgmt/meson.build; do
                 grep -o "'[^']*\.c'" "$m" | tr -d "'" | sed "s|^|$(dirname "$m")/|"
             done | grep -E '^src/(util|net/net\.c|machine/vmconfig|block|control|mgmt)' |
             grep -v -e '^src/util/error.c$' -e '^src/mgmt/openapi.c$' | sed "s|^|$root/|" |
             tr '\n' ' ')
    mkdir -p "$work"
    python3 "$root/scripts/embed-text.py" mgmt_openapi_json "$root/docs/openapi.json" \
        "$work/openapi.c"
    srcs="$here/fuzz_api.c $libsrc $work/openapi.c"
    libs="-ljansson -lgnutls -lpthread -lz -lzstd"
    opts="-max_len=65536 -malloc_limit_mb=512"
    ;;
switch)
    what="the virtual switch's core"
    srcs="$here/fuzz_switch.c $root/src/net/switch.c $root/src/net/sniff.c"
    libs=""
    opts="-max_len=8192"
    ;;
*)
    echo "run.sh: unknown target '$target' (virtq, qcow2, state, migrate, api, switch, console, gpu)" >&2
    exit 2
    ;;
esac

if ! command -v "$cc" >/dev/null 2>&1; then
    echo "run.sh: $cc not found (Debian: apt-get install clang libclang-rt-14-dev)" >&2
    exit 2
fi
mkdir -p "$work/corpus"
# shellcheck disable=SC2086  # word splitting of the source and library lists is meant
"$cc" -std=gnu11 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
    -fno-strict-aliasing -D_GNU_SOURCE -I"$root/src" \
    $srcs "$root/src/util/error.c" $libs -o "$work/fuzz_$target"
echo "run.sh: fuzzing $what for ${secs}s in $work" >&2
cd "$work"
status=0
# shellcheck disable=SC2086
"./fuzz_$target" -max_total_time="$secs" $opts -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 corpus "$here/corpus/$target" || status=$?
if [ "$status" -ne 0 ]; then
    echo "run.sh: the fuzzer failed (exit $status); reproducers: $(ls "$work"/crash-* "$work"/timeout-* "$work"/oom-* 2>/dev/null | tr '\n' ' ')" >&2
    exit 1
fi
echo "run.sh: no crash in ${secs}s" >&2
