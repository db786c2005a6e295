#!/usr/bin/env bash
# Builds hostel's default riscv64 guest from Debian packages only: a Linux 6.1 kernel
# Image (linux-source-6.1), a static busybox (Debian's busybox source package), a gzip
# initramfs and an ext4 root disk made from the same tree.
#
# Usage: guest/build.sh            build (or reuse) the guest; prints its directory on stdout
#        guest/build.sh --hash     print the recipe hash and exit
#
# Outputs go to $HOSTEL_CACHE (default ~/.cache/hostel)/guest-<hash>/, where <hash> is the
# sha256 of every recipe file in guest/ (docs excluded); $HOSTEL_CACHE/guest points at the
# newest build. A build happens in $HOSTEL_CACHE/build-<hash>/ and is renamed into place
# only when complete, so an interrupted build never leaves a half-filled cache (a re-run
# resumes it incrementally). Environment: HOSTEL_CACHE, HOSTEL_JOBS (default nproc).
set -eEuo pipefail

GUEST_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE=${HOSTEL_CACHE:-$HOME/.cache/hostel}
JOBS=${HOSTEL_JOBS:-$(nproc)}
CROSS=riscv64-linux-gnu-
KSRC_TARBALL=/usr/src/linux-source-6.1.tar.xz
OUTPUTS=(Image initramfs.cpio.gz rootfs.ext4)
# Every timestamp in the outputs (kernel banner, cpio, ext4) is this fixed instant.
export SOURCE_DATE_EPOCH=1704067200
export LC_ALL=C TZ=UTC
export PATH=$PATH:/usr/sbin:/sbin

trap 'printf "guest: error: line %s: %s failed\n" "$LINENO" "$BASH_COMMAND" >&2' ERR
log() { printf 'guest: %s\n' "$*" >&2; }
die() { printf 'guest: error: %s\n' "$*" >&2; exit 1; }

# sha256 over the names and contents of all recipe files (README/docs excluded).
recipe_hash() {
    (cd "$GUEST_DIR" && find . -type f ! -name '*.md' -print0 | sort -z |
        xargs -0 sha256sum | sha256sum | cut -c1-16)
}

outputs_complete() {
    local f
    for f in "${OUTPUTS[@]}"; do [[ -s $1/$f ]] || return 1; done
}

# Point $CACHE/guest at $1 atomically (rename of a fresh symlink).
link_current() {
    local tmp="$CACHE/.guest-link.$$"
    ln -sfn "$(basename "$1")" "$tmp"
    mv -T "$tmp" "$CACHE/guest"
}

as_root() {
    if [[ $(id -u) -eq 0 ]]; then "$@"
    elif command -v sudo >/dev/null; then sudo "$@"
    else die "need root to run: $*"; fi
}

APT_UPDATED=0
apt_update_once() {
    [[ $APT_UPDATED -eq 1 ]] && return 0
    log "apt-get update"
    as_root apt-get update -qq >&2
    APT_UPDATED=1
}

# Install the Debian packages whose tool or file is missing (nothing when all are there).
install_missing() {
    local -a pkgs=() checks=(
        "cmd:riscv64-linux-gnu-gcc:gcc-riscv64-linux-gnu"
        "file:/usr/riscv64-linux-gnu/lib/libc.a:libc6-dev-riscv64-cross"
        "file:$KSRC_TARBALL:linux-source-6.1"
        "cmd:make:make" "cmd:gcc:gcc" "cmd:bc:bc" "cmd:flex:flex" "cmd:bison:bison"
        "cmd:perl:perl" "cmd:xz:xz-utils" "cmd:gzip:gzip" "cmd:cpio:cpio"
        "cmd:mke2fs:e2fsprogs" "cmd:dpkg-source:dpkg-dev" "cmd:flock:util-linux"
        "cmd:patch:patch"
        "file:/usr/include/stdio.h:libc6-dev"
    )
    local c kind what pkg
    for c in "${checks[@]}"; do
        IFS=: read -r kind what pkg <<<"$c"
        if [[ $kind == cmd ]]; then command -v "$what" >/dev/null && continue
        else [[ -e $what ]] && continue; fi
        pkgs+=("$pkg")
    done
    [[ ${#pkgs[@]} -eq 0 ]] && return 0
    apt_update_once
    log "installing: ${pkgs[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${pkgs[@]}" >&2
}

have_deb_src() {
    grep -Eqs '^[[:space:]]*(deb-src[[:space:]]|Types:.*[[:space:]]deb-src)' \
        /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources
}

# Print deb822 stanzas of $1 that have Types: deb, with Types rewritten to deb-src.
deb822_to_src() {
    awk -v RS= -v ORS='\n\n' '{
        n = split($0, line, "\n"); deb = 0; out = ""
        for (i = 1; i <= n; i++) {
            if (line[i] ~ /^Enabled:[ \t]*no/) { deb = 0; break }
            if (line[i] ~ /^Types:/) {
                m = split(line[i], w, /[ \t]+/)
                for (j = 2; j <= m; j++) if (w[j] == "deb") deb = 1
                line[i] = "Types: deb-src"
            }
            out = out (out == "" ? "" : "\n") line[i]
        }
        if (deb) print out
    }' "$1"
}

# Add a deb-src twin of the system's own Debian archive entry, derived from its config.
ensure_deb_src() {
    have_deb_src && return 0
    local d822=/etc/apt/sources.list.d/debian.sources tmp
    tmp=$(mktemp)
    if [[ -f $d822 ]]; then
        deb822_to_src "$d822" >"$tmp"
        [[ -s $tmp ]] && as_root install -m 0644 "$tmp" /etc/apt/sources.list.d/hostel-deb-src.sources
    elif [[ -f /etc/apt/sources.list ]]; then
        sed -n 's/^[[:space:]]*deb[[:space:]]/deb-src /p' /etc/apt/sources.list >"$tmp"
        [[ -s $tmp ]] && as_root install -m 0644 "$tmp" /etc/apt/sources.list.d/hostel-deb-src.list
    fi
    rm -f "$tmp"
    have_deb_src || die "no Debian 'deb' entry found to derive a deb-src entry from"
    log "added deb-src entries derived from the system's Debian sources"
    APT_UPDATED=0
    apt_update_once
}

# Echo the busybox source dir, fetching it with `apt-get source` into the cache once.
busybox_source() {
    local dir
    dir=$(find "$CACHE/src" -maxdepth 1 -type d -name 'busybox-[0-9]*' | sort | tail -n1)
    if [[ -n $dir && -f $dir/.hostel-version ]]; then echo "$dir"; return 0; fi
    ensure_deb_src
    local tmp="$CACHE/src/.busybox-dl.$$"
    rm -rf "$tmp" && mkdir -p "$tmp"
    log "apt-get source busybox"
    (cd "$tmp" && apt-get source -qq busybox >&2) || { apt_update_once
        (cd "$tmp" && apt-get source -qq busybox >&2); } || die "apt-get source busybox failed"
    dir=$(find "$tmp" -maxdepth 1 -type d -name 'busybox-*' | head -n1)
    [[ -n $dir ]] || die "apt-get source busybox produced no source tree"
    sed -n 's/^Version: //p' "$tmp"/busybox_*.dsc | head -n1 >"$dir/.hostel-version"
    mv "$dir" "$CACHE/src/"
    rm -rf "$tmp"
    echo "$CACHE/src/$(basename "$dir")"
}

# Echo the extracted kernel source dir, with guest/patches/*.patch applied: one tree per
# linux-source-6.1 version and patch set (the name carries both), extracted once.
kernel_source() {
    local ver dir tmp p phash
    ver=$(dpkg-query -W -f='${Version}' linux-source-6.1 2>/dev/null || echo unknown)
    phash=$(cat /dev/null "$GUEST_DIR"/patches/*.patch 2>/dev/null | sha256sum | cut -c1-8)
    dir="$CACHE/src/linux-source-6.1_${ver}_p$phash"
    if [[ ! -f $dir/.hostel-patched ]]; then
        log "extracting $KSRC_TARBALL"
        tmp="$dir.tmp.$$"
        rm -rf "$tmp" "$dir" && mkdir -p "$tmp"
        tar -C "$tmp" -xf "$KSRC_TARBALL"
        for p in "$GUEST_DIR"/patches/*.patch; do
            [[ -f $p ]] || continue
            log "kernel: applying $(basename "$p")"
            patch -d "$tmp/linux-source-6.1" -p1 --forward --batch --quiet <"$p" >&2 ||
                die "patch $(basename "$p") does not apply to linux-source-6.1 $ver"
        done
        touch "$tmp/linux-source-6.1/.hostel-patched"
        mv "$tmp/linux-source-6.1" "$dir"
        rm -rf "$tmp"
    fi
    echo "$dir"
}

# Check that every assignment of fragment $1 holds in config $2; name those that do not.
verify_config() {
    local frag=$1 conf=$2 line sym bad=()
    while IFS= read -r line; do
        if [[ $line =~ ^(CONFIG_[A-Za-z0-9_]+)=.*$ ]]; then
            grep -qxF -- "$line" "$conf" || bad+=("$line (got: $(grep -E "^(# )?${BASH_REMATCH[1]}[= ]" "$conf" || echo unset))")
        elif [[ $line =~ ^#\ (CONFIG_[A-Za-z0-9_]+)\ is\ not\ set$ ]]; then
            sym=${BASH_REMATCH[1]}
            ! grep -qE "^$sym=" "$conf" || bad+=("$line (got: $(grep -E "^$sym=" "$conf"))")
        fi
    done <"$frag"
    [[ ${#bad[@]} -eq 0 ]] && return 0
    printf 'guest: error: %s: options that did not survive in %s:\n' "$(basename "$frag")" "$conf" >&2
    printf 'guest: error:   %s\n' "${bad[@]}" >&2
    return 1
}

# Overwrite, in config $2, every symbol that fragment $1 assigns (set or unset).
apply_fragment() {
    local frag=$1 conf=$2
    awk 'NR == FNR { if (match($0, /CONFIG_[A-Za-z0-9_]+/)) set[substr($0, RSTART, RLENGTH)] = 1
                     next }
         { s = ""; if (match($0, /CONFIG_[A-Za-z0-9_]+/)) s = substr($0, RSTART, RLENGTH)
           if (!(s in set)) print }' "$frag" "$conf" >"$conf.new"
    grep -E '^(CONFIG_|# CONFIG_)' "$frag" >>"$conf.new"
    mv "$conf.new" "$conf"
}

kmake() {
    make -s -C "$KSRC" O="$WORK/kernel" ARCH=riscv CROSS_COMPILE="$CROSS" \
        KBUILD_BUILD_TIMESTAMP="$(date -u -d "@$SOURCE_DATE_EPOCH")" KBUILD_BUILD_USER=hostel \
        KBUILD_BUILD_HOST=hostel KBUILD_BUILD_VERSION=1 "$@"
}

build_kernel() {
    local kb="$WORK/kernel"
    mkdir -p "$kb"
    if [[ ! -f $kb/.hostel-configured ]]; then
        log "kernel: tinyconfig + kernel.config"
        kmake tinyconfig >/dev/null
        (cd "$kb" && "$KSRC/scripts/kconfig/merge_config.sh" -m -O "$kb" "$kb/.config" \
            "$GUEST_DIR/kernel.config" >/dev/null)
        kmake olddefconfig >/dev/null
        verify_config "$GUEST_DIR/kernel.config" "$kb/.config" ||
            die "kernel config: options above were dropped (missing dependency?)"
        touch "$kb/.hostel-configured"
    fi
    log "kernel: make Image -j$JOBS"
    kmake -j"$JOBS" Image >&2
    cp "$kb/arch/riscv/boot/Image" "$WORK/out/Image"
    cp "$kb/.config" "$WORK/out/kernel.config.full"
}

bmake() {
    make -s -C "$BSRC" O="$WORK/busybox" ARCH=riscv CROSS_COMPILE="$CROSS" \
        KCONFIG_NOTIMESTAMP=1 "$@"
}

build_busybox() {
    local bb="$WORK/busybox"
    mkdir -p "$bb"
    if [[ ! -f $bb/.hostel-configured ]]; then
        log "busybox: defconfig + busybox.config"
        bmake defconfig >/dev/null
        apply_fragment "$GUEST_DIR/busybox.config" "$bb/.config"
        { yes '' || true; } | bmake oldconfig >/dev/null
        verify_config "$GUEST_DIR/busybox.config" "$bb/.config" ||
            die "busybox config: options above were dropped"
        touch "$bb/.hostel-configured"
    fi
    log "busybox: make -j$JOBS"
    bmake -j"$JOBS" busybox >&2
    cp "$bb/.config" "$WORK/out/busybox.config.full"
}

# Lay out the root tree: busybox and its applet links, the rootfs/ overlay, empty dirs.
make_stage() {
    local st="$WORK/stage"
    rm -rf "$st" && mkdir -p "$st"
    bmake CONFIG_PREFIX="$st" install >/dev/null
    cp -R "$GUEST_DIR/rootfs/." "$st/"
    mkdir -p "$st"/{dev,proc,sys,tmp,run,root,mnt,newroot,var/log}
    chmod 1777 "$st/tmp"
    chmod 0700 "$st/root"
    find "$st" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
}

make_initramfs() {
    log "initramfs.cpio.gz"
    (cd "$WORK/stage" && find . -mindepth 1 | sed 's|^\./||' | sort |
        cpio --quiet -o -H newc -R 0:0 --reproducible) | gzip -9 -n >"$WORK/out/initramfs.cpio.gz"
}

make_rootfs() {
    log "rootfs.ext4"
    local st="$WORK/stage"
    printf 'hostel rootfs %s\n' "$HASH" >"$st/etc/hostel-rootfs"
    touch -d "@$SOURCE_DATE_EPOCH" "$st/etc/hostel-rootfs" "$st/etc"
    E2FSPROGS_FAKE_TIME=$SOURCE_DATE_EPOCH mke2fs -q -t ext4 -L hostel-root \
        -U 6f737465-6c2d-4775-8573-742d726f6f74 \
        -E hash_seed=6f737465-6c2d-4775-8573-742d68617368,root_owner=0:0 \
        -d "$st" -F "$WORK/out/rootfs.ext4" 64M >&2
    rm "$st/etc/hostel-rootfs"
    ext4_fix_times "$st" "$WORK/out/rootfs.ext4"
}

# mke2fs -d copies each file's atime and ctime from the host, which no one can pin (the
# build itself reads the tree): set both to SOURCE_DATE_EPOCH in image $2 for tree $1.
ext4_fix_times() {
    local cmds="$WORK/debugfs.cmds" field
    (cd "$1" && find . -print) | sed 's|^\.||; s|^$|/|' | while IFS= read -r path; do
        for field in atime ctime; do
            printf 'sif "%s" %s @%s\n' "$path" "$field" "$SOURCE_DATE_EPOCH"
        done
    done >"$cmds"
    E2FSPROGS_FAKE_TIME=$SOURCE_DATE_EPOCH debugfs -w -f "$cmds" "$2" >/dev/null 2>"$cmds.err" ||
        die "debugfs failed on $2: $(head -n3 "$cmds.err")"
    ! grep -v '^debugfs ' "$cmds.err" | grep -q . ||
        die "debugfs could not set times in $2: $(grep -v '^debugfs ' "$cmds.err" | head -n3)"
}

write_build_info() {
    {
        echo "recipe-hash: $HASH"
        echo "linux-source-6.1: $(dpkg-query -W -f='${Version}' linux-source-6.1 2>/dev/null)"
        echo "busybox-source: $(cat "$BSRC/.hostel-version")"
        echo "cross-gcc: $(${CROSS}gcc -dumpfullversion)"
        echo "glibc-cross: $(dpkg-query -W -f='${Version}' libc6-dev-riscv64-cross 2>/dev/null)"
        echo "source-date-epoch: $SOURCE_DATE_EPOCH"
    } >"$WORK/out/BUILD-INFO"
}

# Remove leftovers that can no longer be resumed or used: build dirs of other recipe
# hashes (interrupted builds; we hold the lock, so none is running) and kernel trees of
# other linux-source-6.1 versions. Finished guest-* outputs are kept for other checkouts.
prune_stale() {
    local d
    for d in "$CACHE"/build-*; do
        [[ -d $d && $d != "$CACHE/build-$HASH" ]] && rm -rf "$d"
    done
    for d in "$CACHE"/src/linux-source-6.1_* "$CACHE"/src/.busybox-dl.*; do
        [[ -d $d && $d != "$KSRC" ]] && rm -rf "$d"
    done
    return 0
}

main() {
    HASH=$(recipe_hash)
    if [[ ${1:-} == --hash ]]; then echo "$HASH"; return 0; fi
    [[ $# -eq 0 ]] || die "usage: $0 [--hash]"
    local dest="$CACHE/guest-$HASH"
    mkdir -p "$CACHE/src"
    if outputs_complete "$dest"; then link_current "$dest"; echo "$dest"; return 0; fi

    exec 9>"$CACHE/.build.lock"
    flock 9
    if outputs_complete "$dest"; then link_current "$dest"; echo "$dest"; return 0; fi
    local t0=$SECONDS
    install_missing
    KSRC=$(kernel_source)
    prune_stale
    BSRC=$(busybox_source)
    WORK="$CACHE/build-$HASH"
    rm -rf "$WORK/out" && mkdir -p "$WORK/out"
    build_kernel
    build_busybox
    make_stage
    make_initramfs
    make_rootfs
    write_build_info
    outputs_complete "$WORK/out" || die "internal: outputs missing in $WORK/out"
    rm -rf "$dest" && mv "$WORK/out" "$dest"
    link_current "$dest"
    rm -rf "$WORK"
    log "built $dest in $((SECONDS - t0)) s"
    echo "$dest"
}

# Run only when executed, so that tests can `source` this file and call its functions.
if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
    main "$@"
fi
