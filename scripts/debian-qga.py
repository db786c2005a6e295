#!/usr/bin/env python3
"""Debian's riscv64 qemu-guest-agent on an ext4 disk image, for the guest agent's e2e test.

The default guest is busybox; Debian's own agent (trixie's qemu-guest-agent, riscv64) and
the shared libraries it needs are unpacked from Debian's archive into a tree and made an
ext4 image (mke2fs -d: no root needed).  The guest mounts it and runs
/qga/lib/ld-linux-riscv64-lp64d.so.1 --library-path ... /qga/usr/bin/qemu-ga (docs/agent.md).

The archive is the system's own Debian mirror, read from /etc/apt/sources.list.d/
debian.sources (or /etc/apt/sources.list) at run time.  Every .deb is checked against the
SHA256 of the suite's Packages index.  The result is cached in
$HOSTEL_CACHE (default ~/.cache/hostel)/qga-<version>/qga.ext4.

Usage: scripts/debian-qga.py [--suite trixie]   prints the image's path on stdout
"""

import argparse
import hashlib
import lzma
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.request

ARCH = "riscv64"
PACKAGE = "qemu-guest-agent"
# Pulled in by the dependency walk but not needed to run qemu-ga from a library path.
SKIP = {"gcc-14-base", "libgcc-s1-dbg"}


def log(msg):
    print(f"debian-qga: {msg}", file=sys.stderr)


def mirror():
    """The first Debian archive URI the system's apt sources name (not the security one)."""
    d822 = pathlib.Path("/etc/apt/sources.list.d/debian.sources")
    uris = []
    if d822.is_file():
        for stanza in d822.read_text().split("\n\n"):
            if re.search(r"^Enabled:\s*no", stanza, re.M | re.I):
                continue
            m = re.search(r"^URIs:\s*(.+)$", stanza, re.M)
            if m:
                uris += m.group(1).split()
    legacy = pathlib.Path("/etc/apt/sources.list")
    if legacy.is_file():
        for line in legacy.read_text().splitlines():
            w = line.split()
            if len(w) >= 3 and w[0] == "deb":
                uris.append(next(x for x in w[1:] if not x.startswith("[")))
    uris = [u for u in uris if "security" not in u]
    if not uris:
        sys.exit("debian-qga: error: no Debian archive in the system's apt sources")
    return uris[0].rstrip("/")


def fetch(url, dest):
    tmp = dest.with_suffix(dest.suffix + ".part")
    with urllib.request.urlopen(url, timeout=120) as r, open(tmp, "wb") as f:
        shutil.copyfileobj(r, f)
    tmp.rename(dest)


def packages_index(base, suite, cache):
    path = cache / f"Packages-{suite}-{ARCH}"
    if not path.is_file():
        xz = cache / f"Packages-{suite}-{ARCH}.xz"
        log(f"fetching the {suite} {ARCH} package index")
        fetch(f"{base}/dists/{suite}/main/binary-{ARCH}/Packages.xz", xz)
        path.write_bytes(lzma.decompress(xz.read_bytes()))
        xz.unlink()
    index = {}
    for stanza in path.read_text(errors="replace").split("\n\n"):
        fields = dict(re.findall(r"^([A-Za-z0-9-]+):\s*(.*)$", stanza, re.M))
        if "Package" in fields:
            index.setdefault(fields["Package"], fields)
    return index


def closure(index, root):
    """root and everything it depends on (first alternative of each), by name."""
    want, seen = [root], []
    while want:
        name = want.pop()
        if name in seen or name in SKIP:
            continue
        if name not in index:
            sys.exit(f"debian-qga: error: {name} is not in the index")
        seen.append(name)
        for dep in re.split(r",\s*", index[name].get("Depends", "") + ", " +
                            index[name].get("Pre-Depends", "")):
            if dep.strip():
                want.append(re.split(r"[\s|(:]", dep.strip(), maxsplit=1)[0])
    return seen


def build(base, suite, cache):
    index = packages_index(base, suite, cache)
    version = index[PACKAGE]["Version"].replace(":", "_")
    out = cache / f"qga-{version}"
    image = out / "qga.ext4"
    if image.is_file():
        return image
    work = pathlib.Path(tempfile.mkdtemp(dir=cache, prefix=".qga-"))
    tree = work / "tree"
    tree.mkdir()
    for name in closure(index, PACKAGE):
        p = index[name]
        deb = work / pathlib.Path(p["Filename"]).name
        log(f"fetching {name} {p['Version']}")
        fetch(f"{base}/{p['Filename']}", deb)
        if hashlib.sha256(deb.read_bytes()).hexdigest() != p["SHA256"]:
            sys.exit(f"debian-qga: error: {deb.name}: SHA256 does not match the index")
        subprocess.run(["dpkg-deb", "-x", str(deb), str(tree)], check=True)
        deb.unlink()
    for d in ("usr/share/doc", "usr/share/man", "usr/share/locale", "usr/share/lintian"):
        shutil.rmtree(tree / d, ignore_errors=True)
    (tree / "VERSION").write_text(f"{PACKAGE} {index[PACKAGE]['Version']} ({suite} {ARCH})\n")
    img = work / "qga.ext4"
    subprocess.run(["mke2fs", "-q", "-t", "ext4", "-d", str(tree), "-L", "qga", str(img), "64M"],
                   check=True, stdout=sys.stderr, env={**os.environ, "PATH": os.environ.get("PATH", "") +
                                    ":/usr/sbin:/sbin"})
    shutil.rmtree(tree)
    out.mkdir(exist_ok=True)
    img.rename(image)
    shutil.rmtree(work, ignore_errors=True)
    return image


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--suite", default="trixie", help="Debian suite (default trixie)")
    args = ap.parse_args()
    cache = pathlib.Path(os.environ.get("HOSTEL_CACHE", pathlib.Path.home() / ".cache/hostel"))
    cache.mkdir(parents=True, exist_ok=True)
    print(build(mirror(), args.suite, cache))


if __name__ == "__main__":
    main()
