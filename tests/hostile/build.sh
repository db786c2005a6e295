#!/bin/sh
# Build the hostile-guest program: build.sh OUT.elf [extra cc flags, e.g. -DPEER_ONLY]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=$1
shift
${CROSS_CC:-riscv64-linux-gnu-gcc} -march=rv64gc -mabi=lp64d -nostdlib -nostartfiles -static \
    -mcmodel=medany -fno-pic -no-pie -Wl,--build-id=none -Wl,--no-warn-rwx-segments \
    -T "$here/../isa/common/link.ld" -O2 -ffreestanding -fno-builtin -Wall -Wextra -Werror \
    "$@" "$here"/start.S "$here"/*.c -o "$out"
