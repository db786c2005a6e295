"""Shared fixtures for end-to-end tests that boot real guests.

- `guest`: the default guest built by guest/build.sh (cached in ~/.cache/hostel, or
  $HOSTEL_CACHE); the build runs once per session and a failed build fails the test.
  Set HOSTEL_GUEST_DIR to use an already built directory instead.
- `qemu_riscv64`: path of qemu-system-riscv64, the peer; skips the test when missing.
- `boot`: starts a machine command line under pexpect and returns a `GuestConsole`
  that waits for the guest shell, runs commands and powers the guest off. It works for
  any emulator whose stdio is the guest's serial console (QEMU -nographic, hostel).
"""

import os
import pathlib
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass

import pexpect
import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
BUILD_SCRIPT = REPO / "guest" / "build.sh"
BUILD_TIMEOUT_S = int(os.environ.get("HOSTEL_GUEST_BUILD_TIMEOUT", "5400"))

BANNER = "hostel guest ready"
PROMPT = re.compile(r"hostel:[^\r\n]*# $")
BOOT_TIMEOUT_S = 180
COMMAND_TIMEOUT_S = 60
POWEROFF_TIMEOUT_S = 60


@dataclass(frozen=True)
class GuestImages:
    """Paths of one built guest."""

    directory: pathlib.Path
    kernel: pathlib.Path
    initrd: pathlib.Path
    rootfs: pathlib.Path


def _images_in(directory):
    d = pathlib.Path(directory)
    images = GuestImages(d, d / "Image", d / "initramfs.cpio.gz", d / "rootfs.ext4")
    missing = [p.name for p in (images.kernel, images.initrd, images.rootfs) if not p.is_file()]
    if missing:
        pytest.fail(f"guest directory {d} lacks {', '.join(missing)}")
    return images


@pytest.fixture(scope="session")
def guest(tmp_path_factory):
    """Build (or reuse from the cache) the default guest; fail the test if that fails."""
    prebuilt = os.environ.get("HOSTEL_GUEST_DIR")
    if prebuilt:
        return _images_in(prebuilt)
    log = tmp_path_factory.mktemp("guest-build") / "build.log"
    with open(log, "w") as err:
        try:
            proc = subprocess.run(["bash", str(BUILD_SCRIPT)], stdout=subprocess.PIPE,
                                  stderr=err, text=True, timeout=BUILD_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            pytest.fail(f"guest/build.sh took more than {BUILD_TIMEOUT_S} s (log: {log})")
    if proc.returncode != 0:
        tail = "".join(log.read_text(errors="replace").splitlines(True)[-30:])
        pytest.fail(f"guest/build.sh failed with status {proc.returncode}:\n{tail}")
    lines = proc.stdout.strip().splitlines()
    if not lines:
        pytest.fail("guest/build.sh printed no output directory")
    return _images_in(lines[-1])


@pytest.fixture(scope="session")
def qemu_riscv64():
    """Path of qemu-system-riscv64; skips the test when it is not installed."""
    path = shutil.which("qemu-system-riscv64")
    if path is None:
        pytest.skip("qemu-system-riscv64 is not installed")
    return path


class GuestShell:
    """Driving a guest's shell through self.child (a pexpect child on its serial console)."""

    def wait_ready(self, timeout=BOOT_TIMEOUT_S):
        """Wait for the init banner and the first shell prompt."""
        self.child.expect_exact(BANNER, timeout=timeout)
        self.child.expect(PROMPT, timeout=timeout)

    def run(self, command, timeout=COMMAND_TIMEOUT_S):
        """Run one shell command; return (exit status, its output as a string)."""
        self.child.sendline(f'{command}; echo "@@""RC=$?@@"')
        self.child.expect(r"@@RC=(\d+)@@", timeout=timeout)
        before, status = self.child.before, int(self.child.match.group(1))
        self.child.expect(PROMPT, timeout=timeout)
        lines = before.replace("\r", "").split("\n")
        echo_end = next((i for i, line in enumerate(lines) if '"@@""RC=' in line), -1)
        return status, "\n".join(lines[echo_end + 1:]).strip("\n")

    def check(self, command, timeout=COMMAND_TIMEOUT_S):
        """Run a command that must succeed; return its output."""
        status, out = self.run(command, timeout)
        assert status == 0, f"`{command}` exited {status}: {out!r}"
        return out


class GuestConsole(GuestShell):
    """A booted guest driven through its serial console."""

    def __init__(self, argv, log_path):
        self.argv = argv
        self.log = open(log_path, "w", encoding="utf-8", errors="replace")
        self.child = pexpect.spawn(argv[0], argv[1:], encoding="utf-8",
                                   codec_errors="replace", timeout=COMMAND_TIMEOUT_S,
                                   dimensions=(50, 200))
        self.child.logfile_read = self.log
        self.exit_status = None

    def poweroff(self, timeout=POWEROFF_TIMEOUT_S):
        """Ask the guest to power off; return the emulator's exit status."""
        self.child.sendline("poweroff")
        self.child.expect(pexpect.EOF, timeout=timeout)
        return self.close()

    def close(self):
        """Stop the emulator if it still runs; return its exit status (None if killed)."""
        if self.child.isalive():
            self.child.close(force=True)
        else:
            self.child.close()
        self.log.close()
        self.exit_status = self.child.exitstatus
        return self.exit_status


@pytest.fixture
def boot(tmp_path):
    """Factory: boot(argv) starts the machine and returns a ready GuestConsole."""
    consoles = []

    def start(argv, wait=True):
        console = GuestConsole(argv, tmp_path / f"console{len(consoles)}.log")
        consoles.append(console)
        if wait:
            console.wait_ready()
        return console

    yield start
    for console in consoles:
        if console.exit_status is None:
            console.close()


@pytest.fixture
def vm_env(tmp_path):
    """The environment for a VM under test: a private, short $XDG_RUNTIME_DIR (control
    socket paths must fit in 108 bytes) and $XDG_STATE_HOME (snapshots) in tmp_path."""
    with tempfile.TemporaryDirectory(prefix="hst") as d:
        yield dict(os.environ, XDG_RUNTIME_DIR=d, XDG_STATE_HOME=str(tmp_path / "state"))
