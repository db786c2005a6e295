#!/bin/sh
# Install the Debian packages hostel needs to build and test, if missing.
# Usage: scripts/deps.sh [build|image|test|all]   (default: all)
#   build: build hostel and run it (the firmware a disk boots through);
#   image: also build disk images (hostel image build, images/);
#   test, all: everything the tests need.
# Runs apt-get only when something is missing, so a second call is instant.
set -eu

build_pkgs="gcc make meson ninja-build pkg-config gcc-riscv64-linux-gnu libfdt-dev libslirp-dev zlib1g-dev libzstd-dev libjansson-dev libmicrohttpd-dev libcurl4-openssl-dev libgnutls28-dev libpng-dev libvncserver-dev"
# Debian's firmware for booting from a disk (hostel run -d DISK without -k)
run_pkgs="opensbi u-boot-qemu"
# hostel image build and images/*.sh: partitioned disks without root, cloud-init seeds,
# Debian's bootstrapper with riscv64 maintainer scripts run through qemu-user-static
image_pkgs="fdisk e2fsprogs dosfstools mtools mmdebstrap qemu-user-static arch-test debian-archive-keyring"
# the tests: the web console's browser test (headless chromium driven by selenium; tesseract
# reads its screen), guests, networks, fuzzing
test_pkgs="chromium chromium-driver python3-selenium fonts-dejavu-core tesseract-ocr tesseract-ocr-eng python3 qemu-utils iproute2 nftables dnsmasq-base python3-pytest python3-pexpect qemu-system-misc device-tree-compiler clang libclang-rt-14-dev clang-format openssl vncsnapshot"

case "${1:-all}" in
build) want="$build_pkgs $run_pkgs" ;;
image) want="$build_pkgs $run_pkgs $image_pkgs" ;;
test|all) want="$build_pkgs $run_pkgs $image_pkgs $test_pkgs" ;;
*) echo "deps.sh: unknown set '$1' (build, image, test or all)" >&2; exit 2 ;;
esac

missing=""
for p in $want; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
        missing="$missing $p"
done
# The web console's JavaScript libraries come from npm at build time (scripts/build-web.sh):
# Debian's nodejs and npm, unless a node with its npm is installed already (another packaging
# of it would conflict with Debian's npm package).
command -v npm >/dev/null 2>&1 || missing="$missing nodejs npm"
[ -z "$missing" ] && exit 0

echo "deps.sh: installing:$missing" >&2
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends $missing
