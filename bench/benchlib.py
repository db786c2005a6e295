"""What the benchmarks under bench/ share: loading another benchmark's module (its
guest console, its probes) and printing the side-by-side table every one of them ends with.

A benchmark imports it with its own directory's parent on sys.path:

    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
    import benchlib
"""

import importlib.util
import pathlib

REPO = pathlib.Path(__file__).resolve().parents[1]


def load(name, path):
    """The module at REPO/path (e.g. "bench/boot/run.py"), imported under name."""
    spec = importlib.util.spec_from_file_location(name, REPO / path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def print_table(head, rows):
    """head and rows (lists of strings) as columns: the first left-aligned, the others
    right-aligned, a rule under the head."""
    cells = [head] + rows
    widths = [max(len(c[i]) for c in cells) for i in range(len(head))]
    for n, row in enumerate(cells):
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                        for i, (c, w) in enumerate(zip(row, widths))).rstrip())
        if n == 0:
            print("  ".join("-" * w for w in widths))
