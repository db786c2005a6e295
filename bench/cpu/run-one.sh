#!/bin/sh
# Run one CPU benchmark ELF once, with the RAM the workloads expect (256 MiB);
# the exit status is the workload's (0 = pass, 1 = checksum mismatch,
# 2 = out of memory, 3 = unexpected trap, 4 = internal self-test).
#   run-one.sh hostel PATH/TO/hostel W.elf
#   run-one.sh qemu   PATH/TO/qemu-system-riscv64 W.elf
set -u
if [ $# -ne 3 ]; then
    echo "usage: run-one.sh hostel|qemu EMULATOR W.elf" >&2
    exit 2
fi
kind=$1 emu=$2 elf=$3
case $kind in
hostel) exec timeout -k 5 100 "$emu" run --bios none -m 256M -k "$elf" ;;
qemu) exec timeout -k 5 100 "$emu" -M virt -bios none -m 256M -nographic -monitor none \
          -kernel "$elf" ;;
*) echo "run-one.sh: unknown emulator kind '$kind'" >&2; exit 2 ;;
esac
