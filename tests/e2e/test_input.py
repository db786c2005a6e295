"""virtio-input (`hostel run --input`, docs/display.md) from the guest's side.

The default guest's kernel (CONFIG_VIRTIO_INPUT, CONFIG_INPUT_EVDEV) binds both devices:
/proc/bus/input/devices lists the keyboard (keys, LEDs, repeat) and the tablet (ABS_X and
ABS_Y, three buttons, the wheel) with evdev handlers. After a suspend and restore they are
still there, and the state file holds a virtio-input section for each. Without --input
there is none.
"""

import json
import re

from vmtest import HOSTEL, PROMPT, spawn, hostel, wait_exit
from test_state import suspend

CMDLINE = "console=ttyS0"


def input_devices(child):
    """The guest's /proc/bus/input/devices, one dict of N/H/B lines per device, by name."""
    child.sendline("cat /proc/bus/input/devices; echo input-\"\"done")
    child.expect(r"input-done\r*\n")
    text = child.before.replace("\r", "")
    child.expect(PROMPT)
    devices = {}
    for block in text.split("\n\n"):
        name = re.search(r'N: Name="([^"]*)"', block)
        if name:
            devices[name.group(1)] = block
    return devices


def check_devices(devices):
    kbd = devices.get("hostel virtio keyboard")
    tab = devices.get("hostel virtio tablet")
    assert kbd and tab, f"devices seen: {list(devices)}"
    assert re.search(r"H: Handlers=.*kbd.*event\d", kbd), kbd
    assert "B: LED=7" in kbd, kbd
    assert "B: EV=120003" in kbd, kbd  # SYN, KEY, LED, REP
    assert "B: EV=f" in tab and "B: ABS=3" in tab and "B: REL=100" in tab, tab
    assert "B: KEY=70000 0 0 0 0" in tab, tab  # BTN_LEFT, RIGHT, MIDDLE (0x110..0x112)
    assert re.search(r"H: Handlers=.*event\d", tab), tab


def test_guest_binds_keyboard_and_tablet_across_restore(guest, vm_env, tmp_path):
    log = open(tmp_path / "console.log", "w", encoding="utf-8", errors="replace")
    argv = [HOSTEL, "run", "-m", "128M", "-k", str(guest.kernel), "-i", str(guest.initrd),
            "-p", CMDLINE, "--net", "none", "--input", "--name", "inp"]
    child = spawn(argv, vm_env, log)
    child.expect(PROMPT)
    check_devices(input_devices(child))
    state = tmp_path / "vm.state"
    suspend(vm_env, "inp", state)
    assert wait_exit(child) == 0
    shown = hostel(vm_env, "state", "show", str(state))
    assert shown.returncode == 0, shown.stderr
    sections = json.loads(shown.stdout)["sections"]
    inputs = [s for s in sections if s["tag"] == "virtio-input"]
    assert len(inputs) == 2 and all("state" in s for s in inputs), inputs
    child = spawn([HOSTEL, "run", "--restore", str(state), "--name", "inp"], vm_env, log)
    child.sendline("")
    child.expect(PROMPT)
    check_devices(input_devices(child))
    child.sendline("poweroff")
    assert wait_exit(child) == 0


def test_no_input_devices_without_the_option(guest, vm_env, tmp_path):
    log = open(tmp_path / "console.log", "w", encoding="utf-8", errors="replace")
    argv = [HOSTEL, "run", "-m", "128M", "-k", str(guest.kernel), "-i", str(guest.initrd),
            "-p", CMDLINE, "--net", "none", "--name", "noinp"]
    child = spawn(argv, vm_env, log)
    child.expect(PROMPT)
    devices = input_devices(child)
    assert not any(n.startswith("hostel virtio") for n in devices), list(devices)
    child.sendline("poweroff")
    assert wait_exit(child) == 0
