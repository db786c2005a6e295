"""End-to-end tests of `hostel run` for bare-metal programs.

What a user sees: bad command lines and bad files give one clear line on
stderr and a non-zero exit; bare-metal programs print through the UART or
HTIF and their result becomes hostel's exit status.  Programs that also run
on QEMU (virt for the finisher and UART, spike for HTIF) are cross-checked
against it: same output, same exit status.

The hostel binary comes from $HOSTEL_BIN (default: build/hostel in the
repository).  Programs are assembled with riscv64-linux-gnu-gcc; those tests
are skipped when the cross compiler is missing.
"""
import json
import os
import re
import resource
import shutil
import signal
import struct
import subprocess
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
HOSTEL = os.environ.get("HOSTEL_BIN") or str(REPO / "build" / "hostel")
ISA_COMMON = REPO / "tests" / "isa" / "common"
CROSS_CC = shutil.which("riscv64-linux-gnu-gcc")
QEMU = shutil.which("qemu-system-riscv64")
TIMEOUT = 30

needs_cc = pytest.mark.skipif(CROSS_CC is None, reason="riscv64-linux-gnu-gcc not installed")


@pytest.fixture(scope="session", autouse=True)
def hostel_exists():
    if not os.access(HOSTEL, os.X_OK):
        pytest.fail(f"hostel binary not found at {HOSTEL}: build it or set HOSTEL_BIN")


def hostel(*args, timeout=TIMEOUT):
    return subprocess.run([HOSTEL, *args], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=timeout)


def run_elf(elf, *extra):
    return hostel("run", "--bios", "none", "-k", str(elf), *extra)


def one_error_line(res, *fragments):
    """Assert a failed run printed exactly one stderr line containing every fragment."""
    assert res.returncode != 0
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got: {res.stderr!r}"
    for f in fragments:
        assert f in lines[0], f"{f!r} not in {lines[0]!r}"
    return lines[0]


# ---------------------------------------------------------------- ELF images


# lui t0, 0x100; lui t1, 0x5; addi t1, t1, 0x555; sw t1, 0(t0); j .  (finisher: pass)
PASS_CODE = struct.pack("<5I", 0x001002b7, 0x00005337, 0x55530313, 0x0062a023, 0x0000006f)


def make_elf(path, *, machine=243, elf_class=2, segments=((0x80000000, PASS_CODE, 20),),
             entry=0x80000000):
    """Write a minimal ELF executable: segments are (paddr, data, memsz)."""
    phoff, phsize = 64, 56
    data_off = phoff + phsize * len(segments)
    phdrs, blobs = b"", b""
    for paddr, data, memsz in segments:
        phdrs += struct.pack("<IIQQQQQQ", 1, 7, data_off + len(blobs), paddr, paddr,
                             len(data), memsz, 0x1000)
        blobs += data
    ident = b"\x7fELF" + bytes([elf_class, 1, 1]) + bytes(9)
    ehdr = ident + struct.pack("<HHIQQQIHHHHHH", 2, machine, 1, entry, phoff, 0, 0, 64,
                               phsize, len(segments), 64, 0, 0)
    Path(path).write_bytes(ehdr + phdrs + blobs)
    return path


def assemble(tmp_path, name, source):
    """Assemble a bare-metal test program with tests/isa/common (test.h, link.ld)."""
    src = tmp_path / f"{name}.S"
    elf = tmp_path / f"{name}.elf"
    src.write_text(source)
    cmd = [CROSS_CC, "-march=rv64gc", "-mabi=lp64d", "-nostdlib", "-nostartfiles", "-static",
           "-mcmodel=medany", "-fno-pic", "-no-pie", "-Wl,--build-id=none",
           "-Wl,--no-warn-rwx-segments", "-T", str(ISA_COMMON / "link.ld"),
           "-I", str(ISA_COMMON), str(src), "-o", str(elf)]
    subprocess.run(cmd, check=True, capture_output=True, timeout=60)
    return elf


def qemu(elf, board):
    """Run elf on QEMU (board virt or spike); None if QEMU is not installed."""
    if QEMU is None:
        return None
    return subprocess.run([QEMU, "-M", board, "-bios", "none", "-nographic", "-monitor", "none",
                           "-kernel", str(elf)], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=TIMEOUT)


def check_against_qemu(elf, board, res):
    peer = qemu(elf, board)
    if peer is not None:
        assert (peer.returncode, peer.stdout) == (res.returncode, res.stdout), \
            f"QEMU {board} disagrees: {peer.returncode} {peer.stdout!r} {peer.stderr!r}"


# Writes each byte of a NUL-terminated string to the UART's THR.
UART_PUTS = """
    .macro uart_puts label
    la a0, \\label
    li a1, 0x10000000
1:  lbu t0, 0(a0)
    beqz t0, 2f
    sb t0, 0(a1)
    addi a0, a0, 1
    j 1b
2:
    .endm
"""

# QEMU's spike board insists that the tohost symbol be sized 8 bytes.
HTIF_BEGIN = """#include "test.h"
TEST_BEGIN
    .size tohost, 8
    .size fromhost, 8
"""

HTIF_PUTC = """
    .macro htif_putc ch
    la t1, tohost
    la t2, fromhost
    li t0, (1 << 56) | (1 << 48) | \\ch
    sd t0, 0(t1)
1:  ld t3, 0(t2)
    beqz t3, 1b
    sd zero, 0(t2)
    li t0, (1 << 56) | (1 << 48) | 0x100 | \\ch
    bne t3, t0, test_fail
    .endm
"""

# ---------------------------------------------------------------- command line


def test_version_and_help():
    res = hostel("--version")
    assert res.returncode == 0 and res.stdout.startswith("hostel ")
    res = hostel("help")
    assert res.returncode == 0 and "run" in res.stdout
    res = hostel()
    assert res.returncode == 2 and "usage" in res.stderr


def test_run_help_lists_every_flag():
    res = hostel("run", "--help")
    assert res.returncode == 0
    for flag in ("-k, --kernel", "--bios", "-m, --mem", "-c, --cpus", "--stats",
                 "--max-insns", "-h, --help"):
        assert flag in res.stdout, flag
    assert hostel("help", "run").stdout == res.stdout


def test_unknown_flag():
    res = hostel("run", "--frobnicate", "-k", "x.elf")
    assert res.returncode == 2
    one_error_line(res, "unknown option '--frobnicate'")
    res = hostel("run", "-z")
    assert res.returncode == 2
    one_error_line(res, "unknown option '-z'")


def test_unknown_command():
    res = hostel("frobnicate")
    assert res.returncode == 2
    one_error_line(res, "unknown command 'frobnicate'")


def test_missing_argument():
    res = hostel("run", "-k")
    assert res.returncode == 2
    one_error_line(res, "'-k' needs an argument")


def test_no_kernel_and_no_default_guest(tmp_path):
    env = dict(os.environ, HOSTEL_CACHE=str(tmp_path))
    res = subprocess.run([HOSTEL, "run"], capture_output=True, text=True,
                         stdin=subprocess.DEVNULL, timeout=TIMEOUT, env=env)
    assert res.returncode == 1
    one_error_line(res, "default guest is missing", "make guest")


def test_missing_bios_file(tmp_path):
    res = hostel("run", "--bios", str(tmp_path / "opensbi.bin"), "-k",
                 str(make_elf(tmp_path / "a.elf")))
    assert res.returncode == 1
    one_error_line(res, "opensbi.bin")


def test_cpus(tmp_path):
    res = hostel("run", "-c", "9", "-k", str(make_elf(tmp_path / "a.elf")))
    assert res.returncode == 2
    one_error_line(res, "-c '9'", "1 to 8 harts")
    res = hostel("run", "-c", "two", "-k", str(tmp_path / "a.elf"))
    assert res.returncode == 2
    one_error_line(res, "expected a number of harts")


def test_disk_options(tmp_path):
    elf = make_elf(tmp_path / "a.elf")
    for arg, fragment in [("d.img,fast", "unknown disk option"),
                          ("d.img,format=vmdk", "format is raw or qcow2"),
                          ("d.img,l2-cache-size=lots", "l2-cache-size"),
                          (",ro", "expected an image path")]:
        res = hostel("run", "-d", arg, "-k", str(elf))
        assert res.returncode == 2, arg
        one_error_line(res, fragment)
    # Well-formed options reach the image: a missing file is reported as such.
    res = hostel("run", "-d", str(tmp_path / "none.img") + ",ro,format=raw,l2-cache-size=2M",
                 "-k", str(elf))
    one_error_line(res, "none.img", "cannot open")
    # An explicit format is obeyed, not probed: a raw file is not a qcow2 image.
    (tmp_path / "raw.img").write_bytes(bytes(65536))
    res = hostel("run", "-d", str(tmp_path / "raw.img") + ",format=qcow2", "-k", str(elf))
    one_error_line(res, "raw.img")


def test_memory_sizes(tmp_path):
    elf = str(make_elf(tmp_path / "a.elf"))
    res = hostel("run", "-m", "1M", "-k", elf)
    assert res.returncode == 2
    one_error_line(res, "memory below 16 MiB")
    one_error_line(hostel("run", "-m", "12x", "-k", elf), "not a size")
    one_error_line(hostel("run", "-m", "99999999999999999999G", "-k", elf), "not a size")
    one_error_line(hostel("run", "-m", "2T", "-k", elf), "above 1 TiB")
    one_error_line(hostel("run", "-m", "20001K", "-k", elf), "multiple of 4 KiB")


def test_max_insns_syntax(tmp_path):
    res = hostel("run", "--max-insns", "lots", "-k", str(make_elf(tmp_path / "a.elf")))
    assert res.returncode == 2
    one_error_line(res, "--max-insns 'lots'")


# ---------------------------------------------------------------- bad files


def test_missing_file(tmp_path):
    res = run_elf(tmp_path / "nothere.elf")
    assert res.returncode == 1
    one_error_line(res, f"{tmp_path / 'nothere.elf'}: no such file")


def test_not_an_elf(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("just some text\n")
    res = run_elf(path)
    assert res.returncode == 1
    one_error_line(res, f"{path}: not an ELF file")


def test_host_binary():
    res = run_elf("/bin/true")
    assert res.returncode == 1
    one_error_line(res, "/bin/true: not a 64-bit RISC-V ELF (machine 62")


def test_32bit_elf(tmp_path):
    res = run_elf(make_elf(tmp_path / "rv32.elf", elf_class=1))
    one_error_line(res, "not a 64-bit RISC-V ELF (32-bit ELF)")


def test_segment_larger_than_ram(tmp_path):
    big = make_elf(tmp_path / "big.elf", segments=((0x80000000, PASS_CODE, 32 << 20),))
    res = run_elf(big, "-m", "16M")
    assert res.returncode == 1
    one_error_line(res, "segment 0x80000000-0x81ffffff does not fit in RAM "
                        "(0x80000000-0x80ffffff); use -m to give more memory")


def test_truncated_elf(tmp_path):
    path = make_elf(tmp_path / "cut.elf")
    path.write_bytes(path.read_bytes()[:100])
    one_error_line(run_elf(path), "truncated")


def test_entry_outside_ram(tmp_path):
    res = run_elf(make_elf(tmp_path / "entry.elf", entry=0x1000))
    one_error_line(res, "entry point 0x1000 is outside RAM")


# ---------------------------------------------------------------- running programs


def test_minimal_elf_passes_without_toolchain(tmp_path):
    elf = make_elf(tmp_path / "pass.elf")
    res = run_elf(elf)
    assert (res.returncode, res.stdout, res.stderr) == (0, "", "")
    big = make_elf(tmp_path / "big.elf", segments=((0x80000000, PASS_CODE, 32 << 20),))
    assert run_elf(big, "-m", "64M").returncode == 0
    check_against_qemu(elf, "virt", res)


@needs_cc
def test_uart_hello_and_finisher_pass(tmp_path):
    elf = assemble(tmp_path, "hello", '#include "test.h"\n' + UART_PUTS + """
TEST_BEGIN
    uart_puts msg
    TEST_PASS
    .data
msg: .asciz "hello\\n"
""")
    res = run_elf(elf)
    assert (res.returncode, res.stdout, res.stderr) == (0, "hello\n", "")
    check_against_qemu(elf, "virt", res)


@needs_cc
def test_finisher_fail_code(tmp_path):
    elf = assemble(tmp_path, "fail7", """#include "test.h"
TEST_BEGIN
    li TESTNUM, 7
    TEST_FAIL
""")
    res = run_elf(elf)
    assert res.returncode == 7
    check_against_qemu(elf, "virt", res)


@needs_cc
def test_finisher_fail_code_zero_is_not_a_pass(tmp_path):
    # QEMU exits 0 here; a test runner must not mistake a failure for a pass.
    elf = assemble(tmp_path, "fail0", """#include "test.h"
TEST_BEGIN
    li t0, 0x3333 | (256 << 16)
    li t1, 0x100000
    sw t0, 0(t1)
1:  j 1b
""")
    assert run_elf(elf).returncode == 1


@needs_cc
def test_finisher_reset_reloads_and_restarts(tmp_path):
    # RAM outside the image survives a reset (as on QEMU); the image is reloaded.
    elf = assemble(tmp_path, "reset", """#include "test.h"
TEST_BEGIN
    li s0, 0x80800000
    lw t0, 0(s0)
    la s1, boot_image_word
    lw t1, 0(s1)
    li TESTNUM, 2
    li t2, 0x1234
    bne t1, t2, test_fail
    bnez t0, second_boot
    li t0, 1
    sw t0, 0(s0)
    sw zero, 0(s1)
    li t0, 0x7777
    li t1, 0x100000
    sw t0, 0(t1)
1:  j 1b
second_boot:
    TEST_PASS
    .data
boot_image_word: .word 0x1234
""")
    res = run_elf(elf)
    assert res.returncode == 0, res.stderr
    check_against_qemu(elf, "virt", res)


@needs_cc
def test_uart_registers_match_16550(tmp_path):
    elf = assemble(tmp_path, "uartregs", '#include "test.h"\n' + UART_PUTS + """
TEST_BEGIN
    li s0, 0x10000000
    TEST_CASE(2, a0, 0x60, lbu a0, 5(s0))
    TEST_CASE(3, a0, 0x01, lbu a0, 2(s0))
    TEST_CASE(4, a0, 0xa5, li t0, 0xa5; sb t0, 7(s0); lbu a0, 7(s0))
    TEST_CASE(5, a0, 0x0f, li t0, 0x0f; sb t0, 1(s0); lbu a0, 1(s0))
    TEST_CASE(6, a0, 0x02, lbu a0, 2(s0))
    TEST_CASE(7, a0, 0x01, lbu a0, 2(s0))
    TEST_CASE(8, a0, 0x00, sb zero, 1(s0); lbu a0, 1(s0))
    TEST_CASE(9, a0, 0xc1, li t0, 0x07; sb t0, 2(s0); lbu a0, 2(s0))
    TEST_CASE(10, a0, 0x0c, li t0, 0x83; sb t0, 3(s0); li t0, 0x0c; sb t0, 0(s0); \
              li t0, 0x01; sb t0, 1(s0); lbu a0, 0(s0))
    TEST_CASE(11, a0, 0x01, lbu a0, 1(s0))
    TEST_CASE(12, a0, 0x83, lbu a0, 3(s0))
    TEST_CASE(13, a0, 0x00, li t0, 0x03; sb t0, 3(s0); lbu a0, 1(s0))
    TEST_CASE(14, a0, 0x1f, li t0, 0x1f; sb t0, 4(s0); lbu a0, 4(s0))
    TEST_CASE(15, a0, 0xf0, lbu a0, 6(s0); andi a0, a0, 0xf0)
    TEST_CASE(16, a0, 0x61, li t0, 'Z'; sb t0, 0(s0); lbu a0, 5(s0))
    TEST_CASE(17, a0, 'Z', lbu a0, 0(s0))
    TEST_CASE(18, a0, 0x60, lbu a0, 5(s0))
    TEST_CASE(19, a0, 0x00, li t0, 0x10; sb t0, 4(s0); lbu a0, 6(s0); andi a0, a0, 0xf0)
    TEST_CASE(20, a0, 0xb0, sb zero, 4(s0); lbu a0, 6(s0))
    uart_puts msg
    TEST_PASS
    .data
msg: .asciz "uart ok\\n"
""")
    res = run_elf(elf)
    assert (res.returncode, res.stdout) == (0, "uart ok\n"), res.stderr
    check_against_qemu(elf, "virt", res)


@needs_cc
def test_htif_exit_code(tmp_path):
    elf = assemble(tmp_path, "htif42", HTIF_BEGIN + """
    li t0, (42 << 1) | 1
    la t1, tohost
    sd t0, 0(t1)
1:  j 1b
""")
    res = run_elf(elf)
    assert res.returncode == 42
    check_against_qemu(elf, "spike", res)


@needs_cc
def test_htif_exit_in_two_halves(tmp_path):
    elf = assemble(tmp_path, "htifhalves", HTIF_BEGIN + """
    li t0, (5 << 1) | 1
    la t1, tohost
    sw t0, 0(t1)
    sw zero, 4(t1)
1:  j 1b
""")
    res = run_elf(elf)
    assert res.returncode == 5
    check_against_qemu(elf, "spike", res)


@needs_cc
def test_htif_low_half_alone_waits_for_high_half(tmp_path):
    elf = assemble(tmp_path, "htiflow", HTIF_BEGIN + """
    li t0, (5 << 1) | 1
    la t1, tohost
    sw t0, 0(t1)
1:  j 1b
""")
    res = run_elf(elf, "--max-insns", "100000")
    assert res.returncode == 124


@needs_cc
def test_htif_console_putchar(tmp_path):
    elf = assemble(tmp_path, "htifputc", HTIF_BEGIN + HTIF_PUTC + """
    li TESTNUM, 2
    htif_putc 'h'
    htif_putc 'i'
    htif_putc '\\n'
    li t0, 1
    la t1, tohost
    sd t0, 0(t1)
1:  j 1b
""")
    res = run_elf(elf)
    assert (res.returncode, res.stdout) == (0, "hi\n"), res.stderr
    check_against_qemu(elf, "spike", res)


@needs_cc
def test_htif_syscalls_write_and_exit(tmp_path):
    elf = assemble(tmp_path, "htifsys", HTIF_BEGIN + """
    la t0, write_block
    la t1, tohost
    sd t0, 0(t1)
    la t2, fromhost
1:  ld t3, 0(t2)
    beqz t3, 1b
    sd zero, 0(t2)
    li TESTNUM, 2
    ld a0, 0(t0)
    li t6, 6
    bne a0, t6, test_fail
    la t0, exit_block
    sd t0, 0(t1)
1:  j 1b
    .data
    .align 3
write_block: .dword 64, 1, text, 6, 0, 0, 0, 0
exit_block: .dword 93, 3, 0, 0, 0, 0, 0, 0
text: .ascii "write\\n"
""")
    res = run_elf(elf)
    assert (res.returncode, res.stdout) == (3, "write\n"), res.stderr


@needs_cc
def test_htif_unknown_command_warns_once(tmp_path):
    elf = assemble(tmp_path, "htifunknown", HTIF_BEGIN + """
    la t1, tohost
    li t0, (7 << 56) | 1
    sd t0, 0(t1)
    sd t0, 0(t1)
    li TESTNUM, 2
    ld t0, 0(t1)
    bnez t0, test_fail
    TEST_PASS
""")
    res = run_elf(elf)
    assert res.returncode == 0
    assert len(res.stderr.strip().splitlines()) == 1 and "HTIF" in res.stderr
    named = run_elf(elf, "--name", "vm-1.test")
    assert named.returncode == 0 and named.stderr.startswith("hostel[vm-1.test]: warning: HTIF")


@needs_cc
def test_log_level_and_json_format(tmp_path):
    """--log-level drops what is below it; --log-format json gives one object per line."""
    elf = assemble(tmp_path, "htiflog", HTIF_BEGIN + """
    la t1, tohost
    li t0, (7 << 56) | 1
    sd t0, 0(t1)
    li TESTNUM, 2
    ld t0, 0(t1)
    bnez t0, test_fail
    TEST_PASS
""")
    quiet = hostel("--log-level", "error", "run", "--bios", "none", "-k", str(elf))
    assert (quiet.returncode, quiet.stderr) == (0, "")
    quiet = run_elf(elf, "--log-level=error")
    assert (quiet.returncode, quiet.stderr) == (0, "")
    res = hostel("--log-format=json", "run", "--bios", "none", "-k", str(elf), "--name", "j1")
    assert res.returncode == 0
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    rec = json.loads(lines[0])
    assert list(rec) == ["ts", "level", "vm", "msg"]
    assert rec["level"] == "warn" and rec["vm"] == "j1" and rec["msg"].startswith("HTIF")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", rec["ts"])
    rec = json.loads(run_elf(elf, "--log-format", "json").stderr)
    assert "vm" not in rec and rec["level"] == "warn"


def test_bad_log_options(tmp_path):
    elf = str(make_elf(tmp_path / "a.elf"))
    one_error_line(hostel("--log-level", "loud", "run", "-k", elf), "--log-level 'loud'")
    one_error_line(hostel("--log-format"), "--log-format")
    one_error_line(hostel("run", "--log-format", "xml", "-k", elf), "--log-format 'xml'")
    assert hostel("--log-level", "loud", "run").returncode == 2
    assert "--log-level" in hostel("--help").stdout


def test_memory_sizes_long_units(tmp_path):
    """run's sizes: a plain number is MiB, KB/KiB forms and qemu-img's syntax (docs/cli.md)."""
    elf = str(make_elf(tmp_path / "a.elf"))
    for size in ("16", "16M", "16MiB", "16MB", "16384K", "16384KiB", "0x1000000", "0.015625G"):
        res = hostel("run", "--bios", "none", "-m", size, "-k", elf)
        assert res.returncode == 0, (size, res.stderr)
    one_error_line(hostel("run", "-m", "15", "-k", elf), "memory below 16 MiB")
    one_error_line(hostel("run", "-m", "16Mi", "-k", elf), "not a size")


def test_bad_vm_names(tmp_path):
    elf = str(make_elf(tmp_path / "a.elf"))
    for name in ("", "a/b", ".hidden", "x" * 65, "sp ace"):
        res = hostel("run", "--name", name, "--bios", "none", "-k", elf)
        assert res.returncode == 2
        one_error_line(res, "--name")


@needs_cc
def test_stats_and_max_insns(tmp_path):
    elf = assemble(tmp_path, "spin", """#include "test.h"
TEST_BEGIN
1:  addi t0, t0, 1
    j 1b
""")
    res = run_elf(elf, "--max-insns", "200000", "--stats")
    assert res.returncode == 124
    stats = dict(line.split(": ", 1) for line in res.stderr.splitlines() if ": " in line)
    insns = int(stats["instructions"])
    assert 200000 <= insns < 400000
    assert float(stats["seconds"]) >= 0 and float(stats["MIPS"]) >= 0
    assert "stopped after" in res.stderr and "--max-insns 200000" in res.stderr


@needs_cc
def test_sigint_stops_the_guest(tmp_path):
    elf = assemble(tmp_path, "spin", """#include "test.h"
TEST_BEGIN
1:  j 1b
""")
    proc = subprocess.Popen([HOSTEL, "run", "--bios", "none", "-k", str(elf)],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == 128 + signal.SIGINT
    assert "stopped by signal 2" in err


def vm_rss_kib(pid):
    """Resident memory of process pid in KiB (VmRSS of /proc/PID/status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS in /proc/{pid}/status")


@needs_cc
def test_large_memory_is_reserved_lazily(tmp_path):
    # An 8 GiB guest that writes its first and last RAM pages, then idles: the
    # VMM's resident memory is what was touched, not the guest's size.
    elf = assemble(tmp_path, "touch", """#include "test.h"
TEST_BEGIN
    li t0, 0x80000000 + (8 << 30) - 8
    li t1, 0x1234567890abcdef
    sd t1, 0(t0)
    ld t2, 0(t0)
    bne t1, t2, test_fail
1:  wfi
    j 1b
""")
    proc = subprocess.Popen([HOSTEL, "run", "--bios", "none", "-k", str(elf), "-m", "8G"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        rss = 0
        for _ in range(10):  # one second of samples while the guest idles
            time.sleep(0.1)
            assert proc.poll() is None, "the 8 GiB guest stopped early: " + proc.stderr.read()
            rss = max(rss, vm_rss_kib(proc.pid))
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert rss < 1 << 20, (f"the VMM of an 8 GiB guest that touched two pages is resident at "
                           f"{rss >> 10} MiB: guest RAM must be reserved lazily (MAP_NORESERVE, "
                           f"pages filled on first touch), not allocated or zeroed up front")


@needs_cc
def test_idle_guest_sleeps(tmp_path):
    # A hart waiting in WFI with nothing to wake it costs (almost) no host CPU.
    elf = assemble(tmp_path, "idle", """#include "test.h"
TEST_BEGIN
1:  wfi
    j 1b
""")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.Popen([HOSTEL, "run", "--bios", "none", "-k", str(elf)],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    time.sleep(1.0)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=TIMEOUT)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    assert proc.returncode == 128 + signal.SIGTERM, err
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    assert cpu < 0.3, f"idle guest used {cpu:.2f} s of CPU in 1 s"
