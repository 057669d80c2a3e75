"""Logging: grpcio's report of a write to a stream the client cancelled is not an error."""

from __future__ import annotations

import logging

import pytest

from airpy import logs


def test_cancelled_stream_writes_are_quiet_but_other_grpc_errors_are_not(capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        logs.configure("server", "json", "INFO")
        grpc_log = logging.getLogger("grpc._cython.cygrpc")
        grpc_log.error(
            "%s raised in core by servicer method [%s]", "ExecuteBatchError", "/airpy.v1.JobService/FetchResult"
        )
        grpc_log.error("something else went wrong")
        err = capsys.readouterr().err
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
    assert "ExecuteBatchError" not in err
    assert "something else went wrong" in err
