#!/usr/bin/env bash
# Builds a bootable Debian 13 (trixie) riscv64 disk image from Debian's archive with Debian's
# own tools: mmdebstrap makes the tree (the riscv64 maintainer scripts run under
# qemu-user-static through binfmt_misc), u-boot-menu writes /boot/extlinux/extlinux.conf in the
# chroot, images/mkdisk.sh makes the partitioned disk without loop mounts (GPT, one ext4
# partition labelled debian-root, marked bootable), and `hostel img convert` makes it qcow2.
# The image: systemd, Debian's kernel (linux-image-riscv64) and initramfs-tools, openssh-server
# (no host keys: made on first boot), cloud-init (NoCloud), qemu-guest-agent, a serial getty
# on ttyS0 (console=ttyS0); root is locked: log in through a cloud-init seed
# (hostel run --cloud-init, docs/images.md).  Boot it with `hostel run -d FILE`.
#
# Usage: images/debian-13/build.sh [--size SIZE] [--packages A,B] [--format qcow2|raw] -o FILE
#        images/debian-13/build.sh [--size SIZE] [--packages A,B] --hash
#   --size      the disk's size (default 4G; M or G)
#   --packages  more Debian packages to install (comma-separated)
#   --format    of FILE: qcow2 (default) or raw (sparse)
#   --hash      print the recipe hash and exit
# The raw disk is cached in $HOSTEL_CACHE (default ~/.cache/hostel)/images/debian-13-<hash>/,
# where <hash> covers this directory, images/mkdisk.sh, the size and the extra packages: a
# second build with the same recipe only converts the cached disk.  BUILD-INFO there records
# the mirror, the archive's date and every package's version.
# Needs root (mmdebstrap's chroot; binfmt_misc is registered for riscv64 if it is not) and
# Debian's mmdebstrap, qemu-user-static, arch-test, fdisk, e2fsprogs (scripts/deps.sh image).
# Environment: HOSTEL_CACHE; HOSTEL_BIN (the hostel that converts; else qemu-img);
# HOSTEL_DEBIAN_MIRROR (default: the host's apt source for Debian).
set -eEuo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
IMAGES=$(dirname "$HERE")
NAME=debian-13
SUITE=trixie
CACHE=${HOSTEL_CACHE:-$HOME/.cache/hostel}
# Every timestamp mmdebstrap and mkfs write is this instant (2024-01-01 00:00 UTC).
export SOURCE_DATE_EPOCH=1704067200
export LC_ALL=C TZ=UTC
export PATH=$PATH:/usr/sbin:/sbin

trap 'printf "%s: error: line %s: %s failed\n" "$NAME" "$LINENO" "$BASH_COMMAND" >&2' ERR
log() { printf '%s: %s\n' "$NAME" "$*" >&2; }
die() { printf '%s: error: %s\n' "$NAME" "$*" >&2; exit 1; }
usage() { sed -n '12,17s/^# \{0,1\}//p' "$0" >&2; exit 2; }

size=4G packages="" format=qcow2 out="" want_hash=0
while [[ $# -gt 0 ]]; do
    case $1 in
    --size) size=${2:?--size needs a value}; shift 2 ;;
    --packages) packages=${2?--packages needs a value}; shift 2 ;;
    --format) format=${2:?--format needs a value}; shift 2 ;;
    -o) out=${2:?-o needs a file}; shift 2 ;;
    --hash) want_hash=1; shift ;;
    -h|--help) usage ;;
    *) die "unknown argument '$1' (see --help)" ;;
    esac
done
[[ $size =~ ^[1-9][0-9]*[MG]$ ]] || die "--size '$size': expected a size in M or G (e.g. 4G)"
size_mib=${size%[MG]}
[[ $size == *G ]] && size_mib=$(( size_mib * 1024 ))
(( size_mib >= 1536 )) || die "--size $size: at least 1536M (the system takes about 1 GiB)"
[[ $format == qcow2 || $format == raw ]] || die "--format '$format': qcow2 or raw"
[[ -z $packages || $packages =~ ^[a-z0-9][a-z0-9+.-]*(,[a-z0-9][a-z0-9+.-]*)*$ ]] ||
    die "--packages '$packages': Debian package names separated by commas"

# sha256 over the recipe (this directory and mkdisk.sh; docs excluded) and the options.
recipe_hash() {
    {
        (cd "$IMAGES" && find "$NAME" mkdisk.sh -type f ! -name '*.md' -print0 | sort -z |
            xargs -0 sha256sum)
        printf 'size=%s\npackages=%s\n' "$size_mib" "$packages"
    } | sha256sum | cut -c1-16
}
HASH=$(recipe_hash)
if [[ $want_hash -eq 1 ]]; then echo "$HASH"; exit 0; fi
[[ -n $out ]] || die "-o FILE is needed (see --help)"

# The host's apt source for Debian (not the security archive): the mirror it already trusts.
debian_mirror() {
    if [[ -n ${HOSTEL_DEBIAN_MIRROR:-} ]]; then echo "$HOSTEL_DEBIAN_MIRROR"; return; fi
    local f uri=""
    for f in /etc/apt/sources.list.d/*.sources; do
        [[ -f $f ]] || continue
        uri=$(awk 'BEGIN { RS = ""; FS = "\n" }
            { u = ""; s = ""
              for (i = 1; i <= NF; i++) {
                  if ($i ~ /^URIs:/) { sub(/^URIs:[ \t]*/, "", $i); split($i, a, /[ \t]+/); u = a[1] }
                  if ($i ~ /^Suites:/) s = $i
              }
              if (u != "" && s !~ /-security/ && u !~ /security/) { print u; exit } }' "$f")
        [[ -n $uri ]] && { echo "$uri"; return; }
    done
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [[ -f $f ]] || continue
        uri=$(awk '$1 == "deb" { i = 2; if ($2 ~ /^\[/) while ($i !~ /\]$/) i++; if ($2 ~ /^\[/) i++
                  if ($(i + 1) !~ /security/ && $i !~ /security/) { print $i; exit } }' "$f")
        [[ -n $uri ]] && { echo "$uri"; return; }
    done
    die "no Debian apt source found in /etc/apt (set HOSTEL_DEBIAN_MIRROR)"
}

# binfmt_misc runs riscv64 programs through qemu-user-static (F: also inside the chroot).
ensure_binfmt() {
    local bm=/proc/sys/fs/binfmt_misc
    [[ -e $bm/qemu-riscv64 ]] && return 0
    [[ -e $bm/register ]] || mount -t binfmt_misc binfmt_misc "$bm" ||
        die "cannot mount binfmt_misc: riscv64 maintainer scripts cannot run"
    [[ -e $bm/qemu-riscv64 ]] && return 0
    [[ -f /usr/lib/binfmt.d/qemu-riscv64.conf ]] ||
        die "qemu-user-static is missing (scripts/deps.sh image)"
    cat /usr/lib/binfmt.d/qemu-riscv64.conf >"$bm/register" ||
        die "cannot register qemu-riscv64 with binfmt_misc"
}

check_tools() {
    local t
    for t in mmdebstrap arch-test sfdisk mkfs.ext4; do
        command -v "$t" >/dev/null || die "$t is missing (scripts/deps.sh image installs it)"
    done
    [[ $(id -u) -eq 0 ]] || die "needs root (mmdebstrap's chroot and binfmt_misc)"
    ensure_binfmt
    arch-test riscv64 >/dev/null || die "this host cannot run riscv64 programs (arch-test riscv64)"
}

# The recipe's package list and --packages, comma-separated.
include_list() {
    local list
    list=$(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$HERE/packages" | tr -d ' \t' | paste -sd,)
    [[ -n $packages ]] && list="$list,$packages"
    echo "$list"
}

# mmdebstrap into $1/root, then the disk $1/disk.raw and $1/BUILD-INFO.
build() {
    local work=$1 mirror t0
    mirror=$(debian_mirror)
    t0=$(date +%s)
    log "mmdebstrap $SUITE riscv64 from $mirror (several minutes)"
    mmdebstrap --quiet --arch=riscv64 --variant=apt --include="$(include_list)" \
        --aptopt='Acquire::Languages "none"' \
        --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
        --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
        --customize-hook="bash '$HERE/customize.sh' \"\$1\"" \
        --customize-hook="chroot \"\$1\" dpkg-query -W -f '\${Package} \${Version}\n' > '$work/packages.txt'" \
        --customize-hook='rm -rf "$1/var/log/"*.log "$1/var/log/apt" "$1/var/cache/ldconfig/aux-cache"' \
        "$SUITE" "$work/root" "$mirror" >&2
    log "tree made in $(( $(date +%s) - t0 )) s; making the disk"
    bash "$IMAGES/mkdisk.sh" -o "$work/disk.raw" --size "${size_mib}M" --id "$NAME-$HASH" \
        "ext4:rest:$work/root:debian-root"
    {
        echo "recipe-hash: $HASH"
        echo "suite: $SUITE (riscv64)"
        echo "mirror: $mirror"
        echo "size: ${size_mib}M"
        echo "extra-packages: ${packages:-none}"
        echo "source-date-epoch: $SOURCE_DATE_EPOCH"
        echo "built: $(date -u +%Y-%m-%dT%H:%M:%SZ) in $(( $(date +%s) - t0 )) s"
        echo "packages:"
        sed 's/^/  /' "$work/packages.txt"
    } >"$work/BUILD-INFO"
    rm -rf "$work/root" "$work/packages.txt"
}

# The cached raw disk converted (or copied, sparse) to the output.
deliver() {
    local disk=$1
    mkdir -p "$(dirname "$out")"
    if [[ $format == raw ]]; then
        cp --sparse=always "$disk" "$out.tmp.$$"
    elif [[ -n ${HOSTEL_BIN:-} ]]; then
        "$HOSTEL_BIN" img convert -O qcow2 "$disk" "$out.tmp.$$"
    elif command -v qemu-img >/dev/null; then
        qemu-img convert -O qcow2 "$disk" "$out.tmp.$$"
    else
        die "nothing converts to qcow2: set HOSTEL_BIN or install qemu-utils"
    fi
    mv -f "$out.tmp.$$" "$out"
}

main() {
    local dir="$CACHE/images/$NAME-$HASH"
    if [[ ! -s $dir/disk.raw || ! -s $dir/BUILD-INFO ]]; then
        check_tools
        WORK="$CACHE/images/build-$NAME-$HASH.$$"
        mkdir -p "$CACHE/images"
        mkdir "$WORK"
        trap 'rm -rf "$WORK"' EXIT
        build "$WORK"
        rm -rf "$dir"
        mv "$WORK" "$dir"
        trap - EXIT
    else
        log "cached: $dir"
    fi
    deliver "$dir/disk.raw"
    log "wrote $out ($format, ${size_mib}M)"
}

main
