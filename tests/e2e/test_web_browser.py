"""The web console (docs/web.md) in a real browser: Debian's chromium, headless, driven by
Debian's python3-selenium through chromium-driver, against hosteld over HTTPS (--listen) and
the default guest.

- A browser without a session sees the login page and no data: the API, the events stream
  and a VM's consoles refuse it, and a bad or spent token is told as such.
- The whole walk of a user: log in with the link `POST /1.0/web/tokens` gives (the token is
  then gone from the address), create a VM with the form (a new volume, a display), see it
  start, see the boot text in the xterm.js serial console, type `echo hello-N` and see it
  answered; open the graphical console (noVNC), see a screen that is not blank, type a command
  there with "type this text" and read its answer on the screen (OCR, tesseract); take a
  snapshot, change the guest, revert it from the page and see the change gone; stop the VM
  and watch the list follow a start made by another client (the events stream).
- Storage and networks: a volume made with the storage page, a VM made on it and on a network
  with the form, a refusal of the daemon shown (a volume in use), a clone and deletes from the
  VM's page (with its volume), the network deleted from its page.  No guest is booted.
- Logging out and a daemon restart end the session: the page shows its login by itself.
- Along the way: every mutating request the page sent carried X-Hostel-CSRF (chromium's own
  network log), an error of the API is shown to the user, and the only things the
  Content-Security-Policy refused were xterm.js's <style> elements, whose rules the page
  applies through constructed style sheets instead (web/js/cspstyle.js).

Screenshots and the browser's console go to tests/e2e/artifacts/test_web_browser/TEST/ (or
$HOSTEL_ARTIFACTS/test_web_browser/TEST/), kept after the run, ignored by git.
"""

import base64
import json
import os
import pathlib
import random
import shutil
import subprocess
import tempfile
import time

import pytest

from mgmtd import HosteldTLS, REPO
from test_mgmt_lifecycle import Daemon

try:
    from selenium import webdriver
    from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait
except ImportError:  # deps.sh installs it: say so rather than skip
    webdriver = None

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--ignore-certificate-errors", "--window-size=1280,900"]
BOOT_TIMEOUT = 180
ARTIFACTS = pathlib.Path(os.environ.get("HOSTEL_ARTIFACTS", REPO / "tests" / "e2e" / "artifacts"))


class WebDaemon(HosteldTLS):
    """hosteld with HTTPS on a free port, the default guest, and its VMs ended after the test."""

    def __init__(self, tmp, guest):
        super().__init__(tmp)
        self.guest = guest.directory

    vmm_pids = Daemon.vmm_pids
    run_dir = Daemon.run_dir
    cleanup = Daemon.cleanup

    def login_url(self):
        r = self.request("POST", "/1.0/web/tokens", {})
        assert r.status == 201, r
        urls = [u for u in r.json["urls"] if f":{self.port}/" in u]
        assert urls and urls[0].endswith("#token=" + r.json["token"]), r.json
        return urls[0], r.json["token"]

    def act(self, name, action, **options):
        r = self.request("PUT", f"/1.0/vms/{name}/state", {"action": action, **options})
        assert r.status == 202, r
        w = self.request("GET", f"/1.0/operations/{r.json['id']}/wait?timeout=120", timeout=130)
        assert w.status == 200 and w.json["status"] == "success", w
        return w.json


@pytest.fixture
def daemon(tmp_path, guest):
    if not (REPO / "web").is_dir():
        pytest.fail("no web/ directory in the repository")
    d = WebDaemon(tmp_path / "d", guest).start()
    yield d
    d.cleanup()


class Page:
    """One headless chromium (a fresh profile) on the daemon's page, with helpers."""

    def __init__(self, daemon, artifacts, shots):
        self.daemon = daemon
        self.artifacts = artifacts
        self.counter = shots    # shared by the test's pages: the screenshots in order
        self.profile = tempfile.mkdtemp(prefix="hostel-chromium-")
        opts = webdriver.ChromeOptions()
        opts.binary_location = CHROMIUM
        for flag in CHROMIUM_FLAGS + [f"--user-data-dir={self.profile}"]:
            opts.add_argument(flag)
        opts.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
        self.d = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
        self.d.set_script_timeout(30)
        self.network = []   # chromium's Network.requestWillBeSent messages, as they are read

    def quit(self):
        if self.d is None:
            return
        try:
            self.shot("last")
            with open(self.artifacts / "console.txt", "a") as f:
                for e in self.d.get_log("browser"):
                    f.write(f"{e['level']} {e['message']}\n")
        except WebDriverException:
            pass
        self.d.quit()
        self.d = None
        shutil.rmtree(self.profile, ignore_errors=True)

    def shot(self, name):
        self.counter[0] += 1
        self.d.save_screenshot(str(self.artifacts / f"{self.counter[0]:02d}-{name}.png"))

    def wait(self, predicate, timeout=30, what="the page"):
        try:
            # a notice or a row may be redrawn between finding it and reading it: try again
            return WebDriverWait(self.d, timeout, poll_frequency=0.2,
                                 ignored_exceptions=[StaleElementReferenceException]
                                 ).until(lambda _: predicate())
        except Exception as e:
            self.shot("timeout")
            raise AssertionError(f"{what}: not so within {timeout} s ({type(e).__name__})") from None

    def go(self, fragment):
        self.d.get(f"{self.daemon.url}/{fragment}")

    def el(self, css):
        return self.d.find_element(By.CSS_SELECTOR, css)

    def els(self, css):
        return self.d.find_elements(By.CSS_SELECTOR, css)

    def visible(self, css):
        found = self.els(css)
        return bool(found) and found[0].is_displayed()

    def js(self, script, *args):
        return self.d.execute_script(script, *args)

    def login(self):
        url, token = self.daemon.login_url()
        self.d.get(url)
        self.wait(lambda: self.visible("#nav"), what="the page after logging in")
        return token

    def vm_state(self):
        return self.el("#vm-state").get_attribute("data-state")

    def serial_text(self):
        return self.js("return window.hostelSerialText()")

    def serial_type(self, text):
        self.el("#serial-term .xterm-helper-textarea").send_keys(text)

    def serial_attached(self):
        """Waits until the serial console is attached as its typist."""
        self.wait(lambda: "what you type goes" in self.el("#serial-status").text,
                  what="the serial console attached")

    def errors(self):
        """The error notices shown."""
        return self.js("return Array.from(document.querySelectorAll(arguments[0]), e => e.textContent)",
                       "#errors .error:not(.info)")

    def dismiss_errors(self):
        """Clicks the dismiss button of every error notice (in the page: a note may go by
        itself between being found and being clicked)."""
        self.js("document.querySelectorAll('#errors .error:not(.info) button').forEach(b => b.click())")

    def notes(self):
        return self.js("return Array.from(document.querySelectorAll('#errors .error.info'), e => e.textContent)")

    def requests(self):
        """Every request chromium sent so far: [(method, url, headers)]."""
        for entry in self.d.get_log("performance"):
            msg = json.loads(entry["message"])["message"]
            if msg["method"] == "Network.requestWillBeSent":
                req = msg["params"]["request"]
                self.network.append((req["method"], req["url"], req["headers"]))
        return self.network


@pytest.fixture
def page_factory(daemon, request):
    if (webdriver is None or not os.path.exists(CHROMIUM) or not os.path.exists(CHROMEDRIVER)
            or not shutil.which("tesseract")):
        pytest.fail("the browser test needs chromium, chromium-driver, python3-selenium and "
                    "tesseract-ocr (scripts/deps.sh installs them)")
    artifacts = ARTIFACTS / "test_web_browser" / request.node.name
    shutil.rmtree(artifacts, ignore_errors=True)
    artifacts.mkdir(parents=True)
    pages = []
    shots = [0]

    def make():
        p = Page(daemon, artifacts, shots)
        pages.append(p)
        return p

    yield make
    for p in pages:
        p.quit()


# ---- without a session ----


def test_without_a_session_the_page_shows_the_login_and_no_data(daemon, page_factory):
    r = daemon.request("POST", "/1.0/vms", {"name": "secret-vm"})
    assert r.status == 201, r
    p = page_factory()
    p.go("")
    p.wait(lambda: p.visible("#login"), what="the login page")
    assert not p.visible("#nav")
    assert "secret-vm" not in p.d.page_source
    # what the page's origin can reach without a session: nothing of the host
    probe = p.d.execute_async_script("""
        const done = arguments[arguments.length - 1];
        const out = {};
        const ws = path => new Promise(res => {
            const s = new WebSocket(`wss://${location.host}${path}`);
            s.onopen = () => { s.close(); res('open'); };
            s.onerror = () => res('refused');
        });
        (async () => {
            for (const path of ['/1.0/vms', '/1.0/vms/secret-vm', '/1.0/host', '/metrics',
                                '/1.0/events?since=0', '/1.0/storage-pools'])
                out[path] = (await fetch(path)).status;
            out.post = (await fetch('/1.0/vms', {method: 'POST', headers: {'Content-Type': 'application/json'},
                                                body: JSON.stringify({name: 'x'})})).status;
            out.session = (await fetch('/1.0/web/session')).status;
            out.ws_events = await ws('/1.0/events');
            out.ws_console = await ws('/1.0/vms/secret-vm/console');
            out.ws_vnc = await ws('/1.0/vms/secret-vm/vnc');
            done(out);
        })();""")
    for path in ("/1.0/vms", "/1.0/vms/secret-vm", "/1.0/host", "/metrics", "/1.0/events?since=0",
                 "/1.0/storage-pools", "post", "session"):
        assert probe[path] in (401, 403), probe
    assert probe["ws_events"] == probe["ws_console"] == probe["ws_vnc"] == "refused", probe
    assert daemon.request("GET", "/1.0/vms").json["vms"] == ["secret-vm"]  # "x" was not made
    p.shot("login")

    # a made-up token, then a spent one, are refused with a message, and no session follows
    p.el("#login-token").send_keys("not-a-token\n")
    p.wait(lambda: "not valid" in p.el("#login-message").text, what="the refusal of a bad token")
    url, token = daemon.login_url()
    p.d.get(url)
    p.wait(lambda: p.visible("#nav"), what="the login with a good token")
    assert "token" not in p.d.current_url  # the token does not stay in the address bar
    other = page_factory()
    other.d.get(url)  # the same link again, in another browser: spent
    other.wait(lambda: "not valid" in other.el("#login-message").text, what="a spent token")
    assert not other.visible("#nav")
    other.shot("spent-token")


def fetch_status(p, path):
    return p.d.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "fetch(arguments[0]).then(r => done(r.status), e => done(String(e)));", path)


def test_logout_and_a_daemon_restart_end_the_session(daemon, page_factory):
    p = page_factory()
    p.login()
    p.wait(lambda: "CPUs" in p.el("#host-cards").text, what="the overview")
    assert fetch_status(p, "/1.0/vms") == 200
    p.el("#logout").click()
    p.wait(lambda: p.visible("#login") and "logged out" in p.el("#login-message").text,
           what="the login page after logging out")
    assert not p.visible("#nav") and not p.el("#host-cards").is_displayed()
    assert fetch_status(p, "/1.0/vms") in (401, 403)   # the cookie is dead
    p.shot("logged-out")

    # sessions are in memory: a restart of the daemon ends them, and the page says so by itself
    p.login()
    p.go("#/vms")
    p.wait(lambda: p.el("#live").text == "live", what="the events stream up")
    daemon.stop()
    daemon.start()
    p.wait(lambda: p.visible("#login") and "session ended" in p.el("#login-message").text,
           timeout=40, what="the login page after the daemon restarted")
    assert fetch_status(p, "/1.0/vms") in (401, 403)
    p.shot("after-restart")
    p.login()   # a new link works again
    p.wait(lambda: p.visible("#view-overview") or p.visible("#view-vms"), what="the page again")


# ---- the whole walk ----


def console_log(daemon, name):
    r = daemon.request("GET", f"/1.0/vms/{name}/logs/console.log")
    assert r.status == 200, r
    return r.raw.decode(errors="replace")


def canvas_stats(p):
    """The graphical console's canvas: [width, height, pixels brighter than dark grey]."""
    return p.js("""
        const c = document.querySelector('#screen canvas');
        if (!c || !c.width) return [0, 0, 0];
        const im = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let lit = 0;
        for (let i = 0; i < im.length; i += 4) if (im[i] + im[i + 1] + im[i + 2] > 96) lit++;
        return [c.width, c.height, lit];""")


def canvas_text(p, artifacts, name):
    """The canvas read by tesseract: at twice its size (the guest's 8x16 font is small), dark
    on light, with a margin (text at the very edge loses its first letter); the image and the
    text are kept."""
    data = p.js("""
        const c = document.querySelector('#screen canvas'), m = 40;
        const big = document.createElement('canvas');
        big.width = c.width * 2 + 2 * m; big.height = c.height * 2 + 2 * m;
        const g = big.getContext('2d');
        g.fillStyle = '#000';
        g.fillRect(0, 0, big.width, big.height);
        g.imageSmoothingEnabled = false;
        g.drawImage(c, m, m, c.width * 2, c.height * 2);
        const inv = document.createElement('canvas');
        inv.width = big.width; inv.height = big.height;
        const gi = inv.getContext('2d');
        gi.filter = 'invert(1) grayscale(1)';
        gi.drawImage(big, 0, 0);
        return inv.toDataURL('image/png');""")
    png = artifacts / f"{name}.png"
    png.write_bytes(base64.b64decode(data.split(",", 1)[1]))
    out = subprocess.run(["tesseract", str(png), "-", "--psm", "6"], capture_output=True, text=True,
                         timeout=120)
    (artifacts / f"{name}.txt").write_text(out.stdout)
    return out.stdout


def read_on_screen(p, word, attempts=4):
    """Waits until tesseract reads a line that is word on the screen.  OCR of the console font
    misreads a letter now and then (u for w, 6 for 8): a line at most 2 edits from word counts
    (a random word of 13 letters is not met by chance); each try takes seconds."""
    text = ""
    for i in range(attempts):
        text = canvas_text(p, p.artifacts, f"screen-ocr-{i}")
        for line in text.splitlines():
            if edits(line.strip(" .,;:'\"_|"), word) <= 2:
                return line
        time.sleep(2)
    p.shot("ocr-failed")
    raise AssertionError(f"'{word}' not read on the screen; tesseract read: {text!r}")


def edits(a, b):
    """The Levenshtein distance between a and b."""
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, cb in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (ca != cb))
    return row[-1]


def test_log_in_create_start_consoles_snapshot_revert_stop(daemon, page_factory):
    n = random.randint(1000, 9999)
    name = f"web{n}"
    p = page_factory()
    p.login()
    assert "token" not in p.d.current_url
    p.shot("overview")
    p.wait(lambda: "CPUs" in p.el("#host-cards").text, what="the host's capacity")

    # create it with the form: a new 64 MiB qcow2 volume, a display, started at once
    p.go("#/vms")
    p.wait(lambda: p.visible("#vm-new"))
    p.el("#vm-new").click()
    form = p.el("#create-form")
    p.wait(lambda: form.find_elements(By.CSS_SELECTOR, "select[name=pool] option"),
           what="the pools in the form")
    form.find_element(By.NAME, "name").send_keys(name)
    Select(form.find_element(By.NAME, "disk")).select_by_value("new")
    size = form.find_element(By.NAME, "disk_size")
    size.clear()
    size.send_keys("64")
    assert form.find_element(By.NAME, "display").is_selected()
    assert form.find_element(By.NAME, "start").is_selected()
    p.shot("create-form")
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    p.wait(lambda: p.visible("#view-vm") and p.el("#vm-title").text == name, what="the new VM's page")
    p.wait(lambda: p.vm_state() == "running", timeout=120, what="the VM running")
    vm = daemon.request("GET", f"/1.0/vms/{name}").json
    assert vm["config"]["disks"][0]["path"].endswith(f"{name}-disk0.qcow2"), vm
    assert vm["config"]["display"], vm

    # an error of the API reaches the user: the same name again
    p.go("#/vms")
    p.wait(lambda: p.els(f"tr[data-vm='{name}'] .state.running"), what="the VM in the list")
    # its CPU use and memory, from the daemon's counters (GET /metrics with the session)
    p.wait(lambda: p.el(f"tr[data-vm='{name}'] td:nth-child(6)").text.endswith("%") and
           p.el(f"tr[data-vm='{name}'] td:nth-child(7)").text.endswith("MiB"),
           what="the VM's CPU use and memory in the list")
    p.el("#vm-new").click()
    form.find_element(By.NAME, "name").send_keys(name)
    Select(form.find_element(By.NAME, "disk")).select_by_value("none")
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    p.wait(lambda: any(name in e and "exist" in e for e in p.errors()),
           what="the API's 409 shown to the user")
    p.shot("error-shown")
    p.el("#create-cancel").click()
    p.dismiss_errors()

    # the serial console: the boot text (its history), then a command answered
    p.go(f"#/vms/{name}/serial")
    p.wait(lambda: "hostel guest ready" in p.serial_text(), timeout=BOOT_TIMEOUT,
           what="the boot text in the serial console")
    p.serial_type("\n")
    word = f"hello-{n}"
    p.serial_type(f"echo {word}\n")
    p.wait(lambda: word in p.serial_text().splitlines(), what=f"the answer '{word}' on its own line")
    shown = p.js("return document.querySelector('#serial-term .xterm-rows').textContent")
    assert word in shown  # drawn, not only in the buffer
    # xterm.js's colours (its <style> elements, applied through constructed sheets)
    fg = p.js("return getComputedStyle(document.querySelector('#serial-term .xterm-rows')).color")
    assert fg == "rgb(208, 208, 208)", fg
    p.shot("serial")
    # a second browser on the same console: the history, read-only (the first one types)
    watcher = page_factory()
    watcher.login()
    watcher.go(f"#/vms/{name}/serial")
    watcher.wait(lambda: "read-only" in watcher.el("#serial-status").text, what="a read-only watcher")
    watcher.wait(lambda: word in watcher.serial_text().splitlines(), what="the history for the watcher")
    p.serial_type(f"echo seen-$(({n}+1))\n")
    watcher.wait(lambda: f"seen-{n + 1}" in watcher.serial_text().splitlines(),
                 what="the typist's command seen by the watcher")
    watcher.shot("watcher")
    watcher.quit()

    # the graphical console: the screen, then a command typed on it
    p.el("#vm-tabs a[data-tab=screen]").click()
    p.wait(lambda: "connected" in p.el("#screen-status").text, what="noVNC connected")
    # the guest's tty1 shows its shell's prompt (the kernel's messages go to the serial console)
    p.wait(lambda: canvas_stats(p)[2] > 100, timeout=60, what="a screen that is not blank")
    w, h, lit = canvas_stats(p)
    assert (w, h) == (1024, 768) and lit < w * h // 2, (w, h, lit)
    # the answer differs from the command (reversed: only a command that ran shows it), in
    # lower-case letters that tesseract does not confuse in the console font (it reads m as n,
    # u, v and w as one another, and i, j, l, o, q are close to digits or each other)
    word = "".join(random.choice("abcdefghkprstxyz") for _ in range(10))
    p.el("#paste-text").send_keys(f"\necho {word}xfg | rev\n")
    p.el("#paste-form button").click()
    time.sleep(1)
    read_on_screen(p, f"gfx{word[::-1]}")
    p.el("#screen-fullscreen").click()
    p.wait(lambda: p.js("return document.fullscreenElement && document.fullscreenElement.id") == "screen",
           what="the screen in full screen")
    p.js("document.exitFullscreen()")
    p.shot("screen")

    # snapshot, change the guest, revert from the page: the change is gone
    p.el("#vm-tabs a[data-tab=snapshots]").click()
    p.wait(lambda: p.visible("#snapshot-name"))
    p.el("#snapshot-name").send_keys("s1\n")
    p.wait(lambda: p.els("tr[data-snapshot=s1]"), timeout=60, what="the snapshot listed")
    p.shot("snapshot")
    p.el("#vm-tabs a[data-tab=serial]").click()
    # typed at once, while the console attaches again: the page sends it once attached
    p.serial_type(f"echo mark > /tmp/after-s1; echo made-$((40+{n % 100}))\n")
    p.wait(lambda: f"made-{40 + n % 100}" in p.serial_text().splitlines(), what="the file made")
    p.el("#vm-tabs a[data-tab=snapshots]").click()
    p.wait(lambda: p.els("tr[data-snapshot=s1] button[data-op=revert]"))
    p.el("tr[data-snapshot=s1] button[data-op=revert]").click()
    p.wait(lambda: p.el("#dialog").is_displayed(), what="the revert's confirmation")
    p.el("#dialog-ok").click()
    p.wait(lambda: any("reverted to s1" in t for t in p.notes()), timeout=60,
           what="the revert done")
    assert not p.errors(), p.errors()
    p.el("#vm-tabs a[data-tab=serial]").click()
    p.serial_attached()
    p.serial_type("\n")
    p.serial_type("test -e /tmp/after-s1 && echo still-$((1+1)) || echo gone-$((2+2))\n")
    p.wait(lambda: "gone-4" in p.serial_text().splitlines(), what="the file gone after the revert")
    assert "still-2" not in p.serial_text().splitlines()
    p.shot("reverted")

    # stop it from the page
    p.el("#vm-actions button[data-action=stop]").click()
    p.wait(lambda: p.vm_state() == "stopped", timeout=90, what="the VM stopped")
    assert daemon.request("GET", f"/1.0/vms/{name}").json["state"] == "stopped"
    p.shot("stopped")

    # the list follows what another client does, through the events stream (no reload)
    p.go("#/vms")
    p.wait(lambda: p.els(f"tr[data-vm='{name}'] .state.stopped"), what="the list")
    mark = len(console_log(daemon, name))   # the log holds every run: what follows is this one's
    daemon.act(name, "start")
    p.wait(lambda: p.els(f"tr[data-vm='{name}'] .state.running"), timeout=30,
           what="the list showing the start made elsewhere")
    p.shot("list-live")

    # Ctrl-Alt-Del from the graphical console: the guest's init reboots (its inittab)
    p.go(f"#/vms/{name}/screen")
    p.wait(lambda: "connected" in p.el("#screen-status").text, what="noVNC connected again")
    p.wait(lambda: "hostel guest ready" in console_log(daemon, name)[mark:],
           timeout=BOOT_TIMEOUT, what="the guest up again")
    before = len(console_log(daemon, name))
    p.el("#screen-cad").click()
    p.wait(lambda: "reboot" in console_log(daemon, name)[before:].lower(),
           timeout=60, what="the guest rebooting after Ctrl-Alt-Del")
    p.shot("ctrl-alt-del")
    daemon.act(name, "stop", force=True)
    p.go("#/vms")
    p.wait(lambda: p.els(f"tr[data-vm='{name}'] .state.stopped"), what="the list after the stop")

    # every change the page asked for carried the session's CSRF token
    mutating = [(m, u, hd) for m, u, hd in p.requests()
                if m in ("POST", "PUT", "PATCH", "DELETE") and "/1.0/" in u]
    assert len(mutating) >= 5, mutating   # volume, VM, start, snapshot, revert, stop...
    for m, u, hd in mutating:
        if u.endswith("/1.0/web/login"):
            continue
        assert {k.lower(): v for k, v in hd.items()}.get("x-hostel-csrf"), (m, u)
    # and the policy refused nothing but xterm.js's <style> elements
    refused = p.js("return window.hostelCspViolations")
    assert all(v["directive"].startswith("style-src") and v["inXterm"] for v in refused), refused


# ---- storage, networks, clone and delete (no guest is booted) ----


def test_storage_networks_clone_and_delete_from_the_page(daemon, page_factory):
    r = daemon.request("POST", "/1.0/networks", {"name": "lan"})
    assert r.status == 201, r
    p = page_factory()
    p.login()

    # a volume made with the storage page's form
    p.go("#/storage")
    p.wait(lambda: p.els("[data-pool=default]"), what="the default pool")
    p.el("#volume-new").click()
    form = p.el("#volume-form")
    form.find_element(By.NAME, "name").send_keys("vol1")
    size = form.find_element(By.NAME, "size")
    size.clear()
    size.send_keys("32")
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    p.wait(lambda: p.els("[data-pool=default] tr[data-volume=vol1]"), what="the new volume listed")
    vol = daemon.request("GET", "/1.0/storage-pools/default/volumes/vol1").json
    assert vol["size"] == 32 << 20 and vol["format"] == "qcow2", vol

    # the create form offers it and the network; the VM made has both
    p.go("#/vms")
    p.wait(lambda: p.visible("#vm-new"))
    p.el("#vm-new").click()
    form = p.el("#create-form")
    p.wait(lambda: form.find_elements(By.CSS_SELECTOR, "select[name=volume] option[value='default/vol1']")
           and form.find_elements(By.CSS_SELECTOR, "select[name=network] option[value='net:lan']"),
           what="the volume and the network in the form")
    form.find_element(By.NAME, "name").send_keys("src")
    Select(form.find_element(By.NAME, "disk")).select_by_value("existing")
    Select(form.find_element(By.NAME, "volume")).select_by_value("default/vol1")
    Select(form.find_element(By.NAME, "network")).select_by_value("net:lan")
    form.find_element(By.NAME, "display").click()   # off
    form.find_element(By.NAME, "start").click()     # not started
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    p.wait(lambda: p.visible("#view-vm") and p.el("#vm-title").text == "src", what="the VM's page")
    vm = daemon.request("GET", "/1.0/vms/src").json
    assert vm["state"] == "stopped" and "display" not in vm["config"], vm
    assert vm["config"]["disks"][0]["path"] == vol["path"], vm
    assert [(c["kind"], c["network"]) for c in vm["config"]["nics"]] == [("network", "lan")], vm
    p.el("#vm-tabs a[data-tab=screen]").click()
    p.wait(lambda: "no display" in p.el("#screen-status").text, what="a VM without a display said so")

    # the network page lists the network and its user; a network in use cannot be deleted
    p.go("#/networks")
    p.wait(lambda: p.els("tr[data-network=lan]"), what="the network listed")
    assert "src" in p.el("tr[data-network=lan]").text
    assert not p.el("tr[data-network=lan] button").is_enabled()

    # a volume in use: the daemon's refusal is shown
    p.go("#/storage")
    p.wait(lambda: p.els("tr[data-volume=vol1] button.danger"))
    p.el("tr[data-volume=vol1] button.danger").click()
    p.wait(lambda: p.el("#dialog").is_displayed())
    p.el("#dialog-ok").click()
    p.wait(lambda: any("vol1" in e or "src" in e for e in p.errors()), what="the refusal shown")
    assert daemon.request("GET", "/1.0/storage-pools/default/volumes/vol1").status == 200
    p.shot("volume-in-use")
    p.dismiss_errors()   # later checks see only new ones

    # clone it from its page, then delete the clone and the source (with its volume)
    p.go("#/vms/src")
    p.wait(lambda: p.el("#vm-title").text == "src" and
           p.el("#vm-actions button[data-action=clone]").is_enabled())
    p.el("#vm-actions button[data-action=clone]").click()
    p.wait(lambda: p.el("#dialog").is_displayed())
    assert p.el("#dialog-fields input[name=name]").get_attribute("value") == "src-clone"
    p.el("#dialog-ok").click()
    p.wait(lambda: p.el("#vm-title").text == "src-clone", timeout=60, what="the clone's page")
    assert daemon.request("GET", "/1.0/vms/src-clone").status == 200
    for vm_name, purge in (("src-clone", False), ("src", True)):
        p.go(f"#/vms/{vm_name}")
        p.wait(lambda: p.el("#vm-title").text == vm_name and
               p.el("#vm-actions button[data-action=delete]").is_enabled())
        p.el("#vm-actions button[data-action=delete]").click()
        p.wait(lambda: p.el("#dialog").is_displayed())
        if purge:
            p.el("#dialog-fields input[name=purge]").click()
        p.el("#dialog-ok").click()
        p.wait(lambda: p.d.current_url.endswith("#/vms"), what=f"{vm_name} deleted")
        assert daemon.request("GET", f"/1.0/vms/{vm_name}").status == 404
    assert daemon.request("GET", "/1.0/storage-pools/default/volumes/vol1").status == 404  # purged
    assert not p.errors(), p.errors()

    # the network, now unused, is deleted from its page
    p.go("#/networks")
    p.wait(lambda: p.els("tr[data-network=lan] button") and
           p.el("tr[data-network=lan] button").is_enabled(), what="the network free")
    p.el("tr[data-network=lan] button").click()
    p.wait(lambda: p.el("#dialog").is_displayed())
    p.el("#dialog-ok").click()
    p.wait(lambda: not p.els("tr[data-network=lan]"), what="the network gone")
    assert daemon.request("GET", "/1.0/networks/lan").status == 404
    p.shot("networks")
