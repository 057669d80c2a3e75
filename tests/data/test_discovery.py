"""airpy.data.discovery: the files below a folder with their format, size, rows and partitions."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from airpy.data.discovery import FILES_SCHEMA, DiscoverSpec, Discovery, discover, files_table, validate
from airpy.data.formats import Compression, FileFormat
from airpy.data.objects import Base
from airpy.errors import ValidationError
from airpy.progress import JobInterrupted, NullProgress


@pytest.fixture
def tree(data_dir: Path) -> Path:
    (data_dir / "sales" / "year=2024" / "month=03").mkdir(parents=True)
    pq.write_table(pa.table({"v": list(range(7))}), data_dir / "sales" / "year=2024" / "month=03" / "part.parquet")
    (data_dir / "sales" / "top.csv").write_text("a,b\n1,2\n3,4\n")
    (data_dir / "sales" / "top.csv.gz").write_bytes(gzip.compress(b"a\n1\n2\n3\n"))
    (data_dir / "sales" / "notes.txt").write_text("not data")
    (data_dir / "sales" / "broken.parquet").write_bytes(b"not parquet at all")
    os.utime(data_dir / "sales" / "top.csv", (1_700_000_000, 1_700_000_000))
    return data_dir


def run(base: Base, folder: str, progress: NullProgress | None = None, limit: int = 1000, **spec: object) -> Discovery:
    target = base.resolve(folder, "uri", allow_root=True)
    return discover(base, target, DiscoverSpec(uri=folder, **spec), limit, progress or NullProgress())  # type: ignore[arg-type]


def test_recursive_discovery(base: Base, tree: Path) -> None:
    found = run(base, "sales", recurse=True)
    assert found.root == "sales"
    by_path = {f.path: f for f in found.files}
    assert sorted(by_path) == [
        "sales/broken.parquet",
        "sales/top.csv",
        "sales/top.csv.gz",
        "sales/year=2024/month=03/part.parquet",
    ]
    part = by_path["sales/year=2024/month=03/part.parquet"]
    assert (part.format, part.compression, part.estimated_rows, part.rows_exact) == (
        FileFormat.PARQUET,
        Compression.NONE,
        7,
        True,
    )
    assert part.partitions == {"year": "2024", "month": "03"}
    top = by_path["sales/top.csv"]
    assert (top.format, top.size_bytes, top.estimated_rows, top.modified_s, top.partitions) == (
        FileFormat.CSV,
        12,
        2,
        1_700_000_000.0,
        {},
    )
    gz = by_path["sales/top.csv.gz"]
    assert (gz.format, gz.compression, gz.estimated_rows) == (FileFormat.CSV, Compression.GZIP, 3)
    assert found.total_size_bytes == sum(f.size_bytes for f in found.files)
    assert found.skipped_files == 1  # notes.txt
    assert not found.max_files_reached
    assert [(p.path, p.code) for p in found.problems] == [("sales/broken.parquet", "UNREADABLE_FILE")]
    # airpy's words with the relative path; the library's text (absolute paths) stays in the log.
    assert found.problems[0].detail == "sales/broken.parquet could not be read as a parquet file for its row count"


def test_without_recursion_only_the_folder_itself(base: Base, tree: Path) -> None:
    assert [f.path for f in run(base, "sales").files] == ["sales/broken.parquet", "sales/top.csv", "sales/top.csv.gz"]


def test_the_base_path_itself(base: Base, tree: Path) -> None:
    assert run(base, "", recurse=True).root == ""
    assert len(run(base, "", recurse=True).files) == 4


def test_patterns_and_max_files(base: Base, tree: Path) -> None:
    assert [f.path for f in run(base, "sales", recurse=True, patterns=("*.csv",)).files] == ["sales/top.csv"]
    capped = run(base, "sales", recurse=True, max_files=2)
    assert (len(capped.files), capped.max_files_reached) == (2, True)
    # The server's limit applies when the request names none.
    assert run(base, "sales", recurse=True, limit=1).max_files_reached


def test_without_row_estimates_nothing_is_opened(base: Base, tree: Path) -> None:
    found = run(base, "sales", estimate_rows=False)
    assert {(f.estimated_rows, f.rows_exact) for f in found.files} == {(0, False)}
    assert found.problems == []


def test_hard_links_are_problems(base: Base, tree: Path) -> None:
    (tree / "sales" / "link.csv").hardlink_to(tree / "sales" / "top.csv")
    found = run(base, "sales")
    assert {(p.path, p.code) for p in found.problems} >= {
        ("sales/link.csv", "HARD_LINK"),
        ("sales/top.csv", "HARD_LINK"),
    }
    assert "sales/link.csv" not in [f.path for f in found.files]


def test_progress_steps_and_interruption(base: Base, tree: Path) -> None:
    class Steps(NullProgress):
        def __init__(self, stop_after: int = -1) -> None:
            self.steps: list[str] = []
            self.checks = 0
            self.stop_after = stop_after

        def step(self, step: str, message: str = "", progress: float | None = None) -> None:
            self.steps.append(step)

        def check(self) -> None:
            self.checks += 1
            if self.checks == self.stop_after:
                raise JobInterrupted("stop")

    seen = Steps()
    run(base, "sales", seen)
    assert seen.steps[0] == "scanning_directory"
    assert seen.steps.count("file_found") == 3
    assert seen.steps[-1] == "discovery_complete"
    with pytest.raises(JobInterrupted):
        run(base, "sales", Steps(stop_after=2))


def test_files_table(base: Base, tree: Path) -> None:
    found = run(base, "sales", recurse=True)
    table = files_table(found.files)
    assert table.schema == FILES_SCHEMA
    row = next(r for r in table.to_pylist() if r["path"].endswith("part.parquet"))
    assert (row["format"], row["compression"], row["estimated_rows"], row["rows_exact"]) == ("parquet", "none", 7, True)
    assert row["partitions"] == [("year", "2024"), ("month", "03")]
    assert files_table([]).num_rows == 0


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        (DiscoverSpec("x", max_files=1001), "max_files"),
        (DiscoverSpec("x", patterns=("*.csv", "")), "patterns[1]"),
        (DiscoverSpec("x", patterns=("/etc/*",)), "patterns[0]"),
        (DiscoverSpec("x", patterns=("a/../../b",)), "patterns[0]"),
        (DiscoverSpec("x", patterns=("a\x00",)), "patterns[0]"),
        (DiscoverSpec("x", patterns=("a" * 1025,)), "patterns[0]"),
    ],
)
def test_validate_refuses_by_field(spec: DiscoverSpec, field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        validate(spec, 1000)
    assert caught.value.violations[0].field == field


def test_validate_accepts_a_good_spec() -> None:
    validate(DiscoverSpec("x", max_files=1000, patterns=("**/*.csv", "*.parquet")), 1000)
