"""Seeded data the benchmarks read, generated once into .bench-data/ (sizes stated in each name).

Values come from hashes of the row number, so the same rows come out whatever the thread
count: a rerun measures the same bytes.
"""

from __future__ import annotations

import duckdb

from benchmarks.harness import DATA

# ~153 bytes a row as CSV: 7 M rows are just over 1 GB.
MIXED_COLUMNS = """
    range AS id,
    TIMESTAMP '2024-01-01' + to_seconds((hash(range, 1) % 31536000)::BIGINT) AS ts,
    DATE '2020-01-01' + ((hash(range, 2) % 1800)::INTEGER) AS day,
    ['alpha', 'beta', 'gamma', 'delta', 'epsilon', 'zeta', 'eta', 'theta', 'iota', 'kappa']
        [(1 + hash(range, 3) % 10)::BIGINT] AS category,
    'city_' || (hash(range, 4) % 1000) AS city,
    round(((hash(range, 5) % 1000000) / 10000.0) - 50, 4) AS amount,
    (hash(range, 6) % 500)::INTEGER AS qty,
    CASE WHEN hash(range, 7) % 20 = 0 THEN NULL ELSE round((hash(range, 8) % 100000) / 100.0, 2) END AS price,
    hash(range, 9) % 2 = 0 AS flag,
    'user' || (hash(range, 10) % 100000) || '@example.com' AS email,
    ((hash(range, 11) % 90000) + 10000)::VARCHAR AS code,
    CASE WHEN hash(range, 12) % 10 = 0 THEN NULL
        ELSE ['new', 'open', 'closed'][(1 + hash(range, 13) % 3)::BIGINT] END AS status,
    CASE WHEN hash(range, 14) % 20 = 0 THEN NULL ELSE (hash(range, 15) % 1000) / 10.0 END AS score,
    (hash(range, 16) % 1000000)::BIGINT AS user_id,
    round(((hash(range, 17) % 180000) / 1000.0) - 90, 5) AS lat,
    round(((hash(range, 18) % 360000) / 1000.0) - 180, 5) AS lon,
    (hash(range, 19) % 1000) / 1000.0 AS ratio,
    CASE WHEN hash(range, 20) % 50 = 0 THEN NULL ELSE (hash(range, 21) % 100)::INTEGER END AS bucket,
    'note ' || (hash(range, 22) % 5000) AS note
"""


def mixed_csv(rows: int) -> tuple[str, str]:
    """A CSV and a Parquet copy of `rows` rows of MIXED_COLUMNS (20 columns, nulls, a timestamp)."""
    folder = DATA / f"mixed-{rows}"
    csv_path, parquet_path = folder / "mixed.csv", folder / "parquet" / "mixed.parquet"
    if not (folder / "done").exists():
        folder.mkdir(parents=True, exist_ok=True)
        parquet_path.parent.mkdir(parents=True, exist_ok=True)
        con = duckdb.connect()
        con.execute("SET enable_progress_bar = false")
        select = f"SELECT {MIXED_COLUMNS} FROM range({int(rows)})"
        con.execute(f"COPY ({select}) TO '{csv_path}' (HEADER, DELIMITER ',')")
        con.execute(f"COPY (SELECT * FROM read_csv('{csv_path}')) TO '{parquet_path}' (FORMAT parquet)")
        con.close()
        (folder / "done").write_text("ok")
    return str(csv_path.relative_to(DATA)), str(parquet_path.relative_to(DATA))


def events_parquet(rows: int) -> str:
    """`rows` timestamped readings (ts over a year, 1000 meters, a value) as Parquet, 8 files."""
    folder = DATA / f"events-{rows}"
    if not (folder / "done").exists():
        folder.mkdir(parents=True, exist_ok=True)
        con = duckdb.connect()
        con.execute("SET enable_progress_bar = false")
        select = f"""
            SELECT TIMESTAMP '2024-01-01' + to_seconds((hash(range, 1) % 31536000)::BIGINT) AS ts,
                   'meter_' || (hash(range, 2) % 1000) AS meter,
                   ['north', 'south', 'east', 'west'][(1 + hash(range, 3) % 4)::BIGINT] AS region,
                   round((hash(range, 4) % 100000) / 1000.0, 3) AS kwh,
                   range % 8 AS part
            FROM range({int(rows)})"""
        con.execute(f"COPY ({select}) TO '{folder}' (FORMAT parquet, PARTITION_BY (part), OVERWRITE_OR_IGNORE)")
        con.close()
        (folder / "done").write_text("ok")
    return str(folder.relative_to(DATA))


# Ten more columns for the 30-column EDA frame: correlated and skewed numbers, a rare category.
WIDE_EXTRA = """
    round(((hash(range, 5) % 1000000) / 10000.0) - 50 + (hash(range, 30) % 1000) / 100.0, 4) AS amount_noisy,
    ((hash(range, 31) % 1000) + (hash(range, 32) % 1000) + (hash(range, 33) % 1000)) / 30.0 AS bell,
    exp(((hash(range, 34) % 1000) / 1000.0) * 8) AS skewed,
    (hash(range, 6) % 500)::INTEGER * 3 + (hash(range, 35) % 7)::INTEGER AS qty_scaled,
    CASE WHEN hash(range, 36) % 3 = 0 THEN NULL ELSE (hash(range, 37) % 10000) / 7.0 END AS sparse,
    CASE WHEN hash(range, 38) % 100 = 0 THEN 'rare' ELSE 'common' END AS rarity,
    (hash(range, 39) % 1000000) / 1000.0 AS uniform,
    ['xs', 's', 'm', 'l', 'xl'][(1 + hash(range, 40) % 5)::BIGINT] AS size,
    TIMESTAMP '2023-01-01' + to_seconds((range * 31)::BIGINT) AS created,
    (hash(range, 41) % 2000)::INTEGER - 1000 AS delta
"""


def wide_parquet(rows: int) -> str:
    """`rows` rows of 30 columns (MIXED_COLUMNS and WIDE_EXTRA) as one Parquet file."""
    folder = DATA / f"wide-{rows}"
    path = folder / "wide.parquet"
    if not (folder / "done").exists():
        folder.mkdir(parents=True, exist_ok=True)
        con = duckdb.connect()
        con.execute("SET enable_progress_bar = false")
        select = f"SELECT {MIXED_COLUMNS}, {WIDE_EXTRA} FROM range({int(rows)})"
        con.execute(f"COPY ({select}) TO '{path}' (FORMAT parquet)")
        con.close()
        (folder / "done").write_text("ok")
    return str(path.relative_to(DATA))
