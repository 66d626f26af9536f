"""Cells on a Dask cluster: the same records as the serial run, no cell lost to a dead worker, flags checked first."""

from __future__ import annotations

import contextlib
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
import xarray as xr
from distributed import LocalCluster
from helpers import seed

from bayescmoe.cli.rates import protocol_main
from bayescmoe.cli.studies import study_main
from bayescmoe.errors import BayescmoeError
from bayescmoe.model.settings import get_setting
from bayescmoe.studies.engine import Cluster
from bayescmoe.studies.protocols import Protocol
from bayescmoe.studies.store import open_store, run_cells
from bayescmoe.studies.sweep import SweepConfig, fit_cell, new_dataset, run_sweep

#: one spec, one padded size, 4 cells
QUICK = Protocol("quick", ("p1-family",), (300, 350), 2)
CONFIG = SweepConfig(seed=seed(0))


def _cells(ds: xr.Dataset) -> xr.Dataset:
    return ds.drop_vars("seconds")  # wall time, the one field that depends on where a cell ran


@pytest.mark.slow
def test_sweep_on_a_two_worker_cluster_equals_the_serial_run(tmp_path):
    serial = run_sweep(QUICK, tmp_path / "serial.nc", CONFIG, progress=False)
    dask = run_sweep(QUICK, tmp_path / "dask.nc", CONFIG, progress=False, cluster=Cluster(workers=2))
    assert int(dask["done"].sum()) == 4
    xr.testing.assert_identical(_cells(dask), _cells(serial))
    saved = xr.open_dataset(tmp_path / "dask.nc", engine="h5netcdf").load()
    xr.testing.assert_identical(_cells(saved), _cells(serial))


@pytest.mark.slow
def test_a_killed_worker_loses_no_cell_and_a_failed_cell_flushes_the_finished_ones(tmp_path):
    serial = run_sweep(QUICK, tmp_path / "serial.nc", CONFIG, progress=False)
    marker, config = tmp_path / "killed", CONFIG

    def dying(s: str, n: int, r: int) -> dict:
        with contextlib.suppress(FileExistsError):
            marker.touch(exist_ok=False)  # atomic: the first cell to start, and only it, kills its worker
            os._exit(1)
        return fit_cell(get_setting(s), n, r, config)

    def failing(s: str, n: int, r: int) -> dict:
        if (n, r) == (350, 1):  # the last cell, started once a worker has finished another
            raise BayescmoeError("n", "this cell fails")
        return fit_cell(get_setting(s), n, r, config)

    def run(fit, out):
        ds = open_store(out, new_dataset(QUICK, config))
        return run_cells(ds, out, fit, "quick", progress=False, cluster=cluster)

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as local:
        cluster = Cluster(local.scheduler_address)  # a running cluster, reached by its tcp:// address
        survived = run(dying, tmp_path / "killed.nc")
        with pytest.raises(BayescmoeError, match="this cell fails"):
            run(failing, tmp_path / "failed.nc")
    assert marker.exists()
    assert int(survived["done"].sum()) == 4
    xr.testing.assert_identical(_cells(survived), _cells(serial))
    flushed = xr.open_dataset(tmp_path / "failed.nc", engine="h5netcdf").load()
    assert 1 <= int(flushed["done"].sum()) <= 3 and int(flushed["done"].sel(n=350, replicate=1).sum()) == 0
    done = flushed["done"] == 1
    xr.testing.assert_identical(_cells(flushed).where(done), _cells(serial).where(done))


@pytest.mark.parametrize(
    ("flags", "field", "says"),
    [
        (["--workers", "0"], "workers", "positive integer"),
        (["--workers", "2", "--scheduler", "tcp://127.0.0.1:8786"], "workers", "--scheduler local"),
        (["--scheduler", "cluster-7"], "scheduler", "tcp://HOST:PORT"),
        (["--scheduler", "tcp://127.0.0.1:70000"], "scheduler", "tcp://HOST:PORT"),
        pytest.param(  # nothing listens there: the connection times out after 5 s
            ["--scheduler", "tcp://127.0.0.1:1"], "scheduler", "--scheduler", marks=pytest.mark.slow
        ),
    ],
)
def test_bad_cluster_flags_are_one_line_errors_before_any_work(flags, field, says, tmp_path, capsys):
    out = tmp_path / "o"
    assert protocol_main("p1", None, ["--quick", "--settings", "p1-family", "--out", str(out), *flags]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"bayescmoe: error: {field}: ") and says in err[0], err
    assert not out.exists()


def test_study_command_checks_its_cluster_flags(tmp_path, capsys):
    out = tmp_path / "o"
    assert study_main("map-vs-nuts", None, ["--quick", "--workers", "-1", "--out", str(out)]) == 2
    assert capsys.readouterr().err.startswith("bayescmoe: error: workers: ")
    assert not out.exists()


@pytest.mark.slow
def test_errors_cross_processes_and_the_serial_path_does_not_import_distributed():
    err = pickle.loads(pickle.dumps(BayescmoeError("n", "bad")))
    assert (err.field, err.message, str(err)) == ("n", "bad", "n: bad")
    # (xarray itself imports distributed on its first NetCDF write once dask is installed: about 0.3 s)
    code = (
        "import sys, analyses.sbc, bayescmoe.cli.rates, bayescmoe.cli.studies\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'dask', 'distributed'}))\n"
    )
    root = Path(__file__).parents[1]
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=root)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
