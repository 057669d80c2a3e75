"""The small sample dataset `make run` puts under the base path (sample/), for a first call."""

from __future__ import annotations

import json
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from airpy import objectstore
from airpy.objectstore import ObjectUrl

_REGIONS = ("north", "south")


def write_sample(base: Path | ObjectUrl, *, force: bool = False) -> str:
    """Write sample/readings.csv, sample/readings_parquet/region=*/part-0.parquet and sample/events.jsonl.

    Under an s3:// base the files are written locally first, then uploaded. Returns where they are.
    """
    if isinstance(base, ObjectUrl):
        return _upload_sample(base, force=force)
    return str(_write_local(base, force=force))


def _upload_sample(base: ObjectUrl, *, force: bool) -> str:
    import pyarrow.fs as pafs

    fs = objectstore.filesystem()
    target = base.key("sample")
    if fs.get_file_info(target).type != pafs.FileType.NotFound and not force:
        return f"s3://{target}"
    with tempfile.TemporaryDirectory() as tmp:
        local = _write_local(Path(tmp), force=True)
        pafs.copy_files(str(local), target, source_filesystem=pafs.LocalFileSystem(), destination_filesystem=fs)
    return f"s3://{target}"


def _write_local(base: Path, *, force: bool) -> Path:
    root = base / "sample"
    if root.exists() and not force:
        return root
    root.mkdir(parents=True, exist_ok=True)
    start = datetime(2024, 3, 1, tzinfo=UTC)
    rows = [
        (
            start + timedelta(hours=h),
            f"m{h % 3 + 1}",
            _REGIONS[h % 2],
            round(1.5 + (h % 24) * 0.25 + (h % 3) * 0.1, 3),
        )
        for h in range(96)
    ]
    with (root / "readings.csv").open("w") as handle:
        handle.write("ts,meter,region,kwh\n")
        for ts, meter, region, kwh in rows:
            handle.write(f"{ts.isoformat()},{meter},{region},{kwh}\n")
    for region in _REGIONS:
        part = [r for r in rows if r[2] == region]
        table = pa.table(
            {
                "ts": pa.array([r[0] for r in part], pa.timestamp("us", tz="UTC")),
                "meter": [r[1] for r in part],
                "kwh": [r[3] for r in part],
            }
        )
        folder = root / "readings_parquet" / f"region={region}"
        folder.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, folder / "part-0.parquet")
    with (root / "events.jsonl").open("w") as handle:
        for i in range(20):
            event = {"id": i + 1, "kind": ("login", "query", "logout")[i % 3], "ms": 10 * i}
            handle.write(json.dumps(event) + "\n")
    return root
