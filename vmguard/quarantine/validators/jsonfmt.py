"""JSON, strictly (RFC 8259): one value, UTF-8, no NaN or Infinity, nothing after it.

The document is parsed whole by the standard library's decoder, so its size is bounded
(MAX_SIZE; a larger one is refused, not guessed at) and so is its depth (the decoder's
recursion limit); the worker's address-space limit bounds the rest.
"""

from __future__ import annotations

import json

from .stream import Invalid, Stream

FMT = "json"
MAX_SIZE = 16 << 20


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def validate(stream: Stream) -> str:
    data = collect(stream)
    if data is None:
        raise Invalid(f"json: larger than {MAX_SIZE >> 20} MiB, which is as much as is parsed")
    parse(data)
    return FMT


def collect(stream: Stream) -> bytes | None:
    """The whole rest of the stream if it is at most MAX_SIZE (else None, bytes kept)."""
    parts, size = [], 0
    for chunk in stream.chunks():
        size += len(chunk)
        parts.append(bytes(chunk))
        if size > MAX_SIZE:
            stream.unread(b"".join(parts))
            return None
    return b"".join(parts)


def parse(data: bytes) -> None:
    """Raises Invalid unless data is one strict JSON value."""
    try:
        json.loads(data.decode("utf-8"), parse_constant=_no_constant)
    except UnicodeDecodeError as err:
        raise Invalid(f"json: byte {err.start} is not valid UTF-8") from None
    except RecursionError:
        raise Invalid("json: nested too deeply") from None
    except MemoryError:
        raise Invalid("json: needs more memory to parse than a validator has") from None
    except ValueError as err:  # JSONDecodeError names the line and column
        raise Invalid(f"json: not one strict JSON value: {err}") from None
