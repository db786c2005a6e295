#!/usr/bin/env python3
"""Check the web console against its Content-Security-Policy and its own build.

Usage: scripts/check-web.py SRC_WEB_DIR [BUILT_WEB_DIR]

The page is served with `script-src 'self'; style-src 'self'` and no 'unsafe-inline'
(docs/web.md), so the browser would refuse, silently for the user, any inline script or
style.  This fails, naming file and line, on:
- index.html: a <script> without src, a <style> element, a style= or on...= attribute, a
  javascript: URL, or a script, style sheet or image from another origin;
- our JavaScript (js/*.js): innerHTML and its kin, eval, new Function, document.write,
  or an http(s) URL (the page talks to its own origin only);
web/package-lock.json holding a URL (the repository names no registry host; web/.npmrc);
and, given the built directory, on an /ui/ reference of index.html or a static import of any
module there (ours, xterm.js, noVNC; static or import('...')) that does not resolve to a file of the built tree.
"""
import html.parser
import pathlib
import re
import sys

errors = []


def err(path, line, msg):
    errors.append(f"{path}:{line}: {msg}")


class PageChecker(html.parser.HTMLParser):
    def __init__(self, path):
        super().__init__()
        self.path = path
        self.refs = []
        self.in_script_without_src = False

    def handle_starttag(self, tag, attrs):
        line = self.getpos()[0]
        a = dict(attrs)
        for name, value in attrs:
            if name.startswith("on"):
                err(self.path, line, f"<{tag} {name}=...>: inline handlers are refused by the CSP")
            if name == "style":
                err(self.path, line, f"<{tag} style=...>: inline styles are refused by the CSP")
            if value and value.strip().lower().startswith("javascript:"):
                err(self.path, line, f"<{tag} {name}=javascript:...>: refused by the CSP")
        if tag == "style":
            err(self.path, line, "<style>: inline style sheets are refused by the CSP")
        if tag == "script":
            if "src" not in a:
                err(self.path, line, "<script> without src: inline scripts are refused by the CSP")
                self.in_script_without_src = True
        for name in ("src", "href"):
            v = a.get(name)
            if v is None or (tag == "a" and name == "href"):
                continue
            if re.match(r"^(https?:)?//", v):
                err(self.path, line, f"<{tag} {name}={v}>: the page loads nothing from elsewhere")
            elif v.startswith("/ui/"):
                self.refs.append((line, v))


FORBIDDEN_JS = [
    (re.compile(r"\.(innerHTML|outerHTML)\s*=|insertAdjacentHTML"), "HTML from strings (use dom.js h())"),
    (re.compile(r"\beval\s*\("), "eval (refused by the CSP)"),
    (re.compile(r"\bnew\s+Function\b"), "new Function (refused by the CSP)"),
    (re.compile(r"document\.write"), "document.write"),
    (re.compile(r"setAttribute\(\s*['\"](style|on\w+)['\"]"), "an inline style or handler attribute"),
    (re.compile(r"['\"`]https?://"), "a URL of another origin"),
]

IMPORT = re.compile(r"""(?:^|[;\s])(?:import|export)\s[^'"]*?\sfrom\s*['"]([^'"]+)['"]|^\s*import\s*['"]([^'"]+)['"]"""
                    r"""|\bimport\(\s*['"]([^'"]+)['"]\s*\)""", re.M)


def check_js(path):
    for n, line in enumerate(path.read_text().splitlines(), 1):
        code = line.split("//", 1)[0] if not re.search(r"['\"`]https?://", line) else line
        for rx, what in FORBIDDEN_JS:
            if rx.search(code):
                err(path, n, what)


def check_imports(root):
    for f in sorted(list(root.rglob("*.js")) + list(root.rglob("*.mjs"))):
        text = f.read_text(errors="replace")
        for m in IMPORT.finditer(text):
            spec = m.group(1) or m.group(2) or m.group(3)
            if not spec.startswith("."):
                err(f, text.count("\n", 0, m.start()) + 1,
                    f"import '{spec}': a bare module name, which a browser cannot load")
                continue
            target = (f.parent / spec).resolve()
            if not target.is_file():
                err(f, text.count("\n", 0, m.start()) + 1, f"import '{spec}': {target} is missing")


def main():
    if len(sys.argv) not in (2, 3):
        print(__doc__, file=sys.stderr)
        return 2
    src = pathlib.Path(sys.argv[1])
    page = PageChecker(src / "index.html")
    page.feed((src / "index.html").read_text())
    for f in sorted((src / "js").glob("*.js")):
        check_js(f)
    lock = src / "package-lock.json"
    for n, line in enumerate(lock.read_text().splitlines(), 1):
        if '"resolved"' in line or "://" in line:
            err(lock, n, "a URL in the lock file: the repository names no registry (web/.npmrc)")
    if len(sys.argv) == 3:
        built = pathlib.Path(sys.argv[2])
        for line, ref in page.refs:
            if not (built / ref[len("/ui/"):]).is_file():
                err(src / "index.html", line, f"{ref}: not in the built tree {built}")
        check_imports(built)
        for f in (src / "js").glob("*.js"):
            if not (built / "js" / f.name).is_file():
                err(f, 1, f"not copied into {built}/js")
    for e in errors:
        print(e)
    print(f"check-web: {len(errors)} problem(s)")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
