#!/bin/sh
# Run one bare-metal ISA test ELF under an emulator; exit status is the test's.
#   run-isa.sh hostel PATH/TO/hostel test.elf
#   run-isa.sh qemu   PATH/TO/qemu-system-riscv64 test.elf      (virt board)
#   run-isa.sh spike  PATH/TO/qemu-system-riscv64 test.elf      (HTIF via -M spike)
set -u
kind=$1 emu=$2 elf=$3
case $kind in
hostel) exec timeout -k 5 60 "$emu" run --bios none -k "$elf" ;;
hostel-smp2) exec timeout -k 5 60 "$emu" run --bios none -c 2 -k "$elf" ;;
qemu-smp2) exec timeout -k 5 60 "$emu" -M virt -smp 2 -bios none -nographic -monitor none -kernel "$elf" ;;
qemu)   exec timeout -k 5 60 "$emu" -M virt -bios none -nographic -monitor none -kernel "$elf" ;;
spike)  exec timeout -k 5 60 "$emu" -M spike -bios none -nographic -monitor none -kernel "$elf" ;;
*) echo "run-isa.sh: unknown emulator kind '$kind'" >&2; exit 2 ;;
esac
