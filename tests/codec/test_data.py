"""airpy.codec.data: what a profile says about its own precision reaches the reply; replies fit their caps."""

from __future__ import annotations

import pyarrow as pa
import pytest

from airpy.codec.data import column_profile_pb, preview_pb, profile_pb
from airpy.data.metrics import HLL_RELATIVE_ERROR, duplicate_collision_bound
from airpy.data.preview import Preview
from airpy.data.profile import Drift, Profile, ProfileMode
from airpy.data.stats import ColumnStats
from airpy.errors import ResourceCapError
from airpy.schema import Logical

BUDGET = 4 * 1024 * 1024


def profile(mode: ProfileMode, columns: list[ColumnStats], duplicate_rows: int | None) -> Profile:
    schema = pa.schema([(c.name, pa.int64()) for c in columns])
    return Profile(
        mode=mode,
        schema=schema,
        rows=7_000_000,
        rows_estimated=False,
        files_read=[],
        bytes_on_disk=0,
        memory_mb=0.0,
        columns=columns,
        drift=[],
        sample=schema.empty_table(),
        duplicate_rows=duplicate_rows,
    )


def exact(name: str) -> ColumnStats:
    return ColumnStats(name, "int64", Logical.INTEGER, True, count=7_000_000, distinct=10)


def estimated(name: str) -> ColumnStats:
    column = ColumnStats(name, "int64", Logical.INTEGER, True, count=7_000_000, distinct=2_000_000)
    column.distinct_approximate, column.distinct_error = True, HLL_RELATIVE_ERROR
    return column


def test_an_estimated_distinct_count_carries_its_standard_error() -> None:
    assert column_profile_pb(estimated("v")).distinct_relative_error == HLL_RELATIVE_ERROR
    assert not column_profile_pb(exact("v")).HasField("distinct_relative_error")


def test_a_full_profile_with_one_estimate_says_its_unique_counts_are_approximate() -> None:
    assert profile_pb(
        profile(ProfileMode.FULL, [exact("a"), estimated("b")], 0), BUDGET
    ).stats.unique_counts_approximate
    assert not profile_pb(profile(ProfileMode.FULL, [exact("a")], 0), BUDGET).stats.unique_counts_approximate
    assert profile_pb(profile(ProfileMode.SAMPLE, [exact("a")], None), BUDGET).stats.unique_counts_approximate


def test_a_duplicate_count_carries_its_collision_bound() -> None:
    stats = profile_pb(profile(ProfileMode.FULL, [exact("a")], 3), BUDGET).stats
    assert stats.duplicate_rows == 3
    assert stats.duplicate_rows_collision_probability == duplicate_collision_bound(7_000_000, 3)
    # No two rows share a hash: no two rows are alike, exactly.
    none = profile_pb(profile(ProfileMode.FULL, [exact("a")], 0), BUDGET).stats
    assert none.HasField("duplicate_rows_collision_probability") and none.duplicate_rows_collision_probability == 0
    sampled = profile_pb(profile(ProfileMode.SAMPLE, [exact("a")], None), BUDGET).stats
    assert not sampled.HasField("duplicate_rows") and not sampled.HasField("duplicate_rows_collision_probability")


def wide_profile(columns: int, drift: int) -> Profile:
    """A profile of `columns` 200-character column names across files that disagree on `drift` of them."""
    names = [f"c{i:05d}_" + "x" * 193 for i in range(columns)]
    result = profile(ProfileMode.SAMPLE, [exact(n) for n in names], None)
    result.sample = pa.table({n: list(range(20)) for n in names})
    result.drift = [Drift(n, ["part-1.csv"], ["part-2.csv"], ["int64"]) for n in names[:drift]]
    return result


def test_a_wide_profile_is_cut_to_the_budget_with_a_flag_per_list() -> None:
    budget = 512 * 1024
    message = profile_pb(wide_profile(3000, 3000), budget)  # was AttributeError: drift's flag
    assert message.ByteSize() <= budget
    assert message.sample_preview.truncated and not message.sample_preview.rows
    assert message.drift_truncated and not message.drift
    assert message.stats.null_ratio_truncated and not message.stats.null_ratio
    assert message.stats.unique_counts_truncated and not message.stats.unique_counts
    assert message.schema.fields_truncated and len(message.schema.fields) < 3000
    assert message.columns_truncated and 0 < len(message.columns) < 3000
    assert message.stats.columns == 3000  # the count still says how many there are
    assert [c.name for c in message.columns] == [f"c{i:05d}_" + "x" * 193 for i in range(len(message.columns))]


def test_drift_is_cut_from_its_end_when_the_sample_rows_are_not_enough() -> None:
    full = profile_pb(wide_profile(300, 300), BUDGET)
    assert not full.drift_truncated and len(full.drift) == 300
    budget = full.ByteSize() - full.sample_preview.ByteSize() - 1000
    message = profile_pb(wide_profile(300, 300), budget)
    assert message.ByteSize() <= budget
    assert message.drift_truncated and 0 < len(message.drift) < 300
    assert len(message.columns) == 300 and not message.columns_truncated


def test_a_profile_that_fits_sets_no_flag() -> None:
    message = profile_pb(wide_profile(10, 10), BUDGET)
    assert not (message.drift_truncated or message.columns_truncated or message.schema.fields_truncated)
    assert not (message.stats.null_ratio_truncated or message.stats.unique_counts_truncated)
    assert len(message.sample_preview.rows) == 20


def long_rows(rows: int, width: int) -> Preview:
    table = pa.table({"id": list(range(rows)), "text": ["y" * width] * rows})
    return Preview(table, total_rows=rows * 10, total_exact=True)


def test_a_preview_over_its_budget_keeps_the_first_rows_that_fit() -> None:
    budget = 1024 * 1024
    message = preview_pb(long_rows(300, 20_000), budget)
    assert message.ByteSize() <= budget
    table = pa.ipc.open_stream(message.arrow_ipc).read_all()
    kept = table.num_rows
    assert 0 < kept < 300 and message.truncated and message.rows.truncated and message.stats.sampled
    assert table.column("id").to_pylist() == list(range(kept))
    assert [int(dict(r)["id"]) for r in message.rows.rows] == list(range(kept))
    assert message.stats.sample_size == kept
    # One more row would not have fitted: the cut is as small as it can be.
    assert preview_pb(long_rows(kept + 1, 20_000), budget).truncated
    assert not preview_pb(long_rows(kept, 20_000), budget).truncated


def test_a_preview_whose_schema_alone_passes_its_budget_is_resource_cap() -> None:
    table = pa.table({f"c{i:05d}_" + "x" * 193: [1] for i in range(100)})
    with pytest.raises(ResourceCapError) as caught:
        preview_pb(Preview(table, total_rows=1, total_exact=True), 4096)
    assert caught.value.metadata["limit"] == "PY_PREVIEW_MAX_BYTES"
