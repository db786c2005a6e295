"""The hostile guest (issue 3): a guest feeding virtio devices garbage cannot hurt hostel.

tests/hostile/ is a bare-metal program that acts as a virtio-mmio driver and
runs one scenario after another against virtio-blk, virtio-rng and virtio-gpu: looping,
out-of-range and oversized descriptor chains, bad indirect tables, bad queue
setups, malformed and out-of-range block requests (read/write, discard,
write-zeroes), register abuse, malformed gpu commands (unknown, backing outside RAM,
rectangles outside their resource, a missing scanout, a resource over the limits, a
response buffer too small: each answered with its error, nothing written past a buffer).
After
each one it checks the device's reaction (DEVICE_NEEDS_RESET, or the defined
error status), resets the device and checks that a well-formed request works
again; it ends with a write of sector 3 and reads of sectors 0, 1 and 3.

What a user sees, checked here: hostel stays up and the program passes (exit
status 0); stderr has exactly one line per broken-device event, naming the
device and the problem, and nothing else (no sanitizer report: `make test`
runs this against the ASan/UBSan build through $HOSTEL_BIN); the disk image
is unchanged except for the sector the program wrote.  The scenarios whose
outcome the virtio spec defines also run on QEMU virt, our peer.
"""
import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
HOSTEL = os.environ.get("HOSTEL_BIN") or str(REPO / "build" / "hostel")
BUILD_SH = REPO / "tests" / "hostile" / "build.sh"
CROSS_CC = shutil.which("riscv64-linux-gnu-gcc")
QEMU = shutil.which("qemu-system-riscv64")
TIMEOUT = 120  # the whole run takes well under a second natively, ASan included

pytestmark = pytest.mark.skipif(CROSS_CC is None, reason="riscv64-linux-gnu-gcc not installed")

SECTOR = 512
DISK_SECTORS = 128
SECTOR_WRITTEN = 3  # the program's only write (tests/hostile/scen.h)

BLK = "virtio-blk@0x10001000"  # slot 0: the first -d disk
RNG = "virtio-rng@0x10002000"  # the next slot
GPU = "virtio-gpu@0x10004000"  # after virtio-console: the display (--display headless)

# Every scenario in run order, with the broken-device report it must cause
# (device, text of the problem) or None when the device must not break.
SCENARIOS = [
    ("loop_self", BLK, "queue 0: chain 0 is longer than the queue size 8 (a loop?)"),
    ("loop_pair", BLK, "queue 0: chain 0 is longer than the queue size 8 (a loop?)"),
    ("loop_to_middle", BLK, "queue 0: chain 5 is longer than the queue size 8 (a loop?)"),
    ("longer_than_queue", BLK, "queue 0: chain 0 is longer than the queue size 8"),
    ("head_out_of_range", BLK, "queue 0: head descriptor index 8 out of range (size 8)"),
    ("head_0xffff", BLK, "queue 0: head descriptor index 65535 out of range (size 8)"),
    ("next_out_of_range", BLK, "queue 0: chain 0: descriptor index 8 out of range"),
    ("buf_at_zero", BLK, "queue 0: chain 0: buffer 0x0+0x200 is outside RAM"),
    ("buf_at_top", BLK, "queue 0: chain 0: buffer 0xffffffffffff0000+0x200 is outside RAM"),
    ("buf_wraps", BLK, "queue 0: chain 0: buffer 0xfffffffffffffe00+0x400 is outside RAM"),
    ("buf_past_ram_end", BLK, "queue 0: chain 0: buffer 0x83ffff00+0x200 is outside RAM"),
    ("buf_below_ram", BLK, "queue 0: chain 0: buffer 0x7fffff00+0x200 is outside RAM"),
    ("buf_len_4g", BLK, "queue 0: chain 0 has more than 4 GiB of writable buffers"),
    ("buf_on_mmio", BLK, "queue 0: chain 0: buffer 0x10001000+0x200 is outside RAM"),
    ("buf_on_finisher", BLK, "queue 0: chain 0: buffer 0x100000+0x200 is outside RAM"),
    ("total_over_4g", BLK, "queue 0: chain 0 has more than 4 GiB of readable buffers"),
    ("readable_after_writable", BLK,
     "queue 0: chain 0 has a device-readable buffer after a writable one"),
    ("avail_idx_jump", BLK, "queue 0: available index moved from 0 to 9 (queue size 8)"),
    ("avail_idx_backwards", BLK,
     "queue 0: available index moved from 0 to 65535 (queue size 8)"),
    ("good_then_bad", BLK, "queue 0: head descriptor index 9 out of range (size 8)"),
    ("broken_ignores_work", BLK, "queue 0: head descriptor index 8 out of range (size 8)"),
    ("indirect_nested", BLK,
     "queue 0: chain 0 has an indirect descriptor inside an indirect table"),
    ("indirect_len_zero", BLK, "queue 0: chain 0: indirect table of 0 bytes"),
    ("indirect_len_unaligned", BLK, "queue 0: chain 0: indirect table of 24 bytes"),
    ("indirect_too_many", BLK, "queue 0: chain 0: indirect table of 144 bytes"),
    ("indirect_with_next", BLK, "queue 0: chain 0 has an indirect descriptor with NEXT set"),
    ("indirect_past_ram_end", BLK,
     "queue 0: chain 0: indirect table 0x83fffff0+0x30 is outside RAM"),
    ("indirect_at_zero", BLK, "queue 0: chain 0: indirect table 0x0+0x30 is outside RAM"),
    ("indirect_loop", BLK, "queue 0: chain 0 is longer than the queue size 8 (a loop?)"),
    ("indirect_next_out_of_range", BLK,
     "queue 0: chain 0: descriptor index 5 out of range (table of 3)"),
    ("indirect_not_negotiated", BLK,
     "queue 0: chain 0 uses an indirect table without INDIRECT_DESC"),
    ("qsize_not_pow2", BLK, "queue 0: queue size 6: must be a power of two in 1..256"),
    ("qsize_over_max", BLK, "queue 0: queue size 512: must be a power of two in 1..256"),
    ("qsize_zero", BLK, "queue 0: queue size 0: must be a power of two in 1..256"),
    ("qsize_65536", BLK, "must be a power of two in 1..256"),
    ("qsize_huge", BLK, "must be a power of two in 1..256"),
    ("desc_at_zero", BLK, "queue 0: descriptor area 0x0+0x80 is outside RAM"),
    ("desc_misaligned", BLK, "queue 0: descriptor area 0x80200008 is not 16-byte aligned"),
    ("desc_wraps", BLK, "queue 0: descriptor area 0xfffffffffffffff0+0x80 is outside RAM"),
    ("avail_past_ram", BLK, "queue 0: driver area 0x84000000+0x16 is outside RAM"),
    ("avail_misaligned", BLK, "queue 0: driver area 0x80201001 is not 2-byte aligned"),
    ("used_straddles_end", BLK, "queue 0: device area 0x83fffff0+0x46 is outside RAM"),
    ("used_misaligned", BLK, "queue 0: device area 0x80202002 is not 4-byte aligned"),
    ("used_on_mmio", BLK, "queue 0: device area 0x10001000+0x46 is outside RAM"),
    ("rng_qsize_over_max", RNG, "queue 0: queue size 128: must be a power of two in 1..64"),
    ("req_no_status", BLK, "request 0 has no status byte"),
    ("req_short_header", BLK, "request 0 has no 16-byte header"),
    ("sector_at_capacity", None, None),
    ("sector_straddles_end", None, None),
    ("write_sector_max", None, None),
    ("write_offset_wraps", None, None),
    ("read_not_sectors", None, None),
    ("write_not_sectors", None, None),
    ("unknown_type", None, None),
    ("discard_not_negotiated", None, None),
    ("header_split", None, None),
    ("same_chain_twice", None, None),
    ("reset_in_flight", None, None),
    ("dma_over_code", None, None),
    ("wz_offset_wraps", None, None),
    ("wz_past_end", None, None),
    ("wz_huge_count", None, None),
    ("wz_bad_flags", None, None),
    ("discard_unmap", None, None),
    ("discard_second_bad", None, None),
    ("discard_partial_segment", None, None),
    ("wz_too_many_segments", None, None),
    ("rng_loop", RNG, "queue 0: chain 0 is longer than the queue size 8 (a loop?)"),
    ("rng_buf_on_mmio", RNG, "queue 0: chain 0: buffer 0x10001000+0x40 is outside RAM"),
    ("rng_buf_past_ram_end", RNG, "queue 0: chain 0: buffer 0x83ffffe0+0x40 is outside RAM"),
    ("rng_readable_only", None, None),
    ("rng_oversized", None, None),
    ("missing_queues", None, None),
    ("live_queue_change", None, None),
    ("config_abuse", None, None),
    ("driver_sets_needs_reset", None, None),
    ("features_unoffered", None, None),
    ("features_legacy", None, None),
    # virtio-gpu: each error answered with its response type; one line per kind of error
    ("gpu_unknown_command", GPU, "unknown control command 0xdead"),
    ("gpu_backing_past_ram_end", GPU,
     "RESOURCE_ATTACH_BACKING: entry 0 (0x83fffe00+0x400) is not in guest RAM"),
    ("gpu_transfer_outside", GPU,
     "TRANSFER_TO_HOST_2D: 16x16+8+8 is not inside resource 1 (16x16)"),
    ("gpu_scanout_out_of_range", GPU, "SET_SCANOUT: no scanout 7"),
    ("gpu_huge_resource", GPU,
     "RESOURCE_CREATE_2D: 16384x16384 over the limits (256 resources, 256 MiB)"),
    ("gpu_small_response", GPU, "GET_DISPLAY_INFO: response buffer of 8 bytes (408 needed)"),
    ("final_io", None, None),
]

# The scenarios a -DPEER_ONLY build runs: outcomes the spec defines (QEMU agrees).
PEER_SCENARIOS = ["sector_at_capacity", "sector_straddles_end", "write_sector_max",
                  "write_offset_wraps", "read_not_sectors", "write_not_sectors",
                  "unknown_type", "header_split", "reset_in_flight", "wz_offset_wraps",
                  "wz_past_end", "wz_huge_count", "wz_bad_flags", "discard_unmap", "final_io"]

SANITIZER_MARKS = ("AddressSanitizer", "LeakSanitizer", "UndefinedBehaviorSanitizer",
                   "runtime error:")


def disk_content():
    """The test disk: byte o holds a function of its sector and offset (tests/hostile/scen.c)."""
    return bytes(((o >> 9) * 29 + (o & 511) * 7 + 0x5a) & 0xff
                 for o in range(DISK_SECTORS * SECTOR))


def written_sector():
    """What the program's one good write puts in SECTOR_WRITTEN."""
    return bytes((0xc3 + i * 13) & 0xff for i in range(SECTOR))


def build(out, *cflags):
    """Build tests/hostile into `out` with extra compiler flags; fail the test if it does not."""
    proc = subprocess.run(["sh", str(BUILD_SH), str(out), *cflags], capture_output=True,
                          text=True, timeout=120, env=dict(os.environ, CROSS_CC=CROSS_CC))
    if proc.returncode != 0:
        pytest.fail(f"building the hostile guest failed:\n{proc.stderr}")
    return out


def make_disk(path):
    path.write_bytes(disk_content())
    return path


def scenario_lines(stdout):
    return [line.split(" ", 1)[1] for line in stdout.splitlines()
            if line.startswith("scenario ")]


class Run:
    """One finished emulator run: exit status, UART output, stderr, disk after."""

    def __init__(self, argv, disk):
        proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True,
                              timeout=TIMEOUT)
        self.status = proc.returncode
        self.stdout = proc.stdout.decode(errors="replace")
        self.stderr = proc.stderr.decode(errors="replace")
        self.disk = disk.read_bytes()

    def describe(self):
        return f"status {self.status}\n--- UART:\n{self.stdout[-3000:]}\n" \
               f"--- stderr:\n{self.stderr[-3000:]}"


def hostel_argv(elf, disk):
    # No network card: the hostile guest finds virtio-rng in the slot after the disk; a
    # display puts a virtio-gpu after virtio-console.
    return [HOSTEL, "run", "--bios", "none", "-m", "64M", "-d", str(disk), "-k", str(elf),
            "--net", "none", "--display", "headless"]


@pytest.fixture(scope="module")
def hostile_elf(tmp_path_factory):
    if not os.access(HOSTEL, os.X_OK):
        pytest.fail(f"hostel binary not found at {HOSTEL}: build it or set HOSTEL_BIN")
    return build(tmp_path_factory.mktemp("hostile") / "hostile.elf")


@pytest.fixture(scope="module")
def hostel_run(hostile_elf):
    disk = make_disk(hostile_elf.parent / "disk.img")
    return Run(hostel_argv(hostile_elf, disk), disk)


def test_vmm_stays_up_and_devices_recover(hostel_run):
    assert hostel_run.status == 0, hostel_run.describe()
    assert "hostile: all scenarios passed" in hostel_run.stdout, hostel_run.describe()
    assert scenario_lines(hostel_run.stdout) == [name for name, _, _ in SCENARIOS]


def test_no_sanitizer_report(hostel_run):
    found = [mark for mark in SANITIZER_MARKS if mark in hostel_run.stderr]
    assert not found, hostel_run.describe()


def test_one_line_per_broken_device_naming_the_problem(hostel_run):
    broken = [(name, dev, problem) for name, dev, problem in SCENARIOS if dev is not None]
    lines = hostel_run.stderr.splitlines()
    assert len(lines) == len(broken), hostel_run.describe()
    for line, (name, dev, problem) in zip(lines, broken):
        assert line.startswith(f"hostel: warning: {dev}: "), (name, line)
        # the gpu answers a bad command with an error (and says so once per kind of error);
        # the other devices break on a bad chain
        end = "(such errors are not logged again)" if dev == GPU else "; device needs reset"
        assert line.endswith(end), (name, line)
        assert problem in line, (name, line)


def test_disk_changed_only_where_the_program_wrote(hostel_run):
    before = disk_content()
    after = hostel_run.disk
    assert len(after) == len(before)
    written = slice(SECTOR_WRITTEN * SECTOR, (SECTOR_WRITTEN + 1) * SECTOR)
    assert after[written] == written_sector()
    changed = [s for s in range(DISK_SECTORS) if s != SECTOR_WRITTEN
               and after[s * SECTOR:(s + 1) * SECTOR] != before[s * SECTOR:(s + 1) * SECTOR]]
    assert changed == [], f"sectors changed by hostile requests: {changed}"


def test_a_failed_check_is_reported(hostile_elf, tmp_path):
    """The program is not vacuous: on a disk with other content, recovery fails at once."""
    disk = tmp_path / "zero.img"
    disk.write_bytes(bytes(DISK_SECTORS * SECTOR))
    run = Run(hostel_argv(hostile_elf, disk), disk)
    assert run.status == 128 + 1, run.describe()  # scenario 1 passed, its recovery did not
    assert "FAIL (recovery): read of sector 0: wrong data" in run.stdout, run.describe()


@pytest.mark.skipif(QEMU is None, reason="qemu-system-riscv64 not installed")
def test_well_defined_scenarios_agree_with_qemu(tmp_path):
    elf = build(tmp_path / "hostile-peer.elf", "-DPEER_ONLY")
    disk = make_disk(tmp_path / "disk.img")
    run = Run([QEMU, "-M", "virt", "-bios", "none", "-m", "64M", "-nographic", "-monitor", "none",
               "-global", "virtio-mmio.force-legacy=false",
               "-drive", f"file={disk},if=none,id=d0,format=raw",
               "-device", "virtio-blk-device,drive=d0", "-device", "virtio-rng-device",
               "-kernel", str(elf)], disk)
    assert run.status == 0, run.describe()
    assert scenario_lines(run.stdout) == PEER_SCENARIOS
    expected = bytearray(disk_content())
    expected[SECTOR_WRITTEN * SECTOR:(SECTOR_WRITTEN + 1) * SECTOR] = written_sector()
    assert run.disk == bytes(expected)
