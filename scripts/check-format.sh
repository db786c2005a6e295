#!/bin/sh
# Fail (exit 1) if any tracked C file differs from what clang-format makes of it
# with the committed .clang-format; list those files.  `make format` fixes them.
# Usage: scripts/check-format.sh   (from anywhere inside the tree)
set -eu
cd "$(dirname "$0")/.."
command -v clang-format >/dev/null || { echo "check-format: clang-format is not installed" >&2; exit 77; }
bad=0
for f in $(git ls-files '*.c' '*.h' 2>/dev/null || find src tools tests bench examples -name '*.[ch]'); do
    if ! clang-format --dry-run --Werror "$f" >/dev/null 2>&1; then
        echo "not formatted: $f (run 'make format')"
        bad=1
    fi
done
[ $bad = 0 ] && echo "check-format: every C file matches .clang-format"
exit $bad
