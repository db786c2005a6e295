#!/usr/bin/env python3
"""Fail if a source file includes a header of a higher layer.

Usage: scripts/check-layers.py [ROOT]

The layers, lowest first, are the one place this order is written down
(docs/architecture.md draws the same picture).  A file may include headers
of its own layer and of every layer below it; an include that reaches up is
printed as `file:line: dir/ (layer N) includes dir/ (layer M)` and the exit
status is 1.  Directories under src/ that are not listed are an error too, so
a new directory has to be given its place.
"""
import os
import re
import sys

LAYERS = [
    ("base", ["util"]),
    ("services", ["block", "net", "state"]),
    ("devices", ["cpu", "hw", "virtio", "ui"]),
    ("board", ["machine"]),
    ("vmm", ["vmm", "control", "client", "switchd"]),
    ("management", ["mgmt"]),
    ("front ends", ["cli", "img", "tools"]),
]

INCLUDE = re.compile(r'^\s*#\s*include\s+"([a-z_0-9]+)/[^"]+"')


def layer_of(top):
    for n, (_, dirs) in enumerate(LAYERS):
        if top in dirs:
            return n
    return None


def sources(root):
    for base in ("src", "tools"):
        for dirpath, _, names in os.walk(os.path.join(root, base)):
            for name in names:
                if name.endswith((".c", ".h")):
                    yield os.path.join(dirpath, name)


def owner(root, path):
    rel = os.path.relpath(path, root).split(os.sep)
    return "tools" if rel[0] == "tools" else rel[1]


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(
        os.path.dirname(os.path.abspath(__file__)))
    bad = 0
    for path in sorted(sources(root)):
        top = owner(root, path)
        mine = layer_of(top)
        rel = os.path.relpath(path, root)
        if mine is None:
            print(f"{rel}: directory {top}/ has no layer in scripts/check-layers.py")
            bad += 1
            continue
        with open(path, encoding="utf-8", errors="replace") as f:
            for lineno, line in enumerate(f, 1):
                m = INCLUDE.match(line)
                if not m:
                    continue
                theirs = layer_of(m.group(1))
                if theirs is None:
                    print(f"{rel}:{lineno}: includes {m.group(1)}/, which has no layer")
                    bad += 1
                elif theirs > mine:
                    print(f"{rel}:{lineno}: {top}/ ({LAYERS[mine][0]}) includes "
                          f"{m.group(1)}/ ({LAYERS[theirs][0]}): an upward include")
                    bad += 1
    if bad:
        print(f"check-layers: {bad} problem(s); layers, lowest first: " +
              " < ".join("/".join(d) for _, d in LAYERS))
        return 1
    print("check-layers: no include reaches up")
    return 0


if __name__ == "__main__":
    sys.exit(main())
