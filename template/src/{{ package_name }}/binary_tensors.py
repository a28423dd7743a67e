"""The Open Inference Protocol's binary tensor extension, which tritonclient uses unless told
otherwise. A body is JSON, its length in bytes in the Inference-Header-Content-Length header,
then the data of each tensor whose parameters give a `binary_data_size`, in the JSON's order:
little-endian and row-major; a BYTES element is its length (4 bytes) then its bytes."""

import struct

import numpy as np

HEADER = "Inference-Header-Content-Length"
NUMPY_TYPES = {
    "BOOL": "?",
    "UINT8": "<u1",
    "UINT16": "<u2",
    "UINT32": "<u4",
    "UINT64": "<u8",
    "INT8": "<i1",
    "INT16": "<i2",
    "INT32": "<i4",
    "INT64": "<i8",
    "FP16": "<f2",
    "FP32": "<f4",
    "FP64": "<f8",
}
LENGTH = struct.Struct("<I")


class BinaryError(ValueError):
    """A body that breaks the extension; its message says what to send."""


def split_body(body: bytes, json_size: str | None) -> tuple[bytes, bytes]:
    """The request's JSON, and the binary data after it (empty without the header)."""
    if json_size is None:
        return body, b""
    # ASCII digits only, and few: "²" is a digit to Python but not to int(), and int() refuses
    # a string of thousands of digits.
    is_count = json_size.isascii() and json_size.isdecimal() and len(json_size) <= 18
    if not is_count or int(json_size) > len(body):
        raise BinaryError(
            f"{HEADER} is {json_size!r} for a body of {len(body)} bytes: give the length in"
            " bytes of the JSON that starts the body"
        )
    return body[: int(json_size)], body[int(json_size) :]


def slices(sizes: list[int | None], data: bytes) -> list[bytes | None]:
    """`data` cut into the tensors' `binary_data_size`s (None: that tensor's data is JSON)."""
    cut: list[bytes | None] = []
    start = 0
    for size in sizes:
        cut.append(None if size is None else data[start : start + size])
        start += size or 0
    if start != len(data):
        raise BinaryError(
            f"the inputs' binary_data_size add up to {start} bytes but {len(data)} follow the"
            f" JSON: give each binary input the size of its data, and the JSON's in {HEADER}"
        )
    return cut


def decode(datatype: str, data: bytes) -> list:
    """A tensor's elements, flat, as Python values (BYTES as text)."""
    if datatype == "BYTES":
        try:
            return [element.decode() for element in _byte_strings(data)]
        except UnicodeDecodeError:
            raise BinaryError("a BYTES element is not UTF-8 text: send text") from None
    dtype = np.dtype(NUMPY_TYPES[datatype])
    if len(data) % dtype.itemsize:
        raise BinaryError(
            f"{len(data)} bytes is not a whole number of {datatype} elements of"
            f" {dtype.itemsize} bytes"
        )
    return np.frombuffer(data, dtype).tolist()


def _byte_strings(data: bytes) -> list[bytes]:
    elements = []
    start = 0
    while start < len(data):
        if start + LENGTH.size > len(data):
            raise BinaryError("a BYTES element's 4-byte length is cut short")
        (size,) = LENGTH.unpack_from(data, start)
        start += LENGTH.size
        if start + size > len(data):
            raise BinaryError(f"a BYTES element of {size} bytes is cut short")
        elements.append(data[start : start + size])
        start += size
    return elements


def encode(datatype: str, values: list) -> bytes:
    """A tensor's elements as the extension sends them."""
    if datatype == "BYTES":
        texts = [str(value).encode() for value in values]
        return b"".join(LENGTH.pack(len(text)) + text for text in texts)
    return np.asarray(values, dtype=NUMPY_TYPES[datatype]).tobytes()
