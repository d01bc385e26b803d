"""Batch scoring reads a day one Arrow record batch at a time and writes it part by part: same
predictions as scoring the day whole, all-or-nothing on failure."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from upath import UPath

from ml_assets.core.demo_data import landed_day
from ml_assets.core.features import build_features
from ml_assets.core.scoring import score_batches, score_frame
from ml_assets.core.training import assemble_training_set, train_candidate
from ml_assets.io.files import atomic_write_bytes, parquet_bytes, read_parquet
from ml_assets.io.parquet_parts import ParquetParts, write_parquet_parts
from ml_assets.io.specs import load_spec, shipped_spec


def _features(spec, day: dt.date, rows: int) -> pd.DataFrame:
    return build_features(landed_day(day, spec, rows), spec)


@pytest.fixture(scope="module")
def trained():
    spec = load_spec(shipped_spec("demo"))
    days = [dt.date(2026, 1, 1) + dt.timedelta(days=i) for i in range(spec.training.window_days)]
    feats = {d.isoformat(): _features(spec, d, 300) for d in days}
    data = assemble_training_set(feats, spec, last_day=days[-1].isoformat())
    pipeline, _ = train_candidate(data, spec, spec.model.candidates[0])
    return spec, pipeline


def test_streamed_scoring_equals_scoring_the_day_whole(trained, tmp_path):
    spec, pipeline = trained
    feats = _features(spec, dt.date(2026, 2, 2), 5_000)
    src = UPath(tmp_path / "features.parquet")
    atomic_write_bytes(src, parquet_bytes(feats))
    parts = ParquetParts(src)
    batches = list(parts.batches(batch_rows=1_000))
    assert parts.num_rows == len(feats) and len(batches) == -(-len(feats) // 1_000)
    assert all(len(b) <= 1_000 for b in batches)

    out = UPath(tmp_path / "preds.parquet")
    write_parquet_parts(out, score_batches(pipeline, "3", parts.batches(batch_rows=1_000), spec))
    pd.testing.assert_frame_equal(read_parquet(out), score_frame(pipeline, "3", feats, spec))


def test_an_empty_day_gives_an_empty_file_with_the_columns(trained, tmp_path):
    spec, pipeline = trained
    src = UPath(tmp_path / "features.parquet")
    atomic_write_bytes(src, parquet_bytes(_features(spec, dt.date(2026, 2, 2), 500).iloc[:0]))
    out = UPath(tmp_path / "preds.parquet")
    write_parquet_parts(out, score_batches(pipeline, "3", ParquetParts(src).batches(), spec))
    preds = read_parquet(out)
    assert len(preds) == 0 and list(preds.columns) == [
        spec.columns.entity_id,
        spec.columns.event_time,
        "score",
        "prediction",
        "model_version",
    ]


def test_a_failure_part_way_keeps_the_earlier_file_and_leaves_no_temporary(trained, tmp_path):
    spec, pipeline = trained
    out = UPath(tmp_path / "preds.parquet")
    earlier = pd.DataFrame({"a": [1, 2, 3]})
    atomic_write_bytes(out, parquet_bytes(earlier))

    def parts():
        yield pd.DataFrame({"a": [4, 5]})
        raise RuntimeError("scoring failed on part 2")

    with pytest.raises(RuntimeError, match="part 2"):
        write_parquet_parts(out, parts())
    pd.testing.assert_frame_equal(read_parquet(out), earlier)
    assert [p.name for p in tmp_path.iterdir()] == ["preds.parquet"]
