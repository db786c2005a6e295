#!/usr/bin/env bash
# mmdebstrap's customize hook for the debian-13 image: $1 is the finished tree, whose
# riscv64 programs run through qemu-user-static (binfmt_misc) under chroot.
set -eEuo pipefail
ROOT=${1:?usage: customize.sh ROOT}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
in_root() { chroot "$ROOT" "$@"; }

# The recipe's files (fstab, cloud-init's datasources, the SSH host key fallback).
cp -r --no-preserve=ownership "$HERE/files/." "$ROOT/"

echo debian >"$ROOT/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\tdebian\n::1\tlocalhost ip6-localhost ip6-loopback\n' \
    >"$ROOT/etc/hosts"

# u-boot-menu: the root by label, the serial console, a one-second menu; then its
# extlinux.conf for the installed kernel (the kernel's hook ran before this file existed).
cat >"$ROOT/etc/default/u-boot" <<'EOF'
# u-boot-menu's settings (man u-boot-update); written by hostel's images/debian-13 recipe
U_BOOT_ROOT="root=LABEL=debian-root"
U_BOOT_PARAMETERS="ro console=ttyS0"
U_BOOT_TIMEOUT="10"
U_BOOT_MENU_LABEL="Debian GNU/Linux 13 (trixie)"
EOF
in_root u-boot-update
grep -q '^[[:space:]]*linux ' "$ROOT/boot/extlinux/extlinux.conf" ||
    { echo "customize: u-boot-update wrote no kernel entry" >&2; exit 1; }

# A login prompt on the serial console whatever the command line says.
in_root systemctl enable serial-getty@ttyS0.service
# The network: systemd-networkd (cloud-init's renderer, and DHCP on every card without it)
# and systemd-resolved.
in_root systemctl enable systemd-networkd.service systemd-resolved.service

# Identity each VM makes for itself on its first boot: machine-id, SSH host keys.
: >"$ROOT/etc/machine-id"
rm -f "$ROOT/var/lib/dbus/machine-id" "$ROOT"/etc/ssh/ssh_host_*
