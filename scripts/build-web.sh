#!/bin/sh
# Builds the web console's directory (docs/web.md): the page's own files from web/ and the
# JavaScript libraries it uses, installed from npm exactly as web/package-lock.json pins them.
#
# Usage: scripts/build-web.sh SRC_DIR OUT_DIR NPM_DIR STAMP
#   SRC_DIR  the repository's web/ (index.html, css/, js/, package.json, package-lock.json)
#   OUT_DIR  what hosteld serves (BUILD/web, beside BUILD/hosteld)
#   NPM_DIR  where `npm ci` installs the libraries (kept between builds; redone when the
#            lock file changes)
#   STAMP    touched when done (the build system's output)
#
# The libraries are copied, never fetched when the page is served: xterm.js and its fit addon
# (vendor/xterm/), noVNC's core and the inflate code it imports (vendor/novnc/).
set -eu
src=$1 out=$2 npm_dir=$3 stamp=$4

die() { echo "build-web.sh: $*" >&2; exit 1; }

command -v npm >/dev/null 2>&1 || die "npm is missing: run scripts/deps.sh (it installs Debian's nodejs and npm)"
[ -f "$src/package-lock.json" ] || die "$src/package-lock.json is missing"

mkdir -p "$npm_dir"
if ! cmp -s "$src/package-lock.json" "$npm_dir/package-lock.json" ||
   ! [ -f "$npm_dir/node_modules/.package-lock.json" ]; then
    cp "$src/package.json" "$src/package-lock.json" "$npm_dir/"
    # --ignore-scripts: no package runs code at install; ci: exactly the lock file, or fail
    (cd "$npm_dir" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error) ||
        die "npm ci failed in $npm_dir (is the npm registry reachable?)"
fi
nm=$npm_dir/node_modules
for f in @xterm/xterm/lib/xterm.mjs @xterm/xterm/css/xterm.css @xterm/addon-fit/lib/addon-fit.mjs \
         @novnc/novnc/core/rfb.js; do
    [ -f "$nm/$f" ] || die "$nm/$f is missing after npm ci"
done

# Build the new tree beside the old one, then swap, so hosteld never serves half a tree.
tmp=$out.tmp.$$
rm -rf "$tmp"
mkdir -p "$tmp/vendor/xterm" "$tmp/vendor/novnc"
cp "$src/index.html" "$src/favicon.svg" "$tmp/"
cp -R "$src/css" "$src/js" "$tmp/"
cp "$nm/@xterm/xterm/lib/xterm.mjs" "$nm/@xterm/xterm/css/xterm.css" \
   "$nm/@xterm/addon-fit/lib/addon-fit.mjs" "$tmp/vendor/xterm/"
cp "$nm/@xterm/xterm/LICENSE" "$tmp/vendor/xterm/LICENSE"
cp "$nm/@xterm/addon-fit/LICENSE" "$tmp/vendor/xterm/LICENSE.addon-fit" 2>/dev/null || true
cp -R "$nm/@novnc/novnc/core" "$nm/@novnc/novnc/vendor" "$nm/@novnc/novnc/LICENSE.txt" "$tmp/vendor/novnc/"
# the source maps' references would only ask for files that are not there
sed -i '/^\/\/# sourceMappingURL=/d' "$tmp/vendor/xterm/xterm.mjs" "$tmp/vendor/xterm/addon-fit.mjs"
rm -rf "$out.old"
[ -e "$out" ] && mv "$out" "$out.old"
mv "$tmp" "$out"
rm -rf "$out.old"
touch "$stamp"
