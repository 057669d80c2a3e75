"""Reply byte caps over a real server: Preview of long rows."""

from __future__ import annotations

import csv
from pathlib import Path

from airpy.v1 import info_service_pb2
from tests.e2e.test_preview import preview, table_of
from tests.support.stack import Stack


def long_rows_csv(path: Path, rows: int, width: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["id", "text"])
        for i in range(rows):
            writer.writerow([i, chr(ord("a") + i % 26) * width])
    return path


def test_preview_of_long_rows_drops_trailing_rows_to_stay_under_its_cap(stack: Stack) -> None:
    path = long_rows_csv(stack.base / "long" / "long.csv", 1000, 20_000)
    info = stack.info.GetServerInfo(info_service_pb2.GetServerInfoRequest(), metadata=stack.metadata())
    cap = info.limits.preview_max_bytes
    assert 0 < cap < 4 * 1024 * 1024  # what a Go client receives by default
    response = preview(stack, path, limit=300)
    assert response.ByteSize() <= cap
    table = table_of(response)
    assert response.truncated and response.rows.truncated and response.stats.sampled
    assert 0 < table.num_rows < 300
    assert response.stats.sample_size == table.num_rows == len(response.rows.rows)
    # The first rows, in order, and the same in both forms.
    assert table.column("id").to_pylist() == list(range(table.num_rows))
    assert [int(dict(r)["id"]) for r in response.rows.rows] == list(range(table.num_rows))
    # A preview that fits is not marked.
    small = preview(stack, path, limit=5)
    assert not small.truncated and small.stats.sample_size == 5
