"""airpy.query.names: one rule for the output names a plan chooses."""

from __future__ import annotations

import pytest

from airpy.errors import ValidationError
from airpy.query.names import MAX_NAME_CHARS, check_output_name


@pytest.mark.parametrize("name", ["kwh", "kwh_sum", "Energy (kWh)"[:6], "día 2", "a.b-c", "x" * MAX_NAME_CHARS, "温度"])
def test_plain_names_pass(name: str) -> None:
    check_output_name(name, "plan.select[0].alias")


@pytest.mark.parametrize(
    "name",
    [
        "",
        " x",
        "x ",
        "x'y",
        'x"y',
        "a;b",
        "a--b;",
        "a\u200bb",
        "a\u202eb",
        "a\rb",
        "a\x00b",
        "x" * (MAX_NAME_CHARS + 1),
    ],
)
def test_other_names_are_refused_naming_the_field(name: str) -> None:
    assert MAX_NAME_CHARS == 128
    with pytest.raises(ValidationError) as caught:
        check_output_name(name, "plan.aggs[2].alias")
    assert caught.value.metadata["field"] == "plan.aggs[2].alias"
    assert caught.value.detail().message.isprintable()


def test_a_suffix_may_start_with_a_separator() -> None:
    check_output_name("_right", "plan.joins[0].suffix", fragment=True)
    check_output_name(" r", "plan.joins[0].suffix", fragment=True)
    with pytest.raises(ValidationError):
        check_output_name(" r", "plan.select[0].alias")
