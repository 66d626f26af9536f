"""Where a study's cells are fitted: in this process, or as tasks of a Dask cluster (``dask.distributed``).

:class:`Cluster` names the cluster: ``"local"`` starts an embedded ``LocalCluster`` of worker
processes (one thread each) for the run, ``tcp://HOST:PORT`` connects to a running scheduler (for
example one that dask-jobqueue started on Slurm or PBS). Each cell is one task returning its record;
the driver alone writes the store (:func:`bayescmoe.studies.store.run_cells`), so journalling and
resume are those of a serial run, and since a cell's randomness comes from its own key the records
are bit-identical to it (except wall times).

Cells are submitted in the store's n-major order with decreasing priority, so the scheduler hands
them out in that order and a worker mostly gets cells of the same (setting, n), hence of the same
padded data shape, one after another: it reuses the programs it compiled, and every worker is
configured (:func:`bayescmoe.runtime.configure`: its virtual devices and the persistent compilation
cache) before its first task: a LocalCluster's workers preload this module (:func:`dask_setup`),
a running scheduler's workers are configured on connection. A
worker that dies mid-task (killed, out of memory) is replaced by its nanny and its task is
rescheduled by Dask (up to ``distributed.scheduler.allowed-failures`` times, default 3).

``distributed`` is imported only when a cluster is used: the serial path does not pay for it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any

from bayescmoe.errors import BayescmoeError, require, require_positive_ints
from bayescmoe.runtime import configure, release_compiled_programs

#: the ``scheduler`` of an embedded LocalCluster
LOCAL = "local"
#: seconds to wait for a ``tcp://`` scheduler before giving up
CONNECT_TIMEOUT = 5.0
_ADDRESS = re.compile(r"tcp://(\[[0-9A-Fa-f:.]+\]|[^\s:/\[\]]+):(\d{1,5})")

Cell = tuple[str, int, int]


@dataclass(frozen=True)
class Cluster:
    """Where cells run: ``scheduler`` is :data:`LOCAL` (a LocalCluster of ``workers`` processes, default
    one per core) or the ``tcp://HOST:PORT`` of a running scheduler, whose workers are its own."""

    scheduler: str = LOCAL
    workers: int | None = None

    def __post_init__(self) -> None:
        if self.scheduler == LOCAL:
            if self.workers is not None:
                require_positive_ints(workers=self.workers)
            return
        match = _ADDRESS.fullmatch(self.scheduler)
        require(
            match is not None and int(match.group(2)) < 65536,
            "scheduler",
            f"expected 'local' or tcp://HOST:PORT, got {self.scheduler!r}",
        )
        require(self.workers is None, "workers", "only for --scheduler local; a tcp:// scheduler has its own workers")

    @contextmanager
    def client(self) -> Iterator[Any]:
        """A ``distributed.Client`` on this cluster, closed (with the LocalCluster it started) on exit."""
        from distributed import Client, LocalCluster

        if self.scheduler != LOCAL:
            try:
                client = Client(self.scheduler, timeout=CONNECT_TIMEOUT)
            except OSError:
                raise BayescmoeError(
                    "scheduler",
                    f"no Dask scheduler answers at {self.scheduler} within {CONNECT_TIMEOUT:g} s; "
                    "start one (dask scheduler) or check --scheduler",
                ) from None
            with client:
                client.run(configure)
                yield client
            return
        # n_workers None: one per core; each worker process runs dask_setup before any task
        with (
            LocalCluster(
                n_workers=self.workers,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                silence_logs=logging.ERROR,
                preload=[__name__],
            ) as cluster,
            Client(cluster) as client,
        ):
            yield client


def dask_setup(worker: Any) -> None:
    """Dask's preload hook: configure a LocalCluster worker process before its first task (module docstring)."""
    configure()


def _released(fit: Callable[[str, int, int], Mapping[str, Any]], *cell: Any) -> Mapping[str, Any]:
    """``fit(*cell)``, then JAX's compiled programs dropped if they hold too many memory mappings
    (:func:`~bayescmoe.runtime.release_compiled_programs`), in whichever process ran it."""
    try:
        return fit(*cell)
    finally:
        release_compiled_programs()


@contextmanager
def cell_results(
    fit: Callable[[str, int, int], Mapping[str, Any]], todo: Sequence[Cell], cluster: Cluster | None
) -> Iterator[Iterable[Mapping[str, Any]]]:
    """The records of ``fit`` on every cell of ``todo``: computed here in order when ``cluster`` is None,
    else as tasks of ``cluster`` (connected on entry, closed on exit), in the order they finish."""
    fit = partial(_released, fit)
    if cluster is None or not todo:
        yield (fit(*cell) for cell in todo)
        return
    from distributed import as_completed

    with cluster.client() as client:
        done = as_completed([client.submit(fit, *cell, priority=-i, pure=False) for i, cell in enumerate(todo)])
        yield (future.result() for future in done)
