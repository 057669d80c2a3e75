"""The small sample dataset `make run` puts under the base path (sample/), for a first call.

96 hourly readings from 2024-03-01 of three meters in two regions, kWh on a daily ramp
(`1.5 + (hour % 24) * 0.25 + (hour % 3) * 0.1`), with a few things planted for the EDA, the
validation and the anomaly walk-throughs to find: no reading at hours 17 and 53 (nulls), a
spike of 18 kWh at hour 40 and a dip to 0.2 kWh at hour 77 (outliers, anomalies).
"""

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
#: Hours whose reading is missing, and hours whose reading is planted (kWh).
MISSING_HOURS = (17, 53)
PLANTED = {40: 18.0, 77: 0.2}


def kwh_at(hour: int) -> float | None:
    """The sample's reading at `hour` (None: missing)."""
    if hour in MISSING_HOURS:
        return None
    return PLANTED.get(hour, round(1.5 + (hour % 24) * 0.25 + (hour % 3) * 0.1, 3))


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
    rows = [(start + timedelta(hours=h), f"m{h % 3 + 1}", _REGIONS[h % 2], kwh_at(h)) for h in range(96)]
    with (root / "readings.csv").open("w") as handle:
        handle.write("ts,meter,region,kwh\n")
        for ts, meter, region, kwh in rows:
            handle.write(f"{ts.isoformat()},{meter},{region},{'' if kwh is None else kwh}\n")
    for region in _REGIONS:
        part = [r for r in rows if r[2] == region]
        table = pa.table(
            {
                "ts": pa.array([r[0] for r in part], pa.timestamp("us", tz="UTC")),
                "meter": [r[1] for r in part],
                "kwh": pa.array([r[3] for r in part], pa.float64()),
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
