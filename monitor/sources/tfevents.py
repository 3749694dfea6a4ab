"""TensorBoard event files (`events.out.tfevents.*`): their scalars as step records.

Many runs keep their curves only here (HF Trainer's and Lightning's defaults, NeMo, torchtitan,
torch's `SummaryWriter`). The file is a TFRecord stream: each record is an 8-byte little-endian
length, the masked CRC-32C of that length, the payload, and the payload's masked CRC-32C
(tensorflow/core/lib/io/record_writer.cc). Each payload is an `Event` protocol buffer
(tensorboard/compat/proto/event.proto): `wall_time` (1, double), `step` (2, int64), `summary`
(5) whose `value`s (1) carry a `tag` (1) and either the legacy `simple_value` (2, float) or a
scalar `tensor` (8: `dtype` 1, `tensor_content` 4, `float_val` 5, `double_val` 6, `int_val` 7,
`int64_val` 10, `half_val` 13). The few fields read here are decoded by hand: no TensorFlow and
no protobuf runtime.

The scalars become step records in `monitor.parsers.tensorboard`. A record whose CRC does not
match ends the reading with a warning, keeping everything before it; a file cut in the middle of
a record is read up to that record (the rest may still be written).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import BinaryIO, NamedTuple

from monitor.sources.tfrecord import HEADER_BYTES, MAX_RECORD_BYTES, is_event_file, masked_crc


class Scalar(NamedTuple):
    """One scalar of an event."""

    step: int
    wall_time: float
    tag: str
    value: float


class Reading(NamedTuple):
    """What reading a stream gave: the scalars, where it stopped and why (None: at its end)."""

    scalars: list[Scalar]
    offset: int
    problem: str | None


def read_scalars(stream: BinaryIO, offset: int = 0) -> Reading:
    """The scalars of the records in `stream` from `offset`; a record cut short stops the reading
    before it (more may come: the offset is where to resume), a bad CRC stops it for good."""
    scalars: list[Scalar] = []
    while True:
        header = stream.read(HEADER_BYTES)
        if len(header) < HEADER_BYTES:
            return Reading(scalars, offset, None)  # the end, or a header still being written
        length, check = struct.unpack("<QI", header)
        if length > MAX_RECORD_BYTES or masked_crc(header[:8]) != check:
            return Reading(scalars, offset, f"corrupt record header at byte {offset}")
        body = stream.read(length + 4)
        if len(body) < length + 4:
            return Reading(scalars, offset, None)  # cut in the middle of a record: kept for later
        payload, (crc,) = body[:length], struct.unpack("<I", body[length:])
        if masked_crc(payload) != crc:
            return Reading(scalars, offset, f"corrupt record at byte {offset} (its checksum does not match)")
        try:
            scalars.extend(_event_scalars(payload))
        except (ValueError, IndexError, struct.error):
            return Reading(scalars, offset, f"undecodable record at byte {offset}")
        offset += HEADER_BYTES + length + 4


def _fields(data: bytes) -> Iterator[tuple[int, int, object]]:
    """(field number, wire type, value) of a protocol-buffer message: varints as ints, 64- and
    32-bit fields as raw bytes, length-delimited fields as bytes."""
    pos, end = 0, len(data)
    while pos < end:
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(data, pos)
            yield number, wire, value
        elif wire == 1:
            yield number, wire, data[pos:pos + 8]
            pos += 8
        elif wire == 2:
            size, pos = _varint(data, pos)
            if pos + size > end:
                raise ValueError("field past the end of its message")
            yield number, wire, data[pos:pos + size]
            pos += size
        elif wire == 5:
            yield number, wire, data[pos:pos + 4]
            pos += 4
        else:
            raise ValueError(f"unsupported wire type {wire}")
    if pos != end:
        raise ValueError("message ends inside a field")


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")


def _event_scalars(payload: bytes) -> Iterator[Scalar]:
    wall_time, step, summary = 0.0, 0, None
    for number, wire, value in _fields(payload):
        if number == 1 and wire == 1:
            (wall_time,) = struct.unpack("<d", value)  # type: ignore[arg-type]
        elif number == 2 and wire == 0:
            step = value if value < 1 << 63 else value - (1 << 64)  # type: ignore[operator]
        elif number == 5 and wire == 2:
            summary = value
    if summary is None:
        return
    for number, wire, value in _fields(summary):  # type: ignore[arg-type]
        if number == 1 and wire == 2:
            found = _summary_value(value)  # type: ignore[arg-type]
            if found is not None:
                yield Scalar(int(step), wall_time, found[0], found[1])


def _summary_value(data: bytes) -> tuple[str, float] | None:
    tag, number_value = "", None
    for number, wire, value in _fields(data):
        if number == 1 and wire == 2:
            tag = value.decode("utf-8", "replace")  # type: ignore[union-attr]
        elif number == 2 and wire == 5:
            (number_value,) = struct.unpack("<f", value)  # type: ignore[arg-type]
        elif number == 8 and wire == 2:
            number_value = _tensor_scalar(value)  # type: ignore[arg-type]
    return (tag, float(number_value)) if tag and number_value is not None else None


_DT_FLOAT, _DT_DOUBLE, _DT_INT32, _DT_INT64, _DT_HALF = 1, 2, 3, 9, 19
_CONTENT = {_DT_FLOAT: "<f", _DT_DOUBLE: "<d", _DT_INT32: "<i", _DT_INT64: "<q", _DT_HALF: "<e"}


def _tensor_scalar(data: bytes) -> float | None:
    """The value of a scalar tensor (a one-element tensor's first value), else None."""
    dtype, content = 0, None
    for number, wire, value in _fields(data):
        if number == 1 and wire == 0:
            dtype = value  # type: ignore[assignment]
        elif number == 4 and wire == 2:
            content = value
        elif number == 5:  # float_val, packed or not
            return struct.unpack_from("<f", value)[0]  # type: ignore[arg-type]
        elif number == 6:
            return struct.unpack_from("<d", value)[0]  # type: ignore[arg-type]
        elif number in (7, 10) and wire == 0:
            return float(value)  # type: ignore[arg-type]
        elif number in (7, 10, 13) and wire == 2 and value:
            number_value, _ = _varint(value, 0)  # type: ignore[arg-type]
            if number == 13:
                return struct.unpack("<e", struct.pack("<H", number_value & 0xFFFF))[0]
            return float(number_value)
    fmt = _CONTENT.get(dtype)
    if content and fmt and len(content) >= struct.calcsize(fmt):  # type: ignore[arg-type]
        return struct.unpack_from(fmt, content)[0]  # type: ignore[arg-type]
    return None


def is_event_source(path: str | None) -> bool:
    """Whether the file at `path` is a TensorBoard event file (told by its content, not its name)."""
    if path is None:
        return False
    try:
        with open(path, "rb") as handle:
            return is_event_file(handle.read(HEADER_BYTES))
    except OSError:
        return False
