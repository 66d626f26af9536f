"""The peers benchmark: its hand-written NumPyro model (tests/reference.py) is bayescmoe's posterior, and its
--quick run reports every contestant's ESS-bulk/s and ESS-tail/s with ratios to ours."""

from __future__ import annotations

import importlib.util
import json
import runpy
import subprocess
import sys
from functools import partial
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest
import reference
from helpers import key, seed
from numpyro.infer.util import log_density

from bayescmoe.model.numpyro_model import model as bayescmoe_model
from bayescmoe.model.params import constrain, log_posterior, unconstrain
from bayescmoe.model.settings import get_setting
from bayescmoe.model.simulate import simulate


@pytest.mark.slow
@pytest.mark.parametrize("name", ["p1-family", "p2-distinguishable"])
def test_hand_written_numpyro_log_density_matches_the_package(name):
    setting = get_setting(name)
    spec, truth = setting.spec, setting.truth.at(setting.spec, 200)
    x, y = simulate(key(3), spec, truth, 200)
    desc = reference.describe(spec.to_config())
    assert desc.names == spec.param_names
    hand = reference.numpyro_model(desc)
    rng = np.random.default_rng(seed(0))
    for scale in (0.0, 0.3, 1.0):
        u = {k: v + scale * rng.standard_normal(np.shape(v)) for k, v in unconstrain(spec, truth).items()}
        theta = constrain(spec, u)
        ref = float(log_posterior(spec, theta, x, y))
        assert float(log_density(hand, (x, y), {}, theta)[0]) == pytest.approx(ref, rel=1e-10)
        ref_u, ref_g = reference.unconstrained_density(partial(bayescmoe_model, spec), u, x, y, desc.names)
        hand_u, hand_g = reference.unconstrained_density(hand, u, x, y, desc.names)
        assert hand_u == pytest.approx(ref_u, rel=1e-10)
        np.testing.assert_allclose(hand_g, ref_g, rtol=1e-8, atol=1e-8)
    assert jnp.isfinite(ref)


SCRIPT = Path(__file__).parents[1] / "benchmarks" / "peers.py"


def test_same_mass_contestant_differs_from_numpyro_defaults_as_the_docs_say():
    """docs/performance.md lists this one difference; numpyro-same-mass takes it over."""
    peers = runpy.run_path(str(SCRIPT))
    assert peers["options_against_numpyro"]() == {"regularize_mass_matrix": (False, True)}


@pytest.mark.slow
@pytest.mark.parametrize("peer", [None, "nutpie"])
def test_quick_run_reports_bulk_and_tail_ratios(peer, tmp_path):
    """JAX contestants always; nutpie only where the optional extra ``peers`` is installed."""
    if peer and importlib.util.find_spec(peer) is None:
        pytest.skip(f"{peer} is not installed (the optional extra peers)")
    contestants = ["fit_nuts", "fit_nuts-regularised", "numpyro", "numpyro-same-mass", *([peer] if peer else [])]
    command = [sys.executable, str(SCRIPT), "--quick", "--settings", "p1-family", "--contestants", *contestants]
    subprocess.run([*command, "--out", str(tmp_path)], check=True, capture_output=True, timeout=900)
    summary = json.loads((tmp_path / "peers.json").read_text())["summary"]
    for which in ("first", "repeated"):
        rows = summary[f"p1-family/{which}"]
        assert list(rows) == contestants
        for row in rows.values():
            for method in ("bulk", "tail"):
                assert row[f"min_ess_{method}"] > 0 and row[f"{method}_per_s"] > 0
                low, high = row[f"ratio_{method}_range"]
                assert low <= row[f"ratio_{method}"] <= high
        assert rows["fit_nuts"]["ratio_tail"] == pytest.approx(1.0)
    table = (tmp_path / "peers.md").read_text()
    assert "fit_nuts / this, ESS-tail/s" in table and "| numpyro-same-mass |" in table
