"""Base-path security, as plain functions (the e2e tests check the same through the server)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airpy.config import DEFAULT_ALLOWED_EXT
from airpy.data.paths import BasePath
from airpy.errors import NotFoundError, ValidationError


@pytest.fixture
def base(tmp_path: Path) -> BasePath:
    root = tmp_path / "base"
    (root / "sales" / "2024").mkdir(parents=True)
    (root / "sales" / "2024" / "jan.csv").write_text("a\n1\n")
    (root / "sales" / "notes.txt").write_text("x")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret.csv").write_text("s\n1\n")
    (root / "escape").symlink_to(tmp_path / "outside")
    (root / "inner").symlink_to(root / "sales")
    return BasePath(root, DEFAULT_ALLOWED_EXT)


def test_relative_absolute_and_file_uris_inside_the_base(base: BasePath) -> None:
    for raw in (
        "sales/2024/jan.csv",
        str(base.root / "sales/2024/jan.csv"),
        (base.root / "sales/2024/jan.csv").as_uri(),
    ):
        target = base.resolve(raw, "uri")
        assert (target.rel, target.is_dir) == ("sales/2024/jan.csv", False)
    assert base.resolve("sales", "uri").is_dir
    assert base.resolve("", "uri", allow_root=True).rel == ""
    assert base.resolve("inner/2024/jan.csv", "uri").rel == "sales/2024/jan.csv"  # a symlink inside the base


def test_globs_resolve_their_fixed_prefix(base: BasePath) -> None:
    target = base.resolve("sales/*/jan.csv", "uri")
    assert (target.rel, target.pattern) == ("sales", "*/jan.csv")


@pytest.mark.parametrize(
    "raw",
    [
        "../outside/secret.csv",
        "sales/../../outside/secret.csv",
        "/etc/passwd",
        "file:///etc/passwd",
        "file://otherhost/data/x.csv",
        "escape/secret.csv",
        "escape",
        "escape/*.csv",
        "sales\\..\\..\\outside",
        "sales/\x00.csv",
        "file:///x%00.csv",
        "s3://bucket/key.csv",
        "a" * 5000,
        "sales/notes.txt",
        "",
    ],
)
def test_hostile_paths_are_refused(base: BasePath, raw: str) -> None:
    with pytest.raises(ValidationError) as caught:
        base.resolve(raw, "uri")
    assert caught.value.violations[0].field == "uri"


def test_percent_encoding_is_literal_in_plain_paths_and_decoded_once_in_uris(base: BasePath) -> None:
    with pytest.raises(NotFoundError):
        base.resolve("%2e%2e/outside/secret.csv", "uri")  # a folder literally named %2e%2e
    with pytest.raises(ValidationError):
        base.resolve("file://" + str(base.root) + "/%2e%2e/%2e%2e/outside/secret.csv", "uri")
    with pytest.raises(NotFoundError):  # decoded once: %252e stays %2e, a literal name
        base.resolve("file://" + str(base.root) + "/%252e%252e/outside", "uri")


def test_missing_files_are_not_found(base: BasePath) -> None:
    with pytest.raises(NotFoundError):
        base.resolve("sales/2025/feb.csv", "uri")


# The fixture's files are only read, so sharing it between examples is safe.
segments = st.sampled_from(["..", ".", "sales", "2024", "jan.csv", "escape", "inner", "", "x", "*", "%2e%2e", "~"])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(parts=st.lists(segments, min_size=1, max_size=8), absolute=st.booleans())
def test_whatever_the_path_a_resolved_target_is_inside_the_base(
    base: BasePath, parts: list[str], absolute: bool
) -> None:
    raw = "/".join(parts)
    if absolute:
        raw = str(base.root) + "/" + raw
    try:
        target = base.resolve(raw, "uri", allow_root=True)
    except (ValidationError, NotFoundError):
        return
    real = Path(os.path.realpath(target.path))
    assert real == base.root or real.is_relative_to(base.root)
