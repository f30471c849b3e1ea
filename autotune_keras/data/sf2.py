"""SoundFont 2 sample data: read a bank's raw PCM and find samples two banks share.

Held-out accuracy means something only if no recording of the held-out bank was heard in
training: :func:`shared_samples` looks for each sample of a training bank in the held-out bank's
sample data, whole and as three 256-sample excerpts (25 / 50 / 75 % of its length), which also
finds a sample copied with other loop or start points. A copy whose level or rate was changed is
not found.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

EXCERPT = 256  # samples
SHDR_BYTES = 46  # one sample header


def _chunks(data: bytes, start: int, end: int):
    while start + 8 <= end:
        kind, size = data[start : start + 4], struct.unpack("<I", data[start + 4 : start + 8])[0]
        yield kind, start + 8, size
        start += 8 + size + (size & 1)


def read_samples(path: str | Path) -> tuple[bytes, list[tuple[str, int, int]]]:
    """The raw 16-bit sample data of a .sf2 and its samples as (name, first, last) sample indices."""
    data = Path(path).read_bytes()
    if data[:4] != b"RIFF" or data[8:12] != b"sfbk":
        raise ValueError(f"{path}: not a SoundFont 2 file")
    smpl, shdr = b"", b""
    for kind, offset, size in _chunks(data, 12, len(data)):
        if kind == b"LIST":
            for inner, inner_offset, inner_size in _chunks(data, offset + 4, offset + size):
                if inner == b"smpl":
                    smpl = data[inner_offset : inner_offset + inner_size]
                elif inner == b"shdr":
                    shdr = data[inner_offset : inner_offset + inner_size]
    headers = []
    for i in range(len(shdr) // SHDR_BYTES - 1):  # the last header is the terminal record
        record = shdr[i * SHDR_BYTES : (i + 1) * SHDR_BYTES]
        name = record[:20].split(b"\0")[0].decode("latin-1")
        first, last = struct.unpack("<II", record[20:28])
        headers.append((name, first, last))
    return smpl, headers


def shared_samples(bank: str | Path, held_out: bytes) -> list[str]:
    """Names of ``bank``'s samples whose PCM (whole or an excerpt) occurs in ``held_out``'s data."""
    smpl, headers = read_samples(bank)
    found = []
    for name, first, last in headers:
        pcm = smpl[2 * first : 2 * last]
        if len(pcm) < 2 * EXCERPT or not np.any(np.frombuffer(pcm, "<i2")):
            continue
        starts = [int(f * (last - first - EXCERPT)) for f in (0.25, 0.5, 0.75)]
        excerpts = [pcm[2 * s : 2 * (s + EXCERPT)] for s in starts]
        if pcm in held_out or any(excerpt in held_out for excerpt in excerpts if any(excerpt)):
            found.append(name)
    return found
