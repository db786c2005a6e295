# Thin wrapper over meson/ninja.  `make run` boots the default guest,
# `make test` runs every test; both install what they need first.
BUILD     ?= build
BUILD_SAN ?= build-san
# Debian's interpreter: it has the python3-pytest/pexpect packages deps.sh installs
PYTHON    ?= $(shell test -x /usr/bin/python3 && echo /usr/bin/python3 || echo python3)
MESON_SETUP = meson setup --wrap-mode=nodownload

.PHONY: all deps run demo test bench bench-boot bench-boot-debian bench-disk bench-state bench-mgmt bench-net bench-migrate bench-display guest clean \
        format format-check

all: $(BUILD)/build.ninja
	ninja -C $(BUILD)

deps:
	@scripts/deps.sh all

$(BUILD)/build.ninja:
	@scripts/deps.sh build
	$(MESON_SETUP) $(BUILD) --buildtype=release

$(BUILD_SAN)/build.ninja:
	@scripts/deps.sh all
	$(MESON_SETUP) $(BUILD_SAN) --buildtype=debugoptimized -Db_sanitize=address,undefined \
	    -Db_lundef=false

# Boot the default guest (built from Debian packages the first time: ~10 min).
run: all
	@scripts/deps.sh all
	guest/build.sh >/dev/null
	$(BUILD)/hostel run

# The bare-metal demo: a few instructions, no guest build needed.
demo: all
	$(BUILD)/hostel run --bios none -k $(BUILD)/examples/hello.elf

test: $(BUILD_SAN)/build.ninja
	ninja -C $(BUILD_SAN)
	$(PYTHON) scripts/run-tests.py $(BUILD_SAN)

bench: all
	@scripts/deps.sh all
	bench/cpu/run.sh $(BUILD)

# Linux boot, guest workloads, idle CPU and memory, side by side with QEMU.
bench-boot: all
	@scripts/deps.sh all
	$(PYTHON) bench/boot/run.py $(BUILD)

# The debian-13 image booted from its disk (OpenSBI + U-Boot) to login and to
# systemctl is-system-running, beside QEMU 7.2 (builds the image first: root, network).
bench-boot-debian: all
	@scripts/deps.sh all
	$(PYTHON) bench/boot/debian.py $(BUILD)

# Suspend, restore and live snapshots of the default guest (512 MiB), idle and dirty; vs QEMU.
bench-state: all
	@scripts/deps.sh all
	$(PYTHON) bench/state/run.py $(BUILD)

# hosteld: API latency with 200 VMs, create+start to shell, RSS, autostart of 50, re-attach.
bench-mgmt: all
	@scripts/deps.sh all
	$(PYTHON) bench/mgmt/run.py $(BUILD)

# Virtual networks: VM-to-VM, NAT and VXLAN throughput and ping beside QEMU on Linux bridges
# (root for the namespaces, bridges and taps), and the switch's own CPU cost per frame.
bench-net: all
	@scripts/deps.sh all
	$(PYTHON) bench/net/run.py $(BUILD)

# Live migration of a 512 MiB guest (idle, CPU-busy, rewriting 200 MiB) beside QEMU, on loopback.
bench-migrate: all
	@scripts/deps.sh all
	$(PYTHON) bench/migrate/run.py $(BUILD)

# The display through VNC (idle, redraw, key to pixels, CPU) beside QEMU's VNC server.
bench-display: all
	@scripts/deps.sh all
	$(PYTHON) bench/display/run.py $(BUILD)

# Block layer vs qemu-img bench: raw and qcow2, sequential and random, MB/s and IOPS.
bench-disk: all
	@scripts/deps.sh all
	$(PYTHON) bench/disk/run.py $(BUILD)

guest:
	guest/build.sh

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

# Fails on any C file that differs from .clang-format (also a meson test, so CI runs it).
format-check:
	scripts/check-format.sh

clean:
	rm -rf $(BUILD) $(BUILD_SAN)
