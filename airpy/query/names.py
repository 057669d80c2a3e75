"""The one rule for the names a plan gives its outputs (aliases, grain, join suffix, rename).

The Go side carries them into its own SQL, file names and UIs, so they are plain: letters, digits,
marks and a few separators, at most MAX_NAME_CHARS, no leading or trailing space. Names read from
files are whatever the file holds; only the names a caller chooses follow this rule.
"""

from __future__ import annotations

import unicodedata

from airpy.errors import ValidationError

MAX_NAME_CHARS = 128
_SEPARATORS = frozenset(" _-.")


def check_output_name(name: str, path: str, *, fragment: bool = False) -> None:
    """ValidationError naming `path` unless `name` follows the rule (`fragment`: a suffix, which
    may start with a separator)."""
    if not name:
        raise ValidationError.for_field(path, "must not be empty")
    if len(name) > MAX_NAME_CHARS:
        raise ValidationError.for_field(path, f"is longer than {MAX_NAME_CHARS} characters")
    for char in name:
        if char in _SEPARATORS:
            continue
        if unicodedata.category(char)[0] not in "LNM":
            raise ValidationError.for_field(
                path,
                f"holds {char!a}: output names hold letters, digits, space, '_', '-' and '.' only",
            )
    if name != name.strip() and not (fragment and name == name.rstrip()):
        raise ValidationError.for_field(path, "must not start or end with a space")
