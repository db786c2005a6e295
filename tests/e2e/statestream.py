"""Reading and rewriting state streams in tests (the layout of docs/state.md): a stream's
sections, and a stream made again from some of them with its end section's CRC right."""

import struct
import zlib


def sections(data):
    """(header, [(tag, instance, version, flags, payload)]) of a stream, the end left out."""
    hdr_len = struct.unpack_from("<I", data, 12)[0]
    off, out = hdr_len, []
    while off < len(data):
        n = data[off]
        tag = data[off + 1:off + 1 + n].decode()
        inst, ver, flags, length = struct.unpack_from("<IHHQ", data, off + 1 + n)
        pay = off + 1 + n + 16
        if tag == "end":
            break
        out.append((tag, inst, ver, flags, data[pay:pay + length]))
        off = pay + length
    return data[:hdr_len], out


def stream(header, secs):
    """The stream of header and secs [(tag, instance, version, flags, payload)], then the end
    section: the CRC-32 of every byte before its payload."""
    body = header
    for tag, inst, ver, flags, payload in secs:
        t = tag.encode()
        body += bytes([len(t)]) + t + struct.pack("<IHHQ", inst, ver, flags, len(payload))
        body += payload
    body += b"\x03end" + struct.pack("<IHHQ", 0, 1, 0, 4)
    return body + struct.pack("<I", zlib.crc32(body))
