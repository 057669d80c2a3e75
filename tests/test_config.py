"""Settings: seed defaults, bad values named, the README table in step with the code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from airpy.config import DEFAULT_ALLOWED_EXT, SPECS, Settings, SettingsError

REPO = Path(__file__).resolve().parents[1]


def test_seed_defaults(tmp_path: Path) -> None:
    settings = Settings.from_env({"PY_DATA_DIR": str(tmp_path)})
    assert (settings.max_rows_json, settings.infer_rows, settings.memory_mb) == (50000, 20000, 2048)
    assert (settings.workers, settings.job_timeout_s, settings.job_ttl_s) == (2, 90, 86400)
    assert settings.listen == "127.0.0.1:50051"
    assert settings.base_path == Path("./data")
    assert settings.redis_url is None
    assert settings.embedded
    assert settings.allowed_ext == DEFAULT_ALLOWED_EXT


def test_embedded_mode_keeps_a_random_secret_in_the_data_dir(tmp_path: Path) -> None:
    first = Settings.from_env({"PY_DATA_DIR": str(tmp_path)})
    again = Settings.from_env({"PY_DATA_DIR": str(tmp_path)})
    assert len(first.auth_secret) == 64
    assert first.auth_secret == again.auth_secret
    assert (tmp_path / "secret").stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"PY_MAX_ROWS_JSON": "lots"}, "PY_MAX_ROWS_JSON"),
        ({"PY_WORKERS": "-1"}, "PY_WORKERS"),
        ({"PY_LISTEN": "50051"}, "PY_LISTEN"),
        ({"REDIS_URL": "http://x"}, "REDIS_URL"),
        ({"REDIS_URL": "redis://x:6379"}, "PY_AUTH_SECRET"),
        ({"REDIS_URL": "redis://x", "PY_AUTH_SECRET": "short"}, "PY_AUTH_SECRET"),
        ({"PY_ALLOWED_EXT": "csv"}, "PY_ALLOWED_EXT"),
        ({"PY_AUTH_DISABLED": "maybe"}, "PY_AUTH_DISABLED"),
        ({"PY_JOB_TIMEOUT_S": "7200"}, "PY_JOB_TIMEOUT_S"),
        ({"PY_TLS_CERT": "/nonexistent.pem", "PY_TLS_KEY": "/nonexistent.key"}, "PY_TLS_CERT"),
        ({"PY_LOG_LEVEL": "loud"}, "PY_LOG_LEVEL"),
        ({"PY_KIND_TIMEOUTS_S": "sleep=5"}, "PY_KIND_TIMEOUTS_S"),
        ({"PY_KIND_TIMEOUTS_S": "query=0"}, "PY_KIND_TIMEOUTS_S"),
        ({"PY_KIND_TIMEOUTS_S": "query=99999"}, "PY_KIND_TIMEOUTS_S"),
        ({"PY_BASE_PATH": "s3://bucket/a//b"}, "PY_BASE_PATH"),
        ({"PY_BASE_PATH": "s3://bucket/./b"}, "PY_BASE_PATH"),
        ({"PY_BASE_PATH": "s3://bucket/../b"}, "PY_BASE_PATH"),
        ({"PY_BASE_PATH": "s3:///prefix"}, "PY_BASE_PATH"),
        ({"PY_RESULTS_DIR": "s3://bucket/res*"}, "PY_RESULTS_DIR"),
        ({"PY_BASE_PATH": "s3://bucket/data", "PY_RESULTS_DIR": "s3://bucket/data/results"}, "PY_RESULTS_DIR"),
        ({"PY_BASE_PATH": "s3://bucket", "PY_RESULTS_DIR": "s3://bucket/results"}, "PY_RESULTS_DIR"),
        ({"REDIS_SENTINELS": "s1:26379,nope"}, "REDIS_SENTINELS"),
        ({"REDIS_SENTINELS": "s1:26379", "PY_AUTH_SECRET": "k" * 32}, "REDIS_SENTINEL_MASTER"),
        (
            {
                "REDIS_SENTINELS": "s1:26379",
                "REDIS_SENTINEL_MASTER": "m",
                "REDIS_URL": "redis://r",
                "PY_AUTH_SECRET": "k" * 32,
            },
            "REDIS_SENTINELS",
        ),
        ({"REDIS_SENTINELS": "s1:26379", "REDIS_SENTINEL_MASTER": "m"}, "PY_AUTH_SECRET"),
        ({"PY_REDIS_MIN_REPLICAS": "some"}, "PY_REDIS_MIN_REPLICAS"),
    ],
)
def test_a_bad_value_stops_start_up_naming_the_variable(tmp_path: Path, env: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError, match=f"^{named}: "):
        Settings.from_env({"PY_DATA_DIR": str(tmp_path), **env})


def test_external_redis_with_a_long_secret_is_fine() -> None:
    settings = Settings.from_env({"REDIS_URL": "redis://redis:6379/0", "PY_AUTH_SECRET": "k" * 32})
    assert settings.redis_url == "redis://redis:6379/0"
    assert not settings.embedded


def test_sentinels_name_the_master_and_confirm_new_jobs_on_a_replica() -> None:
    settings = Settings.from_env(
        {
            "REDIS_SENTINELS": "s1:26379, [::1]:26380",
            "REDIS_SENTINEL_MASTER": "airpy",
            "REDIS_PASSWORD": "pw",
            "PY_AUTH_SECRET": "k" * 32,
        }
    )
    assert not settings.embedded
    target = settings.redis_target
    assert (target.sentinels, target.master, target.password, target.db) == (
        (("s1", 26379), ("::1", 26380)),
        "airpy",
        "pw",
        0,
    )
    assert "pw" not in target.label
    assert settings.min_replicas == 1
    assert Settings.from_env({"REDIS_URL": "redis://r:6379", "PY_AUTH_SECRET": "k" * 32}).min_replicas == 0
    explicit = {"REDIS_URL": "redis://r:6379", "PY_AUTH_SECRET": "k" * 32, "PY_REDIS_MIN_REPLICAS": "2"}
    assert Settings.from_env(explicit).min_replicas == 2


def readme_table() -> dict[str, str]:
    text = (REPO / "README.md").read_text()
    section = text.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `([A-Z0-9_]+)` \| (.*?) \| .* \|$", section, flags=re.MULTILINE)
    return dict(rows)


def test_the_readme_table_lists_every_setting_with_its_default() -> None:
    table = readme_table()
    assert list(table) == [s.env for s in SPECS]
    for spec in SPECS:
        cell = table[spec.env]
        if spec.env == "PY_ALLOWED_EXT":
            assert all(ext in cell for ext in (".csv", ".parquet", ".jsonl", ".ndjson", ".arrow", ".feather"))
        elif not spec.default:
            assert cell.startswith("unset"), spec.env
        else:
            assert cell == f"`{spec.default}`", spec.env


def test_settings_fields_and_specs_agree() -> None:
    from dataclasses import fields

    assert [f.name for f in fields(Settings)] == [s.attr for s in SPECS]


def test_per_kind_time_limits() -> None:
    settings = Settings.from_env({"PY_AUTH_DISABLED": "1", "PY_KIND_TIMEOUTS_S": "infer_schema=600, query=30"})
    assert settings.default_timeout_s("infer_schema") == 600
    assert settings.default_timeout_s("query") == 30
    assert settings.default_timeout_s("discover") == 90


def test_s3_locations(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {"PY_DATA_DIR": str(tmp_path), "PY_BASE_PATH": "s3://b/data/", "PY_RESULTS_DIR": "s3://b/database"}
    )
    assert (str(settings.base_path), str(settings.results_path)) == ("s3://b/data", "s3://b/database")
    assert settings.uses_object_store
    assert not Settings.from_env({"PY_DATA_DIR": str(tmp_path)}).uses_object_store


def test_every_setting_the_contract_and_the_docs_name_exists() -> None:
    # A proto comment once named PY_INLINE_FRAME_MAX_BYTES for PY_MAX_INLINE_FRAME_BYTES.
    names = {spec.env for spec in SPECS}
    texts = [*(REPO / "proto").rglob("*.proto"), *(REPO / "docs").glob("*.md"), REPO / "README.md"]
    unknown = {(path.name, name) for path in texts for name in re.findall(r"\bPY_[A-Z0-9_]+\b", path.read_text())} - {
        (path.name, name) for path in texts for name in names
    }
    assert unknown == set()
