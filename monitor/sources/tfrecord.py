"""TFRecord framing, as TensorBoard event files use it: an 8-byte little-endian length, the masked
CRC-32C of that length, the payload, the payload's masked CRC-32C
(tensorflow/core/lib/io/record_writer.cc, tensorflow/core/lib/hash/crc32c.h). Kept apart from the
event decoding so that telling an event file from a binary file costs no imports.
"""

from __future__ import annotations

import struct

HEADER_BYTES = 12
MAX_RECORD_BYTES = 64 << 20  # a scalar event is a few dozen bytes; a bigger length is corruption

_CASTAGNOLI = 0x82F63B78
_MASK_DELTA = 0xA282EAD8


def _table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ _CASTAGNOLI if crc & 1 else crc >> 1
        table.append(crc)
    return table


_CRC_TABLE = _table()


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli), as TFRecord uses it."""
    crc = 0xFFFFFFFF
    table = _CRC_TABLE
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def masked_crc(data: bytes) -> int:
    """TFRecord's masked CRC: rotated right by 15 bits plus a constant."""
    crc = crc32c(data)
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + _MASK_DELTA) & 0xFFFFFFFF


def is_event_file(head: bytes) -> bool:
    """Whether `head` (the first bytes of a file) starts a TFRecord stream: a length whose CRC checks."""
    if len(head) < HEADER_BYTES:
        return False
    length, check = struct.unpack("<QI", head[:HEADER_BYTES])
    return length <= MAX_RECORD_BYTES and masked_crc(head[:8]) == check
