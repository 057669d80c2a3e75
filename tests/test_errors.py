"""Every AirpyError maps to one gRPC code and reason, and travels as rich status details."""

from __future__ import annotations

import grpc
import pytest
from google.rpc import error_details_pb2

from airpy import errors
from airpy.errors import AirpyError, FieldViolation, ValidationError
from airpy.jobs.model import error_from_json, error_to_json
from airpy.rpc import status_details, to_airpy_error

EXPECTED = {
    errors.AirpyError: (grpc.StatusCode.INTERNAL, "INTERNAL"),
    errors.ValidationError: (grpc.StatusCode.INVALID_ARGUMENT, "VALIDATION_ERROR"),
    errors.NotFoundError: (grpc.StatusCode.NOT_FOUND, "NOT_FOUND"),
    errors.IOFailure: (grpc.StatusCode.FAILED_PRECONDITION, "IO_ERROR"),
    errors.TransientIOFailure: (grpc.StatusCode.UNAVAILABLE, "IO_ERROR"),
    errors.TimeoutFailure: (grpc.StatusCode.DEADLINE_EXCEEDED, "TIMEOUT"),
    errors.ResourceCapError: (grpc.StatusCode.RESOURCE_EXHAUSTED, "RESOURCE_CAP"),
    errors.AuthError: (grpc.StatusCode.UNAUTHENTICATED, "AUTH_ERROR"),
    errors.ScopeDenied: (grpc.StatusCode.PERMISSION_DENIED, "SCOPE_DENIED"),
    errors.JobStateError: (grpc.StatusCode.FAILED_PRECONDITION, "JOB_NOT_READY"),
    errors.SeqOutOfRange: (grpc.StatusCode.OUT_OF_RANGE, "SEQ_OUT_OF_RANGE"),
    errors.NotConfiguredError: (grpc.StatusCode.FAILED_PRECONDITION, "NOT_CONFIGURED"),
    errors.WorkerLostError: (grpc.StatusCode.UNAVAILABLE, "WORKER_LOST"),
    errors.UpstreamError: (grpc.StatusCode.UNAVAILABLE, "UPSTREAM_ERROR"),
    errors.CancelledByCaller: (grpc.StatusCode.CANCELLED, "CANCELLED"),
    errors.UnavailableError: (grpc.StatusCode.UNAVAILABLE, "UNAVAILABLE"),
}


def all_subclasses(cls: type) -> set[type]:
    found = set()
    for sub in cls.__subclasses__():
        found |= {sub, *all_subclasses(sub)}
    return found


def test_every_error_class_is_mapped() -> None:
    assert all_subclasses(AirpyError) | {AirpyError} == set(EXPECTED)


@pytest.mark.parametrize("cls", list(EXPECTED), ids=lambda c: c.__name__)
def test_each_error_becomes_a_status_with_error_info_and_request_id(cls: type[AirpyError]) -> None:
    code, reason = EXPECTED[cls]
    error = cls("something went wrong", metadata={"file": "a.csv"})
    status = status_details(error.detail(), "req-1")
    assert status.code == code.value[0]
    assert status.message == "something went wrong"
    info = error_details_pb2.ErrorInfo()
    assert status.details[0].Unpack(info)
    assert (info.reason, info.domain, dict(info.metadata)) == (reason, "airpy", {"file": "a.csv"})
    request = error_details_pb2.RequestInfo()
    assert status.details[-1].Unpack(request)
    assert request.request_id == "req-1"
    # The stored form (a failed job's error) round-trips to the same class.
    restored = errors.from_detail(error_from_json(error_to_json(error.detail())))
    assert type(restored) is cls
    assert restored.detail() == error.detail()


def test_field_violations_travel_as_bad_request() -> None:
    error = ValidationError.for_field("plan.filters[2].value", "cannot be compared with a date")
    status = status_details(error.detail(), "r")
    bad = error_details_pb2.BadRequest()
    assert status.details[1].Unpack(bad)
    assert [(v.field, v.description) for v in bad.field_violations] == [
        ("plan.filters[2].value", "cannot be compared with a date")
    ]
    assert error.violations == (FieldViolation("plan.filters[2].value", "cannot be compared with a date"),)


def test_unexpected_exceptions_become_internal_without_internals() -> None:
    error = to_airpy_error(KeyError("/secret/path"), "req-9")
    assert error.code is grpc.StatusCode.INTERNAL
    assert "/secret/path" not in error.message
    assert "req-9" in error.message


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("IO Error: OSError: When reading information for key 'd/x.csv': AWS Error NETWORK_CONNECTION", "UNAVAILABLE"),
        ("Invalid Error: FileNotFoundError: airpys3://bucket/gone.csv", "NOT_FOUND"),
    ],
)
def test_object_store_failures_inside_duckdb_reads_are_defined_errors(message: str, expected: str) -> None:
    # The registered fsspec filesystem's errors reach airpy as DuckDB errors carrying Python's.
    import duckdb

    from airpy.engine import translate

    error = translate(duckdb.Error(message))
    assert isinstance(error, AirpyError)
    assert error.code.name == expected
    assert "airpys3" not in error.message and "d/x.csv" not in error.message


def test_the_engines_advice_does_not_decide_the_cause() -> None:
    # A sniffing failure ends with a list of possible fixes that names compression codecs.
    import duckdb

    from airpy.engine import translate

    message = (
        'Invalid Input Error: Error when sniffing file "/base/sample/readings.csv".\n'
        "It was not possible to automatically detect the CSV parsing dialect\n"
        "Possible fixes:\n"
        "* Make sure you are using the correct file encoding. If not, set it (e.g., encoding = 'utf-16').\n"
        "* Check you are using the correct file compression, otherwise set it (e.g., compression = 'zstd')\n"
    )
    error = translate(duckdb.InvalidInputException(message), base="/base")
    assert error.metadata == {"file": "sample/readings.csv", "cause": "unknown_layout"}  # type: ignore[attr-defined]


def test_caller_input_in_an_error_is_escaped() -> None:
    error = ValidationError.for_field("plan.filters[0].col", "no column 'a\u202e\r\nb\u200b' here")
    detail = error.detail()
    assert detail.message == "plan.filters[0].col: no column 'a\\u202e\\u000d\\u000ab\\u200b' here"
    assert detail.field_violations[0].description == "no column 'a\\u202e\\u000d\\u000ab\\u200b' here"
    assert errors.printable("plain text, ünïcode ✓") == "plain text, ünïcode ✓"
