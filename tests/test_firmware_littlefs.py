"""The node's flash log on littlefs, checked with an independent littlefs build (littlefs-python).

firmware/test/host/log_image runs the firmware's FlashLog + LfsSegmentFs (the device's storage
code) on a RAM flash with the partition's geometry and dumps the raw image; littlefs-python
mounts that image with the same geometry and the records are decoded here from the documented
48-byte layout (docs/firmware.md "Flash log") with zlib's CRC-32. The other way round,
littlefs-python writes segments, including a torn record, and the firmware scans them.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import littlefs  # littlefs-python (test extra): its own build of the littlefs C library
import pytest
from conftest import require_or_skip

REPO = Path(__file__).resolve().parent.parent
HOST_DIR = REPO / "firmware" / "test" / "host"
TOOL = HOST_DIR / "build" / "log_image"

# partitions.csv: littlefs 0xE0000 bytes; esp_littlefs defaults (carbontrack::LfsGeometry).
GEOMETRY = dict(
    block_size=4096,
    block_count=0xE0000 // 4096,
    read_size=128,
    prog_size=128,
    cache_size=512,
    lookahead_size=128,
    block_cycles=512,
)
RECORD = struct.Struct("<BBHIQqiiiiiI")  # magic, kind, flags, boot, seq, t, co2, temp, vel, p, dp, crc
ABSENT = -(2**31)
assert RECORD.size == 48


@pytest.fixture(scope="module")
def tool() -> Path:
    """Build log_image with the firmware's host Makefile."""
    require_or_skip(bool(shutil.which("make") and shutil.which(os.environ.get("CXX", "g++"))), "make and g++")
    proc = subprocess.run(["make", "-s", "-C", str(HOST_DIR), "log-image"], capture_output=True, text=True)
    assert proc.returncode == 0, f"building log_image failed:\n{proc.stdout}\n{proc.stderr}"
    return TOOL


def expected(seq: int) -> dict:
    """The values log_image writes for `seq`, recomputed here (log_image.cpp `reading`)."""
    return {
        "ts": 1764331200.0 + 60.0 * seq + 0.125,
        "co2_ppm": round(80000.0 + seq / 10.0, 1),
        "flue_temp_c": round(150.0 + (seq % 100) / 100.0, 2),
        "velocity_m_s": round(5.0 + (seq % 1000) / 1000.0, 3),
        "pressure_pa": 79650.5 if seq % 2 else None,
        "dp_pa": 31.25 if seq % 3 else None,
        "flags": seq % 256,
    }


def decode(raw: bytes) -> dict | None:
    """One 48-byte record, or None when its magic or CRC-32 is wrong."""
    magic, kind, flags, _boot, seq, t, co2, temp, vel, p, dp, crc = RECORD.unpack(raw)
    if magic != 0xC7 or kind not in (1, 2) or crc != zlib.crc32(raw[:44]):
        return None
    return {
        "seq": seq,
        "ts": t / 1000.0,
        "co2_ppm": co2 / 10.0,
        "flue_temp_c": temp / 100.0,
        "velocity_m_s": vel / 1000.0,
        "pressure_pa": None if p == ABSENT else p / 10.0,
        "dp_pa": None if dp == ABSENT else dp / 100.0,
        "flags": flags,
    }


def encode(seq: int) -> bytes:
    """A dated record for `seq` with the values of expected(), written independently of the C++."""
    e = expected(seq)
    body = struct.pack(
        "<BBHIQqiiiii",
        0xC7,
        1,
        e["flags"],
        0,
        seq,
        round(e["ts"] * 1000),
        round(e["co2_ppm"] * 10),
        round(e["flue_temp_c"] * 100),
        round(e["velocity_m_s"] * 1000),
        ABSENT if e["pressure_pa"] is None else round(e["pressure_pa"] * 10),
        ABSENT if e["dp_pa"] is None else round(e["dp_pa"] * 100),
    )
    return body + struct.pack("<I", zlib.crc32(body))


def mount(image: bytes | None = None):
    fs = littlefs.LittleFS(mount=False, **GEOMETRY)
    if image is None:
        fs.format()
    else:
        fs.context.buffer = bytearray(image)
    fs.mount()
    return fs


def test_littlefs_python_reads_what_the_node_wrote(tool, tmp_path):
    """1,000 readings, ack up to 300: segments hold 301..1000 plus the acked rest of one segment."""
    image = tmp_path / "node.img"
    subprocess.run([str(tool), "write", str(image), "1000", "10000", "300"], check=True, timeout=120)
    assert image.stat().st_size == 224 * 4096
    fs = mount(image.read_bytes())
    names = sorted(fs.listdir("/log"))
    assert names and all(len(n) == 8 for n in names)
    records = []
    for name in names:
        with fs.open(f"/log/{name}", "rb") as f:
            data = f.read()
        assert len(data) % 48 == 0 and len(data) <= 80 * 48  # whole records, one block per segment
        records += [decode(data[i : i + 48]) for i in range(0, len(data), 48)]
    assert all(r is not None for r in records)
    seqs = [r["seq"] for r in records]
    # Segments are deleted only when fully acknowledged: 241..300 remain (segment of 241..320).
    assert seqs == list(range(241, 1001))
    for r in records:
        e = expected(r["seq"])
        for key, value in e.items():
            if value is None:
                assert r[key] is None, (r["seq"], key)
            else:
                assert math.isclose(r[key], value, rel_tol=0, abs_tol=1e-9), (r["seq"], key, r[key], value)


def test_node_reads_segments_written_by_littlefs_python_and_drops_a_torn_record(tool, tmp_path):
    fs = mount()
    fs.mkdir("/log")
    with fs.open("/log/00000003", "wb") as f:
        f.write(b"".join(encode(s) for s in range(1, 81)))
    with fs.open("/log/0000000a", "wb") as f:  # ids sort numerically (hex), not by name length
        f.write(b"".join(encode(s) for s in range(81, 101)))
        f.write(encode(101)[:30])  # power cut in the middle of record 101
    bad = bytearray(encode(50))
    bad[20] ^= 0x04  # a bit flip in a stored record
    with fs.open("/log/00000003", "r+b") as f:
        f.seek(49 * 48)
        f.write(bytes(bad))
    fs.unmount()
    image = tmp_path / "py.img"
    image.write_bytes(bytes(fs.context.buffer))
    out = subprocess.run([str(tool), "read", str(image)], check=True, capture_output=True, timeout=60)
    got = json.loads(out.stdout)
    assert got["seqs"] == [s for s in range(1, 101) if s != 50]
    assert got["corrupt"] == 1
    assert got["co2_ppm"][:3] == [80000.1, 80000.2, 80000.3]
