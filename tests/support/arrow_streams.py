"""Arrow IPC streams no Arrow writer makes: what a hostile or broken client can send."""

from __future__ import annotations

import pyarrow as pa

STRINGS = pa.record_batch([pa.array(["0123456789"])], names=["a"])


def stream_of(*messages: bytes, schema: pa.Schema = STRINGS.schema, eos: bool = True) -> bytes:
    """A stream file: the schema, `messages` as given (each a framed IPC message), the end marker."""
    tail = b"\xff\xff\xff\xff\x00\x00\x00\x00" if eos else b""
    return schema.serialize().to_pybytes() + b"".join(messages) + tail


def message_parts(batch: pa.RecordBatch) -> tuple[bytes, bytes]:
    """A batch's IPC message as Flight carries it: the flatbuffer header and the body."""
    message = pa.ipc.read_message(batch.serialize())
    return message.metadata.to_pybytes(), message.body.to_pybytes()


def forged_offsets(start: int = 0, end: int = 100_000) -> tuple[bytes, bytes]:
    """STRINGS's one batch with its offsets set to [start, end] over a 10-byte data buffer: a
    reader that trusts it reads far past the body."""
    header, body = message_parts(STRINGS)
    return header, start.to_bytes(4, "little") + end.to_bytes(4, "little") + body[8:]


def framed(header: bytes, body: bytes) -> bytes:
    """A header and body as one message of a stream file (continuation, length, padding)."""
    padded = header + b"\x00" * (-len(header) % 8)
    return b"\xff\xff\xff\xff" + len(padded).to_bytes(4, "little") + padded + body
