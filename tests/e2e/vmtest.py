"""What the VM-state end-to-end tests share: where hostel is and how to drive it.

Tests import the names they use (`from vmtest import HOSTEL, hostel, spawn`);
the `vm_env` fixture lives in conftest.py.
"""

import os
import pathlib
import re
import subprocess

import pexpect

REPO = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(os.environ.get("HOSTEL_BUILD", REPO / "build"))
HOSTEL = os.environ.get("HOSTEL_BIN", str(BUILD / "hostel"))
TIMEOUT = 120
PROMPT = re.compile(r"hostel:[^\r\n]*# $")


def spawn(argv, env, log):
    """Start argv under pexpect, its output copied to the open file log."""
    child = pexpect.spawn(argv[0], argv[1:], env=env, encoding="utf-8",
                          codec_errors="replace", timeout=TIMEOUT, dimensions=(50, 200))
    child.logfile_read = log
    return child


def hostel(env, *args):
    """Run one hostel command to completion (stdin closed): the CompletedProcess."""
    return subprocess.run([HOSTEL, *args], env=env, capture_output=True, text=True,
                          timeout=TIMEOUT, stdin=subprocess.DEVNULL)


def wait_exit(child):
    """Wait for a spawned VMM to end: its exit status."""
    child.expect(pexpect.EOF, timeout=TIMEOUT)
    child.close()
    return child.exitstatus
