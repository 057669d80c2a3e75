"""The reliability report names test files that exist (a moved file would silently drop its area)."""

from __future__ import annotations

from tests.faults.report import AREAS
from tests.support.stack import REPO


def test_every_area_of_the_report_names_existing_tests() -> None:
    missing = [path for paths in AREAS.values() for path in paths if not (REPO / path).exists()]
    assert not missing, missing
