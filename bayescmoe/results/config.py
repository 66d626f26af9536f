"""Settings from TOML files: the same tables as :meth:`Setting.to_config`.

name = "my-cell"                       # optional: defaults to the file's stem
[spec]      gate = "constant"
[spec.frozen]  family = "student_t"  df = 5.0  mean = "linear"  weight = [1.0, 0.0]  bias = 0.0  nu = 0.1
[spec.prompt]  mean = "linear"  bias = true
[spec.priors]  nu = "flat"  a = ["normal", 0.0, 2.0]
[truth]     lam = 0.3  a = [-1.0, 1.0]  b = 0.5  nu = 0.1
[truth.rates.lam]  coef = 0.5  alpha = 0.25   # optional: lam*_n = 0.3 + 0.5 n^-1/4
[data]      n = 2000  x_dist = "normal"

With a data file (``bayescmoe fit --config SPEC.toml --data DATA``) only ``[spec]`` is read
(:func:`load_spec`); a frozen expert given by its predictions is ``mean = "given"  dim = d``.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bayescmoe.errors import BayescmoeError, require
from bayescmoe.model.settings import Setting
from bayescmoe.model.spec import ModelSpec
from bayescmoe.model.truth import Truth

TOP_LEVEL = {"name", "paper", "regime", "description", "spec", "truth", "data"}


def _require_tables(config: Mapping[str, Any], sections: tuple[str, ...]) -> None:
    """A config is a table of the :data:`TOP_LEVEL` fields that has every one of ``sections``."""
    require(isinstance(config, Mapping), "config", "must be a table")
    unknown = sorted(set(config) - TOP_LEVEL)
    require(not unknown, "config", f"unknown field(s) {unknown}; allowed: {sorted(TOP_LEVEL)}")
    for section in sections:
        require(section in config, section, f"missing [{section}] table")


def setting_from_config(config: Mapping[str, Any], default_name: str = "custom") -> Setting:
    """Build and validate a :class:`Setting` from its dict form."""
    _require_tables(config, ("spec", "truth"))
    data = config.get("data", {})
    require(isinstance(data, Mapping), "data", "must be a table")
    extra = sorted(set(data) - {"n", "x_dist"})
    require(not extra, "data", f"unknown field(s) {extra}; allowed: ['n', 'x_dist']")
    try:
        return Setting(
            name=str(config.get("name", default_name)),
            paper=str(config.get("paper", "custom")),
            regime=str(config.get("regime", "custom")),
            description=str(config.get("description", "")),
            spec=ModelSpec.from_config(config["spec"]),
            truth=Truth.from_config(config["truth"]),
            n=data.get("n", 2000),
            x_dist=data.get("x_dist", "normal"),
        )
    except TypeError as err:
        raise BayescmoeError("config", f"malformed entry ({err})") from None


def read_config(path: str | Path) -> dict[str, Any]:
    """The tables of a TOML config file, or a one-line error naming the file."""
    path = Path(path)
    require(not path.is_dir(), "config", f"{path} is a directory, not a TOML file")
    require(path.is_file(), "config", f"no such file: {path}")
    try:
        return tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise BayescmoeError("config", f"{path} is not valid TOML ({err})") from None


def load_setting(path: str | Path) -> Setting:
    """Read a setting (spec, truth and data) from a TOML file."""
    return setting_from_config(read_config(path), default_name=Path(path).stem)


def load_spec(path: str | Path) -> tuple[str, ModelSpec]:
    """(name, spec) of a TOML config whose data come from a file: ``[truth]`` and ``[data]`` are unused."""
    config = read_config(path)
    _require_tables(config, ("spec",))
    try:
        return str(config.get("name", Path(path).stem)), ModelSpec.from_config(config["spec"])
    except TypeError as err:
        raise BayescmoeError("config", f"malformed entry ({err})") from None
