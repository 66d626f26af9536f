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
from numpyro.distributions.transforms import StickBreakingTransform
from numpyro.infer.util import log_density

from bayescmoe.model.numpyro_model import model as bayescmoe_model
from bayescmoe.model.params import bijection, constrain, log_posterior, unconstrain
from bayescmoe.model.settings import get_setting
from bayescmoe.model.simulate import simulate
from bayescmoe.model.spec import ModelSpec


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


def two_prompt_cases() -> list[tuple[ModelSpec, dict]]:
    """p1-two-prompts (constant gate), with flat and uneven Dirichlet weights (frozen first), and its prompts under
    the softmax gate, each with a parameter point."""
    setting = get_setting("p1-two-prompts")
    truth = setting.truth.at(setting.spec, 200)
    frozen, prompts = setting.spec.frozen, setting.spec.prompt
    softmax = ModelSpec(frozen, prompts, gate="softmax")
    gate = {"beta": np.stack([np.full(8, 0.3), np.linspace(-0.5, 0.5, 8)]), "tau": np.array([0.2, -0.4])}
    return [
        (setting.spec, truth),
        (ModelSpec(frozen, prompts, priors={"lam": "flat"}), truth),
        (ModelSpec(frozen, prompts, priors={"lam": ["dirichlet", 2.0, 1.0, 0.5]}), truth),
        (softmax, {k: v for k, v in truth.items() if k != "lam"} | gate),
    ]


@pytest.mark.slow
@pytest.mark.parametrize("case", range(4), ids=["constant", "flat-weights", "uneven-dirichlet", "softmax"])
def test_hand_written_numpyro_log_density_matches_the_package_with_two_prompts(case):
    """K = 2: the user's model (w ~ Dirichlet over (w0, lam), MixtureGeneral of three experts) is the package's
    posterior on the natural scale; on the unconstrained scale after the change of variables between NumPyro's
    stick-breaking of (w0, lam) and the package's of (lam, w0), whose Jacobian is autodiff's."""
    spec, truth = two_prompt_cases()[case]
    x, y = simulate(key(4), spec, truth, 200)
    desc = reference.describe(spec.to_config())
    assert desc.names == spec.param_names and desc.num_prompts == 2
    assert desc.sites == (("w", "a", "b", "nu") if spec.gate == "constant" else desc.names)
    hand = reference.numpyro_model(desc)
    phi = reference.weights_change(bijection(spec, "lam"), StickBreakingTransform().inv) if "w" in desc.sites else None
    rng = np.random.default_rng(seed(1))
    for scale in (0.0, 0.3, 1.0):
        u = {k: v + scale * rng.standard_normal(np.shape(v)) for k, v in unconstrain(spec, truth).items()}
        theta = constrain(spec, u)
        ref = float(log_posterior(spec, theta, x, y))
        assert float(log_density(hand, (x, y), {}, reference.to_sites(desc, theta))[0]) == pytest.approx(ref, rel=1e-10)
        ref_u, ref_g = reference.unconstrained_density(partial(bayescmoe_model, spec), u, x, y, desc.names)
        theirs = {("w" if k == "lam" else k): (phi(v) if k == "lam" else v) for k, v in u.items()}
        hand_u, hand_g = reference.unconstrained_density(hand, theirs, x, y, desc.sites)
        if phi is not None:
            hand_u, hand_g = reference.pull_back_weights(desc, phi, u["lam"], hand_u, hand_g)
        assert hand_u == pytest.approx(ref_u, rel=1e-10)
        np.testing.assert_allclose(hand_g, ref_g, rtol=1e-8, atol=1e-8)


SCRIPT = Path(__file__).parents[1] / "benchmarks" / "peers.py"


def test_same_mass_contestant_differs_from_numpyro_defaults_as_the_docs_say():
    """docs/performance.md lists this one difference; numpyro-same-mass takes it over."""
    peers = runpy.run_path(str(SCRIPT))
    assert peers["options_against_numpyro"]() == {"regularize_mass_matrix": (False, True)}


def test_auto_init_starts_several_prompts_at_the_truth():
    """From default starts two prompts' chains split over the labellings: ``--init auto`` (the default) avoids it."""
    init_for = runpy.run_path(str(SCRIPT))["init_for"]
    one, two = (get_setting(name).spec.to_config() for name in ("p1-family", "p1-two-prompts"))
    assert [init_for("auto", one), init_for("auto", two)] == ["default", "truth"]
    assert [init_for("default", two), init_for("truth", one)] == ["default", "truth"]


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
