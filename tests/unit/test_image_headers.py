"""tritonkit.images.header_problems: every bad file of a list named at once, from headers alone
(no pixel decoded), and read_rgb refusing the same files with the same words."""

from __future__ import annotations

import os
import re
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tritonkit.errors import InputError
from tritonkit.images import MAX_PIXELS, header_problems, read_rgb


def png_header(width: int, height: int) -> bytes:
    """A PNG whose header declares width x height RGB pixels and whose data is empty: only a reader
    that stops at the header gets its size; one that decodes fails."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8 bits, RGB, no interlace
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", b"") + chunk(b"IEND", b"")


@pytest.fixture
def good(tmp_path: Path) -> list[Path]:
    files = [tmp_path / "a.png", tmp_path / "b.jpg"]
    Image.new("RGB", (40, 30), (200, 10, 10)).save(files[0])
    Image.new("RGB", (16, 64), (10, 200, 10)).save(files[1])
    return files


def test_readable_photographs_have_no_problems(good: list[Path]) -> None:
    assert header_problems(good) == []
    assert header_problems([]) == []
    assert read_rgb(good[0]).shape == (30, 40, 3) and read_rgb(good[1]).dtype == np.uint8


def test_a_real_60_megapixel_photograph_is_refused_from_its_header(tmp_path: Path) -> None:
    big = tmp_path / "big.png"
    Image.new("L", (8000, 7500)).save(big)  # 60 million pixels, a few KiB on disk
    assert header_problems([big]) == [f"{big}: 8000 x 7500 pixels; at most {MAX_PIXELS}"]
    with pytest.raises(InputError) as refused:
        read_rgb(big)
    assert str(refused.value) == f"{big}: 8000 x 7500 pixels; at most {MAX_PIXELS}"  # the same words


def test_sizes_come_from_the_header_alone(tmp_path: Path) -> None:
    """A header without pixel data: its size is known (no decode was tried), and a small one reads
    as fine before any decode."""
    declared = tmp_path / "declared.png"
    declared.write_bytes(png_header(10_000, 6_000))
    small = tmp_path / "small.png"
    small.write_bytes(png_header(20, 10))
    assert header_problems([declared, small]) == [f"{declared}: 10000 x 6000 pixels; at most {MAX_PIXELS}"]
    with pytest.raises(InputError, match=re.escape(f"{small}: not an image Pillow can read")):
        read_rgb(small)  # decoding it fails, and says so as an InputError


def test_beyond_pillows_own_limits_no_warning_and_one_line(tmp_path: Path) -> None:
    """Pillow warns above its MAX_IMAGE_PIXELS and raises above twice that: neither reaches the
    user as anything but the file's one line."""
    warned = tmp_path / "warned.png"
    warned.write_bytes(png_header(10_000, 10_000))  # 1e8: above Pillow's warning limit
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(png_header(30_000, 30_000))  # 9e8: above its error limit
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        found = header_problems([warned, bomb])
    assert not [w for w in caught if issubclass(w.category, Image.DecompressionBombWarning)]
    assert found[0] == f"{warned}: 10000 x 10000 pixels; at most {MAX_PIXELS}"
    assert found[1].startswith(f"{bomb}: over ") and found[1].endswith(f"(a decompression bomb); at most {MAX_PIXELS}")


def test_every_bad_file_is_named_at_once_in_order(tmp_path: Path, good: list[Path]) -> None:
    text = tmp_path / "text.jpg"
    text.write_text("just words")
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(b"\xff\xd8\xff\xe0 truncated")
    big = tmp_path / "big.png"
    big.write_bytes(png_header(7100, 7100))
    folder = tmp_path / "folder.png"
    folder.mkdir()
    fifo = tmp_path / "fifo.png"
    os.mkfifo(fifo)  # would block a reader that opened it
    absent = tmp_path / "absent.png"
    files = [good[0], text, truncated, big, folder, fifo, absent, good[1]]
    assert header_problems(files) == [
        f"{text}: not an image Pillow can read (UnidentifiedImageError)",
        f"{truncated}: not an image Pillow can read (OSError)",  # its header ends early
        f"{big}: 7100 x 7100 pixels; at most {MAX_PIXELS}",
        f"{folder}: not a regular file (expected an image)",
        f"{fifo}: not a regular file (expected an image)",
        f"{absent}: not found (expected an image)",
    ]
    for path in files[1:-1]:
        with pytest.raises(InputError, match=f"^{re.escape(str(path))}: "):
            read_rgb(path)
