"""hosteld's storage pools and volumes over its unix socket (docs/api.md,
"Storage pools and volumes"): every route, every error class in the one
error shape, data carried through import, clone and export byte for byte,
escapes out of a pool refused, volumes in use kept, pools kept across a
restart, and the qcow2 images we make accepted by `qemu-img check` when it
is installed.  No guest is booted.
"""

import json
import os
import shutil
import socket
import subprocess

import pytest

from mgmtd import REPO, Hosteld, running

OPENAPI = REPO / "docs" / "openapi.json"
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
MIB = 1 << 20
POOLS = "/1.0/storage-pools"
VOLS = POOLS + "/default/volumes"


@pytest.fixture
def daemon(tmp_path):
    yield from running(tmp_path, check_exit=True)


def assert_error(r, status, contains=None):
    assert r.status == status, r
    assert r.headers.get("Content-Type") == "application/json"
    assert set(r.json) == {"error"} and r.json["error"]["code"] == status, r
    msg = r.json["error"]["message"]
    assert msg and "\n" not in msg
    if contains:
        assert contains in msg, msg


def announce_large_body(d, path, length=(2 << 20)):
    """POST path announcing a body of length bytes, none sent: the status and JSON answered."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(d.sock)
    s.sendall(b"POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"Content-Length: %d\r\n\r\n" % (path.encode(), length))
    data = b""
    while not data.rstrip().endswith(b"}}"):
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), json.loads(body)


def pool_dir(d, name="default"):
    return d.request("GET", f"{POOLS}/{name}").json["path"]


def mkvol(d, name, size=16 * MIB, **members):
    return d.request("POST", VOLS, {"name": name, "size": size, **members})


def pattern_image(path, size=8 * MIB):
    """A raw image of size bytes: zeroes, with recognisable data at 1 MiB and 5 MiB."""
    with open(path, "wb") as f:
        f.truncate(size)
        f.seek(MIB)
        f.write(bytes(range(256)) * 16)
        f.seek(5 * MIB)
        f.write(b"hostel volume" * 100)
    return path


def qemu_img_check(path):
    if shutil.which("qemu-img"):
        r = subprocess.run(["qemu-img", "check", path], capture_output=True, text=True)
        assert r.returncode == 0, r.stdout + r.stderr


# ---- pools ----


def test_default_pool_listed_with_usage(daemon):
    r = daemon.request("GET", POOLS)
    assert r.status == 200
    (p,) = r.json["pools"]
    assert p["name"] == "default" and p["kind"] == "dir" and p["status"] == "available"
    assert p["path"] == os.path.realpath(daemon.state / "pools" / "default")
    assert p["capacity"] >= p["available"] > 0 and p["allocation"] == 0 and p["volumes"] == 0
    assert "storage-pools" in daemon.request("GET", "/1.0").json["api_extensions"]
    assert mkvol(daemon, "v").status == 201
    p = daemon.request("GET", f"{POOLS}/default").json
    assert p["volumes"] == 1 and p["allocation"] > 0


def test_define_get_delete_pool(daemon, tmp_path):
    d = tmp_path / "more"
    d.mkdir()
    r = daemon.request("POST", POOLS, {"name": "more", "kind": "dir", "path": str(d)})
    assert r.status == 201, r
    assert r.headers["Location"] == f"{POOLS}/more"
    assert r.json["path"] == str(d) and r.json["kind"] == "dir"
    doc = json.loads((daemon.state / "storage-pools" / "more.json").read_text())
    assert doc == {"version": 1, "name": "more", "kind": "dir", "path": str(d)}
    assert [p["name"] for p in daemon.request("GET", POOLS).json["pools"]] == ["default", "more"]
    assert daemon.request("GET", f"{POOLS}/more").status == 200
    v = daemon.request("POST", f"{POOLS}/more/volumes", {"name": "x", "size": MIB})
    assert v.status == 201 and v.json["path"] == str(d / "x.qcow2")
    assert_error(daemon.request("DELETE", f"{POOLS}/more"), 409, "holds 1 volumes")
    assert daemon.request("DELETE", f"{POOLS}/more/volumes/x").status == 200
    r = daemon.request("DELETE", f"{POOLS}/more")
    assert r.status == 200 and r.json == {}
    assert d.is_dir() and not (daemon.state / "storage-pools" / "more.json").exists()
    assert_error(daemon.request("GET", f"{POOLS}/more"), 404, "no pool named 'more'")
    assert_error(daemon.request("DELETE", f"{POOLS}/more"), 404)
    assert_error(daemon.request("DELETE", f"{POOLS}/default"), 409, "default pool")


def test_pool_errors(daemon, tmp_path):
    d = str(tmp_path)
    assert_error(daemon.request("POST", POOLS, {"name": "../x", "path": d}), 400, "name")
    assert_error(daemon.request("POST", POOLS, {"name": "p", "path": d, "size": 1}), 400,
                 "size: unknown member")
    assert_error(daemon.request("POST", POOLS, {"name": "p"}), 400, "path: missing")
    assert_error(daemon.request("POST", POOLS, {"name": "p", "path": 7}), 400, "not a string")
    assert_error(daemon.request("POST", POOLS, {"name": "p", "path": "rel/dir"}), 422,
                 "not absolute")
    assert_error(daemon.request("POST", POOLS, {"name": "p", "path": d + "/nope"}), 422,
                 "not a directory")
    assert_error(daemon.request("POST", POOLS, {"name": "p", "kind": "lvm", "path": d}), 422,
                 "kind")
    assert_error(daemon.request("POST", POOLS, {"name": "default", "path": d}), 409, "exists")
    assert_error(daemon.request("POST", POOLS,
                                {"name": "p", "path": pool_dir(daemon)}), 409, "already pool")
    assert_error(daemon.request("POST", POOLS, b"{}", {"Content-Type": "text/plain"}), 415)
    assert_error(daemon.request("POST", POOLS, b"{", {"Content-Type": "application/json"}), 400)
    assert_error(daemon.request("GET", f"{POOLS}/.hidden"), 400, "name")
    assert_error(daemon.request("PUT", POOLS, {}), 405)


def test_pool_survives_restart(tmp_path):
    d = tmp_path / "kept"
    d.mkdir()
    h = Hosteld(tmp_path).start()
    try:
        assert h.request("POST", POOLS, {"name": "kept", "path": str(d)}).status == 201
        assert h.request("POST", f"{POOLS}/kept/volumes", {"name": "v", "size": MIB}).status == 201
    finally:
        assert h.stop() == 0
    h = Hosteld(tmp_path).start()
    try:
        assert [p["name"] for p in h.request("GET", POOLS).json["pools"]] == ["default", "kept"]
        assert h.request("GET", f"{POOLS}/kept/volumes/v").json["size"] == MIB
    finally:
        assert h.stop() == 0


# ---- volumes ----


def test_create_get_list_volumes(daemon):
    r = mkvol(daemon, "v1")
    assert r.status == 201, r
    assert r.headers["Location"] == f"{VOLS}/v1"
    v = r.json
    assert v["name"] == "v1" and v["pool"] == "default" and v["format"] == "qcow2"
    assert v["size"] == 16 * MIB and v["backing"] is None and v["used_by"] == []
    assert v["path"] == os.path.join(pool_dir(daemon), "v1.qcow2") and v["allocation"] > 0
    qemu_img_check(v["path"])
    r = mkvol(daemon, "r1", 4 * MIB, format="raw")
    assert r.status == 201 and r.json["format"] == "raw" and r.json["path"].endswith("r1.raw")
    r = daemon.request("POST", VOLS, {"name": "c1", "backing": "v1"})
    assert r.status == 201 and r.json["backing"] == "v1" and r.json["size"] == 16 * MIB
    assert daemon.request("GET", f"{VOLS}/c1").json == r.json
    names = [x["name"] for x in daemon.request("GET", VOLS).json["volumes"]]
    assert names == ["c1", "r1", "v1"]


def test_create_errors(daemon):
    assert mkvol(daemon, "v1").status == 201
    assert_error(mkvol(daemon, "v1"), 409, "exists")
    assert_error(mkvol(daemon, "v1", format="raw"), 409, "exists")
    assert_error(mkvol(daemon, "../x"), 400, "name")
    assert_error(mkvol(daemon, "a/b"), 400, "name")
    assert_error(mkvol(daemon, "x", color="red"), 400, "color: unknown member")
    assert_error(mkvol(daemon, "x", size="10G"), 400, "size: not an integer")
    assert_error(daemon.request("POST", VOLS, {"name": "x"}), 400, "size: missing")
    assert_error(daemon.request("POST", VOLS, {"size": MIB}), 400, "name: missing")
    assert_error(mkvol(daemon, "x", source="v1"), 400, "size: not with source")
    assert_error(mkvol(daemon, "x", 513), 422, "multiple of 512")
    assert_error(mkvol(daemon, "x", 0), 422, "size")
    assert_error(mkvol(daemon, "x", -512), 422, "size")
    assert_error(mkvol(daemon, "x", format="vmdk"), 422, "format")
    assert_error(mkvol(daemon, "x", format="raw", backing="v1"), 422, "backing")
    assert_error(mkvol(daemon, "x", backing="nope"), 404, "no volume 'nope'")
    assert_error(daemon.request("POST", f"{POOLS}/nope/volumes", {"name": "x", "size": MIB}), 404,
                 "no pool named 'nope'")
    for path in (VOLS, POOLS, f"{VOLS}/v1/export"):
        status, body = announce_large_body(daemon, path)
        assert status == 413 and body["error"]["code"] == 413, path
    assert daemon.audit()[-1]["status"] == 413
    assert_error(daemon.request("GET", f"{VOLS}/nope"), 404, "no volume 'nope'")
    assert_error(daemon.request("GET", f"{VOLS}/..x"), 400)
    assert not [f for f in os.listdir(pool_dir(daemon)) if f != "v1.qcow2"]


def finished(daemon, r):
    """A full clone, import or export: 202 and an operation, waited for; its volume (GET) or,
    for an export, the operation's result, as a Reply."""
    assert r.status == 202 and r.headers["Location"] == f"/1.0/operations/{r.json['id']}", r
    op = daemon.request("GET", f"/1.0/operations/{r.json['id']}/wait?timeout=60", timeout=70)
    assert op.status == 200 and op.json["status"] == "success", op
    result = op.json["result"]
    if "volume" in result:
        return daemon.request("GET", f"{VOLS}/{result['volume']}")
    return op


def test_import_clone_export_carry_the_data(daemon, tmp_path):
    src = pattern_image(tmp_path / "src.img")
    r = finished(daemon, daemon.request("POST", VOLS, {"name": "imp", "import": str(src)}))
    assert r.json["format"] == "qcow2" and r.json["size"] == 8 * MIB
    qemu_img_check(r.json["path"])
    r = finished(daemon, daemon.request("POST", VOLS, {"name": "full", "source": "imp"}))
    assert r.json["backing"] is None and r.json["format"] == "qcow2"
    r = daemon.request("POST", VOLS, {"name": "thin", "source": "imp", "linked": True})
    assert r.status == 201 and r.json["backing"] == "imp"
    qemu_img_check(r.json["path"])
    for name in ("imp", "full", "thin"):
        out = tmp_path / f"{name}.raw"
        r = daemon.request("POST", f"{VOLS}/{name}/export", {"path": str(out), "format": "raw"})
        r = finished(daemon, r)
        assert r.json["result"] == {"path": str(out), "format": "raw"}, r
        assert out.read_bytes() == src.read_bytes(), name
    out = tmp_path / "thin.qcow2"
    r = finished(daemon, daemon.request("POST", f"{VOLS}/thin/export", {"path": str(out)}))
    assert r.json["result"]["format"] == "qcow2"
    qemu_img_check(str(out))
    # a raw import, then a raw full clone: raw files equal to the source
    r = daemon.request("POST", VOLS, {"name": "rawimp", "import": str(src), "format": "raw"})
    assert finished(daemon, r).json["format"] == "raw"
    r = finished(daemon, daemon.request("POST", VOLS, {"name": "rawcopy", "source": "rawimp"}))
    assert r.json["format"] == "raw"
    with open(r.json["path"], "rb") as f:
        assert f.read() == src.read_bytes()


def test_import_clone_export_errors(daemon, tmp_path):
    assert mkvol(daemon, "v1").status == 201
    assert_error(daemon.request("POST", VOLS, {"name": "i", "import": str(tmp_path / "nope")}),
                 422, "No such file")
    assert_error(daemon.request("POST", VOLS, {"name": "i", "import": "rel.img"}), 422,
                 "absolute")
    assert_error(daemon.request("POST", VOLS, {"name": "i", "import": str(tmp_path)}), 422,
                 "not a file")
    assert_error(daemon.request("POST", VOLS, {"name": "i", "import": 3}), 400, "not a string")
    assert_error(daemon.request("POST", VOLS, {"name": "c", "source": "nope"}), 404)
    assert_error(daemon.request("POST", VOLS, {"name": "v1", "source": "v1"}), 409, "exists")
    assert_error(daemon.request("POST", VOLS, {"name": "c", "source": "v1", "linked": "yes"}), 400,
                 "linked")
    exp = f"{VOLS}/v1/export"
    assert_error(daemon.request("POST", exp, {"path": "rel.raw"}), 422, "absolute")
    assert_error(daemon.request("POST", exp, {"path": str(tmp_path / "o"), "format": "vdi"}), 422,
                 "format")
    (tmp_path / "exists").write_text("keep me")
    assert_error(daemon.request("POST", exp, {"path": str(tmp_path / "exists")}), 409, "exists")
    assert (tmp_path / "exists").read_text() == "keep me"
    assert_error(daemon.request("POST", exp, {}), 400, "path: missing")
    assert_error(daemon.request("POST", exp, {"path": "/x", "mode": 1}), 400, "unknown member")
    assert_error(daemon.request("POST", f"{VOLS}/nope/export", {"path": str(tmp_path / "n")}),
                 404)


def test_resize(daemon):
    assert mkvol(daemon, "q").status == 201
    assert mkvol(daemon, "r", 8 * MIB, format="raw").status == 201
    r = daemon.request("PATCH", f"{VOLS}/q", {"size": 32 * MIB})
    assert r.status == 200 and r.json["size"] == 32 * MIB
    qemu_img_check(r.json["path"])
    assert_error(daemon.request("PATCH", f"{VOLS}/q", {"size": 8 * MIB, "shrink": True}), 422,
                 "cannot shrink")
    assert_error(daemon.request("PATCH", f"{VOLS}/r", {"size": 4 * MIB}), 422, "shrink")
    r = daemon.request("PATCH", f"{VOLS}/r", {"size": 4 * MIB, "shrink": True})
    assert r.status == 200 and r.json["size"] == 4 * MIB
    assert os.path.getsize(r.json["path"]) == 4 * MIB
    assert_error(daemon.request("PATCH", f"{VOLS}/r", {"size": 1000}), 422, "512")
    assert_error(daemon.request("PATCH", f"{VOLS}/r", {}), 400, "size: missing")
    assert_error(daemon.request("PATCH", f"{VOLS}/r", {"size": MIB, "format": "raw"}), 400,
                 "unknown member")
    assert_error(daemon.request("PATCH", f"{VOLS}/r", {"size": MIB, "shrink": 1}), 400, "shrink")
    assert_error(daemon.request("PATCH", f"{VOLS}/nope", {"size": MIB}), 404)


def test_delete_refused_while_in_use(daemon):
    assert mkvol(daemon, "base").status == 201
    assert daemon.request("POST", VOLS, {"name": "top", "backing": "base"}).status == 201
    assert_error(daemon.request("DELETE", f"{VOLS}/base"), 409, "backing of volume 'top'")
    top = daemon.request("GET", f"{VOLS}/top").json
    vm = daemon.request("POST", "/1.0/vms",
                        {"name": "vm1", "config": {"disks": [{"path": top["path"]}]}})
    assert vm.status == 201, vm
    assert daemon.request("GET", f"{VOLS}/top").json["used_by"] == ["vm1"]
    assert_error(daemon.request("DELETE", f"{VOLS}/top"), 409, "disk of VM 'vm1'")
    assert os.path.exists(top["path"])
    assert daemon.request("DELETE", "/1.0/vms/vm1").status == 200
    r = daemon.request("DELETE", f"{VOLS}/top")
    assert r.status == 200 and r.json == {} and not os.path.exists(top["path"])
    assert daemon.request("DELETE", f"{VOLS}/base").status == 200
    assert_error(daemon.request("DELETE", f"{VOLS}/base"), 404)


def test_symlink_out_of_the_pool_is_refused(daemon, tmp_path):
    secret = tmp_path / "secret.raw"
    secret.write_bytes(b"s" * 4096)
    os.symlink(secret, os.path.join(pool_dir(daemon), "evil.raw"))
    assert_error(daemon.request("GET", f"{VOLS}/evil"), 422, "out of pool")
    assert_error(daemon.request("DELETE", f"{VOLS}/evil"), 422, "out of pool")
    assert_error(daemon.request("PATCH", f"{VOLS}/evil", {"size": 1 << 30}), 422)
    assert_error(daemon.request("POST", VOLS, {"name": "copy", "source": "evil"}), 422)
    assert_error(daemon.request("POST", f"{VOLS}/evil/export", {"path": str(tmp_path / "o")}),
                 422)
    assert daemon.request("GET", VOLS).json["volumes"] == []
    assert secret.read_bytes() == b"s" * 4096 and not (tmp_path / "o").exists()


def test_backing_outside_the_pool_is_refused(daemon, tmp_path):
    outside = tmp_path / "outside.qcow2"
    assert daemon.request("POST", VOLS, {"name": "tmpl", "size": MIB}).status == 201
    finished(daemon, daemon.request("POST", f"{VOLS}/tmpl/export", {"path": str(outside)}))
    if not shutil.which("qemu-img"):
        pytest.skip("qemu-img makes the image with an outside backing file")
    foreign = os.path.join(pool_dir(daemon), "foreign.qcow2")
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", str(outside), "-F", "qcow2",
                    foreign], check=True)
    v = daemon.request("GET", f"{VOLS}/foreign").json
    assert v["backing"] is None and v["backing_file"] == str(outside)
    assert_error(daemon.request("POST", VOLS, {"name": "l", "source": "foreign", "linked": True}),
                 422, "out of pool")
    assert_error(daemon.request("POST", VOLS, {"name": "l", "backing": "foreign"}), 422)
    assert_error(daemon.request("POST", VOLS, {"name": "f", "source": "foreign"}), 422)


def test_mutations_are_audited(daemon):
    assert mkvol(daemon, "v").status == 201
    assert mkvol(daemon, "v").status == 409
    assert daemon.request("DELETE", f"{VOLS}/v").status == 200
    got = [(a["method"], a["path"], a["status"]) for a in daemon.audit()]
    assert got == [("POST", VOLS, 201), ("POST", VOLS, 409), ("DELETE", f"{VOLS}/v", 200)]


def test_every_documented_storage_operation_answers(daemon, tmp_path):
    """The storage routes of docs/openapi.json, with real names, are answered (not 404/405)."""
    doc = json.loads(OPENAPI.read_text())
    ops = sorted((p, m.upper()) for p, o in doc["paths"].items() for m in o
                 if m.upper() in METHODS and p.startswith(POOLS))
    assert len(ops) == 10
    (tmp_path / "p").mkdir()
    bodies = {
        (POOLS, "POST"): {"name": "p", "path": str(tmp_path / "p")},
        (POOLS + "/{pool}/volumes", "POST"): {"name": "v", "size": MIB},
        (POOLS + "/{pool}/volumes/{volume}", "PATCH"): {"size": 2 * MIB},
        (POOLS + "/{pool}/volumes/{volume}/export", "POST"): {"path": str(tmp_path / "e")},
    }
    order = sorted(ops, key=lambda o: (o[1] == "DELETE", -len(o[0]) if o[1] == "DELETE" else 0))
    for path, method in order:
        concrete = path.replace("{pool}", "p").replace("{volume}", "v")
        r = daemon.request(method, concrete, bodies.get((path, method)))
        assert 200 <= r.status < 300, f"{method} {concrete}: {r}"
        if r.status == 202:  # an operation: done before the next call uses the volume
            finished(daemon, r)


def test_vm_disks_given_as_volumes(daemon):
    assert mkvol(daemon, "root").status == 201
    assert mkvol(daemon, "data", format="raw").status == 201
    r = daemon.request("POST", "/1.0/vms", {"name": "vm1", "config": {"disks": [
        {"volume": "default/root"}, {"volume": "data", "read-only": True}]}})
    assert r.status == 201, r
    root = daemon.request("GET", f"{VOLS}/root").json
    data = daemon.request("GET", f"{VOLS}/data").json
    disks = r.json["config"]["disks"]
    assert [(d["path"], d["format"], d["read-only"]) for d in disks] == [
        (root["path"], "qcow2", False), (data["path"], "raw", True)]
    assert root["used_by"] == ["vm1"] and data["used_by"] == ["vm1"]
    assert_error(daemon.request("DELETE", f"{VOLS}/root"), 409, "vm1")
    # PATCH and PUT take them too; the errors name the disk
    r = daemon.request("PATCH", "/1.0/vms/vm1", {"config": {"disks": [{"volume": "data"}]}})
    assert r.status == 200 and r.json["config"]["disks"][0]["path"] == data["path"], r
    assert daemon.request("GET", f"{VOLS}/root").json["used_by"] == []
    assert_error(daemon.request("PUT", "/1.0/vms/vm1", {"config": {"disks": [{"volume": "nope"}]}}),
                 422, "config.disks[0].volume: no volume 'nope'")
    assert_error(daemon.request("POST", "/1.0/vms", {"name": "vm2", "config": {"disks": [
        {"path": "/x.img"}, {"volume": "nopool/root"}]}}), 422,
        "config.disks[1].volume: no pool named 'nopool'")
    assert_error(daemon.request("POST", "/1.0/vms", {"name": "vm2", "config": {"disks": [
        {"volume": "root", "path": "/x"}]}}), 422, "config.disks[0].path: not with volume")
    assert_error(daemon.request("POST", "/1.0/vms", {"name": "vm2", "config": {"disks": [
        {"volume": 7}]}}), 422, "not a string")
    assert daemon.request("GET", "/1.0/vms/vm2").status == 404
