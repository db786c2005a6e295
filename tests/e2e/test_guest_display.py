"""The default guest on a screen: DRM virtio-gpu, fbcon and a shell on tty1 (guest/README.md).

With `--display headless --input` the guest binds virtio-gpu (DRM, /sys/class/drm/card0),
its fbdev emulation (/proc/fb: virtio_gpudrmfb) and fbcon on it at the configured size
(1024x768 with the 8x16 font: 128x48 characters), shows a login shell on tty1 whose
prompt is on the screen (/dev/vcs1, the VT's text, and non-blank pixels in /dev/fb0),
and key presses on the virtio keyboard reach that shell. Without a display the boot on
the serial console is as before: no framebuffer, no complaint about tty1, and the
serial shell is where the tests find it.
"""

import re

from conftest import GuestShell
from test_state import suspend
from vmtest import HOSTEL, PROMPT, spawn, wait_exit

CMDLINE = "console=ttyS0"
# Lines of the serial boot log that would tell of a problem with the VTs or a display...
SUSPECT = re.compile(r"can't|not found|no such|error|fail|warn|tty1|/dev/fb|drm|virtio_gpu", re.I)
# ... and those of them the guest printed before it had a display (not about one).
KNOWN_BOOT_LINES = {
    "efi: UEFI not found.",
    "syscon-poweroff: probe of soc:poweroff failed with error -16",
}
VT_COLUMNS = 128  # 1024 / 8


def argv(guest, *extra):
    return [HOSTEL, "run", "-m", "128M", "-k", str(guest.kernel), "-i", str(guest.initrd),
            "-p", CMDLINE, "--net", "none", *extra]


def screen_lines(g):
    """The text on tty1's screen (/dev/vcs1: rows of VT_COLUMNS characters, no newlines),
    one string per non-empty row, trailing blanks removed."""
    out = g.check(f"fold -w {VT_COLUMNS} /dev/vcs1 | sed 's/ *$//' | grep -v '^$'")
    return [line.rstrip() for line in out.split("\n")]


def keyboard_event_device(g):
    text = g.check("cat /proc/bus/input/devices")
    for block in text.replace("\r", "").split("\n\n"):
        if 'N: Name="hostel virtio keyboard"' in block:
            m = re.search(r"H: Handlers=.*\b(event\d+)", block)
            assert m, block
            return "/dev/input/" + m.group(1)
    raise AssertionError(f"no virtio keyboard in:\n{text}")


# evdev codes (linux/input-event-codes.h) of the keys the test types.
KEYS = {"e": 18, "c": 46, "h": 35, "o": 24, " ": 57, "t": 20, "y": 21, "p": 25, "d": 32,
        "\n": 28}


def type_keys(g, device, text):
    """Press and release each key of text on the virtio keyboard's evdev node: writing an
    event to it injects it into the input core, which hands it to the VT keyboard (and so
    to the foreground VT, tty1) exactly as an event from the device would be."""
    # struct input_event on riscv64: 16-byte timeval, le16 type, le16 code, le32 value.
    g.check("z='" + r"\0" * 16 + "'; k() { printf \"$z\\001\\0$1\\0\\001\\0\\0\\0"
            "$z\\0\\0\\0\\0\\0\\0\\0\\0$z\\001\\0$1\\0\\0\\0\\0\\0$z\\0\\0\\0\\0\\0\\0\\0\\0\" "
            f"> {device}; }}")
    for ch in text:
        g.check(f"k '\\{KEYS[ch]:03o}'")


def test_display_guest_has_drm_fbcon_and_a_shell_on_tty1(guest, boot):
    g = boot(argv(guest, "--display", "headless", "--input"))
    g.check("stty columns 1000")  # no wrapped command lines
    # card0's device is the virtio-mmio transport; the virtio device under it is the GPU.
    assert g.check("basename $(readlink /sys/class/drm/card0/device/virtio*/driver)") \
        == "virtio_gpu"
    assert re.fullmatch(r"0 virtio_gpudrmfb", g.check("cat /proc/fb")), g.check("cat /proc/fb")
    dmesg = g.check("dmesg")
    assert f"Console: switching to colour frame buffer device {VT_COLUMNS}x48" in dmesg, dmesg
    assert "*ERROR*" not in dmesg, [line for line in dmesg.split("\n") if "*ERROR*" in line]
    # fbcon is bound to the VTs (vtcon0 is the dummy console it replaced).
    assert g.check("cat /sys/class/vtconsole/vtcon1/name /sys/class/vtconsole/vtcon1/bind") \
        .split("\n") == ["(M) frame buffer device", "1"]
    # A shell runs with tty1 as its terminal, and its prompt is on the screen.
    on_tty1 = g.check("for p in /proc/[0-9]*; do [ \"$(readlink $p/fd/0)\" = /dev/tty1 ] && "
                      "cat $p/comm; done; true")
    assert on_tty1.split() == ["sh"], on_tty1
    assert screen_lines(g)[-1] == "hostel:~#", screen_lines(g)
    # The framebuffer behind the screen is not blank (the text is drawn into it).
    lit = int(g.check("tr -d '\\000' < /dev/fb0 | wc -c"))
    assert lit > 0
    # Both input devices are there, and keys pressed on the keyboard drive tty1's shell.
    devices = g.check("cat /proc/bus/input/devices")
    assert "hostel virtio keyboard" in devices and "hostel virtio tablet" in devices
    type_keys(g, keyboard_event_device(g), "echo typed\n")
    lines = screen_lines(g)
    assert lines[-3:] == ["hostel:~# echo typed", "typed", "hostel:~#"], lines
    assert int(g.check("tr -d '\\000' < /dev/fb0 | wc -c")) > lit
    assert g.poweroff() == 0


def test_guest_without_display_boots_as_before(guest, boot, tmp_path):
    g = boot(argv(guest))
    g.log.flush()
    boot_log = (tmp_path / "console0.log").read_text(errors="replace")
    g.check("stty columns 1000")
    assert "hostel guest ready" in boot_log
    noise = [line for line in boot_log.replace("\r", "").split("\n")
             if SUSPECT.search(line) and line not in KNOWN_BOOT_LINES]
    assert not noise, noise
    assert g.check("ls /sys/class/drm 2>/dev/null | grep -c card; true") == "0"
    assert g.check("cat /proc/fb") == ""
    # The serial console is still the console and its shell the test's shell.
    assert g.check("cat /sys/class/tty/console/active") == "ttyS0"
    assert g.check("readlink /proc/$$/fd/0") == "/dev/ttyS0"
    # tty1 exists (VT with the dummy console) and its shell runs there, unseen.
    assert g.check("for p in /proc/[0-9]*; do [ \"$(readlink $p/fd/0)\" = /dev/tty1 ] && "
                   "cat $p/comm; done; true").split() == ["sh"]
    assert g.poweroff() == 0


def test_kernel_messages_on_the_screen_with_console_tty1(guest, boot):
    """`console=tty1 console=ttyS0` (guest/README.md, "The screen"): the kernel writes to
    both, and the serial console, named last, stays /dev/console with the shell on it."""
    g = boot([HOSTEL, "run", "-m", "128M", "-k", str(guest.kernel), "-i", str(guest.initrd),
              "-p", "console=tty1 console=ttyS0", "--net", "none", "--display", "headless"])
    g.check("stty columns 1000")
    assert g.check("cat /sys/class/tty/console/active") == "tty1 ttyS0"
    assert g.check("readlink /proc/$$/fd/0") == "/dev/ttyS0"
    lines = screen_lines(g)
    assert "Run /init as init process" in lines, lines
    assert lines[-1] == "hostel:~#", lines
    assert g.poweroff() == 0


class Shell(GuestShell):
    """GuestShell over a VMM started with vmtest.spawn."""

    def __init__(self, child):
        self.child = child


def test_screen_and_keyboard_after_suspend_and_restore(guest, vm_env, tmp_path):
    """The text on tty1 survives a suspend and restore, and keys typed after the restore
    still reach its shell (virtio-gpu and virtio-input state, fbcon redrawing)."""
    log = open(tmp_path / "console.log", "w", encoding="utf-8", errors="replace")
    child = spawn(argv(guest, "--display", "headless", "--input", "--name", "gfx"), vm_env, log)
    child.expect(PROMPT)
    g = Shell(child)
    g.check("stty columns 1000")
    type_keys(g, keyboard_event_device(g), "echo typed\n")
    assert screen_lines(g)[-3:] == ["hostel:~# echo typed", "typed", "hostel:~#"]
    state = tmp_path / "vm.state"
    suspend(vm_env, "gfx", state)
    assert wait_exit(child) == 0
    child = spawn([HOSTEL, "run", "--restore", str(state), "--name", "gfx"], vm_env, log)
    child.sendline("")
    child.expect(PROMPT)
    g = Shell(child)
    type_keys(g, keyboard_event_device(g), "echo typed\n")
    assert screen_lines(g)[-5:] == ["hostel:~# echo typed", "typed"] * 2 + ["hostel:~#"]
    dmesg = g.check("dmesg")
    assert "*ERROR*" not in dmesg, [line for line in dmesg.split("\n") if "*ERROR*" in line]
    child.sendline("poweroff")
    assert wait_exit(child) == 0
