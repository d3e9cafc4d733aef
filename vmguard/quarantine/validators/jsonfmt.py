"""JSON, strictly (RFC 8259): one value, UTF-8, no NaN or Infinity, nothing after it.

The document is parsed whole by the standard library's decoder, so its size is bounded
(MAX_SIZE; a larger one is refused, not guessed at) and so is its depth (the decoder's
recursion limit); the worker's address-space limit bounds the rest.
"""

from __future__ import annotations

import json

from .stream import Invalid, Stream

FMT = "json"
MAX_SIZE = 32 << 20


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def validate(stream: Stream) -> str:
    parts, size = [], 0
    for chunk in stream.chunks():
        size += len(chunk)
        if size > MAX_SIZE:
            raise Invalid(f"json: larger than {MAX_SIZE >> 20} MiB, which is as much as is parsed")
        parts.append(bytes(chunk))
    data = b"".join(parts)
    del parts
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
    return FMT
