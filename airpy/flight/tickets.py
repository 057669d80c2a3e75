"""How Flight names airpy's frames: descriptors, tickets and the parts of a frame.

    descriptor path ["jobs", "<token>", "<frame>"]   a frame (GetFlightInfo, GetSchema)
    descriptor path ["uploads"], or a CMD            DoPut: an upload (the CMD is a serialized
      holding an airpy.v1.UploadFrameRequest         UploadFrameRequest without arrow_ipc, for
                                                     datasource_id and later request fields)
    ticket = a serialized airpy.v1.FrameTicket       DoGet: the whole frame, or one part of it

Callers never build tickets: `FrameInfo.flight_ticket` (GetJob) and GetFlightInfo's endpoints
hand them out. Every field of a ticket is checked when it comes back.
"""

from __future__ import annotations

from dataclasses import dataclass

from google.protobuf.message import DecodeError

from airpy.codec.common import check_wire, parse_token
from airpy.errors import ValidationError
from airpy.results.frames import DEFAULT_FRAME, FRAME_NAME, FrameMeta, Part
from airpy.v1 import analyze_service_pb2, job_pb2

JOBS = "jobs"
UPLOADS = "uploads"


@dataclass(frozen=True)
class FrameName:
    token: int
    frame: str


def frame_of_path(path: list[bytes]) -> FrameName:
    """The frame a descriptor path names; ValidationError naming the part at fault."""
    parts = [p.decode("utf-8", "replace") for p in path]
    if len(parts) not in (2, 3) or parts[0] != JOBS:
        raise ValidationError.for_field("descriptor.path", 'must be ["jobs", "<token>", "<frame>"]')
    return FrameName(
        _token(parts[1], "descriptor.path[1]"), _frame(parts[2] if len(parts) == 3 else "", "descriptor.path[2]")
    )


@dataclass(frozen=True)
class Ticket:
    token: int
    frame: str
    #: None: the whole frame.
    part: int | None


def read_ticket(raw: bytes) -> Ticket:
    """A ticket handed back; ValidationError when it is not one airpy hands out."""
    try:
        message = job_pb2.FrameTicket.FromString(raw)
    except DecodeError:
        raise ValidationError.for_field("ticket", "is not an airpy ticket (take one from GetFlightInfo)") from None
    check_wire(message, "ticket")
    token = _token(str(message.token), "ticket.token")
    frame = _frame(message.frame, "ticket.frame")
    if message.whole and message.part:
        raise ValidationError.for_field("ticket.part", "is set on a ticket of the whole frame")
    return Ticket(token, frame, None if message.whole else message.part)


def parts_of(meta: FrameMeta) -> tuple[Part, ...]:
    """The parts a frame is read in (a frame written before parts were recorded is one)."""
    return meta.parts or (Part(0, 0, 0),)


def batch_range(meta: FrameMeta, part: int) -> tuple[int, int]:
    """The batches [first, end) of a part. ValidationError for a part the frame does not have."""
    parts = parts_of(meta)
    if part >= len(parts) or (part and not meta.batches):
        raise ValidationError.for_field("ticket.part", f"the frame has {len(parts)} parts")
    end = parts[part + 1].batch if part + 1 < len(parts) else meta.batches
    return parts[part].batch, end


def upload_request(
    is_path: bool, descriptor_path: list[bytes], command: bytes
) -> analyze_service_pb2.UploadFrameRequest:
    """What a DoPut descriptor asks for: ["uploads"], or a CMD with an UploadFrameRequest."""
    if is_path:
        if [p.decode("utf-8", "replace") for p in descriptor_path] != [UPLOADS]:
            raise ValidationError.for_field("descriptor.path", 'an upload is the path ["uploads"] (or a CMD)')
        return analyze_service_pb2.UploadFrameRequest()
    try:
        request = analyze_service_pb2.UploadFrameRequest.FromString(command)
    except DecodeError:
        raise ValidationError.for_field("descriptor.cmd", "is not a serialized airpy.v1.UploadFrameRequest") from None
    check_wire(request, "descriptor.cmd")
    if request.arrow_ipc:
        raise ValidationError.for_field("descriptor.cmd.arrow_ipc", "must be empty: the stream carries the frame")
    return request


def _token(raw: str, field: str) -> int:
    token = parse_token(raw)
    if token is None:
        raise ValidationError.for_field(field, "is not a job token")
    return token


def _frame(raw: str, field: str) -> str:
    frame = raw or DEFAULT_FRAME
    if not FRAME_NAME.match(frame):
        raise ValidationError.for_field(field, "is not a frame name (lowercase letters, digits, _)")
    return frame
