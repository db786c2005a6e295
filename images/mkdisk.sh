#!/usr/bin/env bash
# Makes a partitioned disk image from directory trees, without root and without loop mounts:
# each file system is built in a file of its own (mkfs.ext4 -d, or mkfs.vfat + mcopy), the
# partition table is written with sfdisk, and the file systems are copied into place.
#
# Usage: images/mkdisk.sh -o DISK --size SIZE [--table gpt|dos] [--id ID] PART...
#   PART is FS:SIZE:TREE[:LABEL]   FS ext4 | vfat | esp (a vfat EFI system partition)
#                                  SIZE in MiB (a number or NM, NG) or "rest" (last only)
#                                  TREE the directory whose contents the file system holds
#   Every partition is marked bootable (GPT: LegacyBIOSBootable; dos: the boot flag): U-Boot's
#   distro boot scans bootable partitions for extlinux/extlinux.conf and EFI loaders.
#   --id ID   a seed that makes the disk, partition and file system identifiers fixed
#             (the same ID and trees give the same bytes, with SOURCE_DATE_EPOCH set);
#             default: random identifiers.
# DISK is raw and sparse; convert it with `hostel img convert -O qcow2`.
# Needs: sfdisk (fdisk), mkfs.ext4 (e2fsprogs), and for vfat mkfs.vfat (dosfstools), mcopy (mtools).
set -eEuo pipefail
export LC_ALL=C
export PATH=$PATH:/usr/sbin:/sbin

die() { printf 'mkdisk: error: %s\n' "$*" >&2; exit 1; }
usage() { sed -n '2,16s/^# \{0,1\}//p' "$0" >&2; exit 2; }

# A size in MiB from N, NM or NG.
mib() {
    case $1 in
    *[Gg]) echo $(( ${1%[Gg]} * 1024 )) ;;
    *[Mm]) echo "${1%[Mm]}" ;;
    *) echo "$1" ;;
    esac
}

# A hex string of $2 digits derived from the seed and a purpose ($1).
derive() { printf '%s/%s' "$ID" "$1" | sha256sum | cut -c1-"$2"; }

uuid_of() {
    local h
    h=$(derive "$1" 32)
    printf '%s-%s-4%s-8%s-%s\n' "${h:0:8}" "${h:8:4}" "${h:13:3}" "${h:17:3}" "${h:20:12}"
}

out="" size="" table=gpt ID=""
parts=()
while [[ $# -gt 0 ]]; do
    case $1 in
    -o) out=${2:?}; shift 2 ;;
    --size) size=${2:?}; shift 2 ;;
    --table) table=${2:?}; shift 2 ;;
    --id) ID=${2:?}; shift 2 ;;
    -h|--help) usage ;;
    -*) die "unknown option $1" ;;
    *) parts+=("$1"); shift ;;
    esac
done
[[ -n $out && -n $size && ${#parts[@]} -gt 0 ]] || usage
[[ $table == gpt || $table == dos ]] || die "--table is gpt or dos"
[[ -z $ID ]] && ID=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
command -v sfdisk >/dev/null || die "sfdisk is missing (Debian package fdisk)"

total=$(mib "$size")
[[ $total =~ ^[0-9]+$ && $total -ge 4 ]] || die "--size '$size': expected at least 4M"
work=$(mktemp -d "${out}.parts.XXXXXX")
trap 'rm -rf "$work"' EXIT

# Lay the partitions out: 1 MiB before the first and after the last (GPT's backup table).
start=1 script="" i=0
declare -a fs_files=() fs_starts=()
for p in "${parts[@]}"; do
    IFS=: read -r fs psize tree label <<<"$p"
    [[ -d $tree ]] || die "partition '$p': $tree is not a directory"
    if [[ $psize == rest ]]; then
        [[ $i -eq $(( ${#parts[@]} - 1 )) ]] || die "only the last partition can be 'rest'"
        psize=$(( total - start - 1 ))
    else
        psize=$(mib "$psize")
    fi
    [[ $psize =~ ^[0-9]+$ && $psize -ge 2 ]] || die "partition '$p': size below 2 MiB"
    (( start + psize + 1 <= total )) || die "the partitions do not fit in $size"
    img="$work/part$i.img"
    case $fs in
    ext4)
        label=${label:-root}
        mkfs.ext4 -q -F -L "$label" -U "$(uuid_of "fs$i")" -E "hash_seed=$(uuid_of "seed$i")" \
            -d "$tree" "$img" "${psize}M" >/dev/null
        [[ $table == gpt ]] && type=L || type=83 ;;
    vfat|esp)
        command -v mkfs.vfat >/dev/null || die "mkfs.vfat is missing (Debian package dosfstools)"
        command -v mcopy >/dev/null || die "mcopy is missing (Debian package mtools)"
        label=${label:-BOOT}
        mkfs.vfat -C "$img" -n "$label" -i "$(derive "vol$i" 8)" $(( psize * 1024 )) >/dev/null
        if [[ -n $(ls -A "$tree") ]]; then
            MTOOLS_SKIP_CHECK=1 mcopy -s -p -m -i "$img" "$tree"/* ::/
        fi
        if [[ $fs == esp ]]; then
            [[ $table == gpt ]] && type=U || type=ef
        else
            [[ $table == gpt ]] && type=L || type=0c
        fi ;;
    *) die "partition '$p': file system '$fs' is not ext4, vfat or esp" ;;
    esac
    if [[ $table == gpt ]]; then
        script+="start=$(( start * 2048 )), size=$(( psize * 2048 )), type=$type, "
        script+="uuid=$(uuid_of "part$i"), name=$label, attrs=LegacyBIOSBootable"$'\n'
    else
        script+="start=$(( start * 2048 )), size=$(( psize * 2048 )), type=$type, bootable"$'\n'
    fi
    fs_files+=("$img")
    fs_starts+=("$start")
    start=$(( start + psize ))
    i=$(( i + 1 ))
done

rm -f "$out"
truncate -s "${total}M" "$out"
if [[ $table == gpt ]]; then
    header="label: gpt"$'\n'"label-id: $(uuid_of disk)"$'\n'
else
    header="label: dos"$'\n'"label-id: 0x$(derive disk 8)"$'\n'
fi
printf '%s%s' "$header" "$script" | sfdisk -q --no-reread --no-tell-kernel "$out" >/dev/null
for i in "${!fs_files[@]}"; do
    dd if="${fs_files[$i]}" of="$out" bs=1M seek="${fs_starts[$i]}" conv=notrunc,sparse \
        status=none
done
