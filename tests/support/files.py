"""Real files of every format and layout airpy reads, and the messy ones Go callers hand us."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.feather as feather
import pyarrow.parquet as pq

READINGS = pa.table(
    {
        "id": pa.array([1, 2, 3, 4, 5, 6], pa.int64()),
        "meter": ["m1", "m2", "m1", "m3", None, "m2"],
        "kwh": [1.5, 2.25, None, 4.0, 5.5, 6.75],
        "ts": pa.array([dt.datetime(2024, 3, 1, h, tzinfo=dt.UTC) for h in range(6)], pa.timestamp("us", tz="UTC")),
    }
)


def write_csv(path: Path, table: pa.Table = READINGS, delimiter: str = ",") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pacsv.write_csv(table, path, write_options=pacsv.WriteOptions(delimiter=delimiter))
    return path


def write_formats(root: Path) -> dict[str, Path]:
    """One dataset per format and layout, all holding READINGS (hive ones split by region)."""
    root.mkdir(parents=True, exist_ok=True)
    paths = {
        "csv": write_csv(root / "csv" / "readings.csv"),
        "semicolon": write_csv(root / "semicolon" / "readings.csv", delimiter=";"),
        "tsv": write_csv(root / "tsv" / "readings.tsv", delimiter="\t"),
    }
    text = (root / "csv" / "readings.csv").read_bytes()
    (root / "gz").mkdir(exist_ok=True)
    (root / "gz" / "readings.csv.gz").write_bytes(gzip.compress(text))
    (root / "zst").mkdir(exist_ok=True)
    with pa.CompressedOutputStream(str(root / "zst" / "readings.csv.zst"), "zstd") as out:
        out.write(text)
    paths["gz"] = root / "gz" / "readings.csv.gz"
    paths["zst"] = root / "zst" / "readings.csv.zst"
    (root / "parquet").mkdir(exist_ok=True)
    pq.write_table(READINGS, root / "parquet" / "readings.parquet")
    paths["parquet"] = root / "parquet" / "readings.parquet"
    (root / "jsonl").mkdir(exist_ok=True)
    lines = [json.dumps({**r, "ts": r["ts"].isoformat()}) for r in READINGS.to_pylist()]
    (root / "jsonl" / "readings.jsonl").write_text("\n".join(lines) + "\n")
    paths["jsonl"] = root / "jsonl" / "readings.jsonl"
    (root / "ndjson_gz").mkdir(exist_ok=True)
    (root / "ndjson_gz" / "readings.ndjson.gz").write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    paths["ndjson_gz"] = root / "ndjson_gz" / "readings.ndjson.gz"
    (root / "arrow").mkdir(exist_ok=True)
    with (
        pa.OSFile(str(root / "arrow" / "readings.arrow"), "wb") as sink,
        pa.ipc.new_file(sink, READINGS.schema) as w,
    ):
        w.write_table(READINGS)
    paths["arrow"] = root / "arrow" / "readings.arrow"
    (root / "feather").mkdir(exist_ok=True)
    feather.write_feather(READINGS, root / "feather" / "readings.feather")
    paths["feather"] = root / "feather" / "readings.feather"
    for region, ids in (("north", [1, 2, 3]), ("south", [4, 5, 6])):
        part = READINGS.filter(pa.compute.is_in(READINGS["id"], pa.array(ids)))
        folder = root / "hive" / f"region={region}"
        folder.mkdir(parents=True, exist_ok=True)
        pq.write_table(part, folder / "part-0.parquet")
        arrow_folder = root / "hive_arrow" / f"region={region}"
        arrow_folder.mkdir(parents=True, exist_ok=True)
        feather.write_feather(part, arrow_folder / "part-0.arrow")
    paths["hive"] = root / "hive"
    paths["hive_arrow"] = root / "hive_arrow"
    return paths


def write_drift(root: Path) -> Path:
    """Three CSV files whose schemas drift: a column missing in one, an int in one and text in another."""
    folder = root / "drift"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "a.csv").write_text("id,amount,city\n1,10,Paris\n2,20,Oslo\n")
    (folder / "b.csv").write_text("id,amount\n3,30\n")
    (folder / "c.csv").write_text("id,amount,city\n4,n/a,Rome\n")
    return folder


def write_messy(root: Path) -> dict[str, Path]:
    """The bad inputs of the files issue, one file each."""
    folder = root / "messy"
    folder.mkdir(parents=True, exist_ok=True)
    files = {
        "header_only": ("header_only.csv", b"a,b,c\n"),
        "empty": ("empty.csv", b""),
        "ragged": ("ragged.csv", b"a,b\n1,2\n3,4,5\n6,7\n"),
        "quoted_newlines": ("quoted.csv", b'a,b\n1,"two\nlines"\n3,x\n'),
        "mixed_dates": ("dates.csv", b"d\n2024-01-05\n05/01/2024\n2024-02-07\n"),
        "binary": ("binary.csv", os.urandom(4096)),
        "invalid_utf8": ("bad_utf8.csv", b"a,b\n1,caf\xe9\n2,ok\n"),
        "latin1": ("latin1.csv", "name,v\nJos\u00e9,1\nZo\u00eb,2\n".encode("latin-1")),
        "bom": ("bom.csv", b"\xef\xbb\xbfa,b\n1,2\n"),
        "bad_json": ("bad.jsonl", b'{"a": 1}\n{"a": 2\n{"a": 3}\n'),
    }
    paths = {}
    for key, (name, data) in files.items():
        (folder / name).write_bytes(data)
        paths[key] = folder / name
    good = pa.table({"x": list(range(1000))})
    pq.write_table(good, folder / "whole.parquet")
    data = (folder / "whole.parquet").read_bytes()
    (folder / "truncated.parquet").write_bytes(data[: len(data) // 2])
    paths["truncated_parquet"] = folder / "truncated.parquet"
    (folder / "whole.parquet").unlink()
    wide = pa.table({f"c{i}": [i, i + 1] for i in range(2000)})
    write_csv(folder / "wide" / "wide.csv", wide)
    paths["wide"] = folder / "wide" / "wide.csv"
    return paths
