"""Survival builder: estimates, bands and the log-rank test equal lifelines run directly."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from lifelines import KaplanMeierFitter
from lifelines.statistics import logrank_test

from app.figures.survival import km_frame, logrank, survival_figure


def lives(n: int, scale: float, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    duration = rng.geometric(1 / scale, n)
    return pd.DataFrame(
        {
            "batch": 0, "memory": rng.choice(["slot", "knn"], n), "layer": rng.integers(0, 2, n), "head": rng.integers(0, 2, n),
            "cell": np.arange(n), "born": 0, "died": duration, "duration": duration,
            "observed": (rng.random(n) < 0.7).astype(int), "cause": "evict",
            "write_weight": rng.random(n), "write_gate": 1.0,
        }
    )


def direct(lifecycles: pd.DataFrame) -> KaplanMeierFitter:
    return KaplanMeierFitter().fit(lifecycles["duration"], lifecycles["observed"])


def test_unstratified_estimate_and_bands_equal_lifelines():
    data = lives(400, 12.0, seed=1)
    curve = km_frame(data)
    kmf = direct(data)
    assert set(curve["stratum"]) == {"all"}
    np.testing.assert_allclose(curve["time"], kmf.survival_function_.index.to_numpy())
    np.testing.assert_allclose(curve["survival"], kmf.survival_function_.iloc[:, 0].to_numpy())
    np.testing.assert_allclose(curve["ci_lower"], kmf.confidence_interval_survival_function_.iloc[:, 0].to_numpy())
    np.testing.assert_allclose(curve["ci_upper"], kmf.confidence_interval_survival_function_.iloc[:, 1].to_numpy())
    np.testing.assert_allclose(curve["at_risk"], kmf.event_table["at_risk"].to_numpy())


def test_hand_computed_estimate():
    # durations 1,2,2,3(censored): S(1) = 3/4, S(2) = 3/4 * 1/3 = 1/4, S(3) = 1/4
    data = pd.DataFrame({"duration": [1, 2, 2, 3], "observed": [1, 1, 1, 0], "memory": "slot", "layer": 0, "head": 0})
    curve = km_frame(data)
    assert curve["time"].tolist() == [0.0, 1.0, 2.0, 3.0]
    np.testing.assert_allclose(curve["survival"], [1.0, 0.75, 0.25, 0.25])


@pytest.mark.parametrize("stratify_by, column", [("head", None), ("memory", "memory"), ("layer", "layer")])
def test_each_stratum_equals_lifelines_on_its_lives(stratify_by, column):
    data = lives(600, 9.0, seed=2)
    curves = km_frame(data, stratify_by)
    if stratify_by == "head":
        groups = data.groupby(["memory", "layer", "head"])
        name = lambda key: f"{key[0]} L{key[1]} H{key[2]}"
    else:
        groups = data.groupby(column)
        name = str
    assert curves["stratum"].nunique() == groups.ngroups
    for key, part in groups:
        curve = curves[curves["stratum"] == name(key)]
        assert curve["n"].iloc[0] == len(part)
        np.testing.assert_allclose(curve["survival"], direct(part).survival_function_.iloc[:, 0].to_numpy())


def test_write_strength_bins_split_by_weight_quantiles():
    data = lives(300, 9.0, seed=3)
    curves = km_frame(data, "write_strength", strength_bins=3)
    strata = list(dict.fromkeys(curves["stratum"]))
    assert len(strata) == 3
    assert sum(curves.groupby("stratum")["n"].first()) == 300
    lowest = data[data["write_weight"] <= data["write_weight"].quantile(1 / 3)]
    first = curves[curves["stratum"] == strata[0]]
    assert first["n"].iloc[0] == len(lowest)
    np.testing.assert_allclose(first["survival"], direct(lowest).survival_function_.iloc[:, 0].to_numpy())


def test_unknown_stratification_is_refused_with_the_choices():
    with pytest.raises(ValueError, match="cannot stratify by 'colour'"):
        km_frame(lives(10, 3.0, 0), "colour")


def test_logrank_equals_lifelines():
    a, b = lives(300, 8.0, seed=4), lives(250, 14.0, seed=5)
    statistic, p_value = logrank(a, b)
    expected = logrank_test(a["duration"], b["duration"], a["observed"], b["observed"])
    assert statistic == pytest.approx(expected.test_statistic)
    assert p_value == pytest.approx(expected.p_value)
    assert p_value < 0.01  # the two lifetimes really differ


def test_logrank_needs_both_sets():
    with pytest.raises(ValueError, match="both"):
        logrank(lives(5, 3.0, 0), lives(5, 3.0, 0).iloc[0:0])


def test_figure_has_a_line_and_a_band_per_stratum():
    data = lives(200, 9.0, seed=6)
    fig = survival_figure(data, "memory", title="lifetimes")
    lines = [t for t in fig.data if t.showlegend is not False]
    bands = [t for t in fig.data if t.fill == "tonexty"]
    assert len(lines) == 2 and len(bands) == 2
    slot = data[data["memory"] == "slot"]
    (line,) = [t for t in lines if t.name.startswith("slot")]
    np.testing.assert_allclose(line.y, direct(slot).survival_function_.iloc[:, 0].to_numpy())
    assert line.line.shape == "hv"


def test_long_curves_are_thinned_for_the_browser():
    data = lives(5000, 2000.0, seed=7)
    fig = survival_figure(data, max_points=100)
    (line,) = [t for t in fig.data if t.showlegend is not False]
    assert len(line.x) <= 100
    assert line.x[-1] == data["duration"].max()
