"""The VM generation ID device (issue 5: "RNG seeded anew on restore").

Two VMs restored from one state file (or from a file and its clone) start
with the same kernel RNG state in RAM.  Linux reseeds its CRNG only every
60 s once it has been up for 2 minutes (every uptime/2 before that), so
without help they hand out the same "random" bytes for a while.  hostel's
vmgenid device (microsoft,vmgenid) gets a new ID on every restore and raises
its interrupt; the guest's driver (Linux 6.10+, or the default guest's 6.1
with guest/patches/0001) reseeds at once ("crng reseeded due to virtual
machine fork").
"""

import re

import pexpect

from vmtest import HOSTEL, PROMPT, spawn, hostel

RESEED = "crng reseeded due to virtual machine fork"


def shell(child, command):
    """Run command in the guest shell; the last line it printed.

    The guest's tty is 80 columns wide and echoes the command line (wrapped,
    sometimes twice): the output is what follows the last line of the echo.
    """
    child.sendline(f'{command}; echo "@@""END"')
    child.expect("@@END")
    lines = child.before.replace("\r", "").split("\n")
    child.expect(PROMPT)
    echo_end = max((i for i, line in enumerate(lines) if line.endswith('"END"')), default=-1)
    return "\n".join(lines[echo_end + 1:]).strip()


def boot(guest, vm_env, log):
    child = spawn([HOSTEL, "run", "-m", "128M", "-k", str(guest.kernel), "-i",
                   str(guest.initrd), "-p", "console=ttyS0", "--name", "gen"], vm_env, log)
    child.expect(PROMPT)
    return child


def test_the_guest_binds_the_device(guest, vm_env, tmp_path):
    with open(tmp_path / "console.log", "w") as log:
        child = boot(guest, vm_env, log)
        bound = shell(child, "ls /sys/bus/platform/drivers/vmgenid/ | tr '\\n' ' '")
        child.sendline("poweroff")
        child.expect(pexpect.EOF)
    assert "102000.vmgenid" in bound, f"no vmgenid device bound: {bound!r}"


def random_after_restore(state, vm_env, log):
    """Restore state, read 16 bytes of /dev/urandom at once, and the reseed messages."""
    child = spawn([HOSTEL, "run", "--restore", str(state)], vm_env, log)
    rnd = shell(child, "head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \\n'").strip()
    reseeds = shell(child, f"dmesg | grep -c '{RESEED}'").strip()
    child.sendline("poweroff")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert re.fullmatch(r"[0-9a-f]{32}", rnd), rnd
    return rnd, reseeds


def test_a_restored_vm_and_its_clone_draw_different_random_numbers(guest, vm_env, tmp_path):
    state, clone = tmp_path / "vm.state", tmp_path / "clone.state"
    with open(tmp_path / "console.log", "w") as log:
        child = boot(guest, vm_env, log)
        # Past early boot the kernel would not reseed on its own within a few seconds:
        # the read just before the suspend leaves a fresh key that both restores share.
        shell(child, "sleep 25; head -c 1 /dev/urandom >/dev/null")
        r = hostel(vm_env, "suspend", "gen", str(state))
        assert r.returncode == 0, r.stderr
        child.expect(pexpect.EOF)
        r = hostel(vm_env, "clone", str(state), str(clone))
        assert r.returncode == 0, r.stderr
        first, n1 = random_after_restore(state, vm_env, log)
        again, n2 = random_after_restore(state, vm_env, log)
        cloned, n3 = random_after_restore(clone, vm_env, log)
    assert (n1, n2, n3) == ("1", "1", "1"), "the guest did not reseed once per restore"
    assert len({first, again, cloned}) == 3, "restores of one state share a random stream"
