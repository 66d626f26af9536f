"""Files: atomic, durable output (a killed or failed write never leaves a partial file behind) and
TOML input with one-line errors.

A result is written to a hidden temporary file beside its path (``.<stem>.<random>.part<suffix>``),
flushed to disk (the file, then its folder), and renamed over the path. A SIGKILL cannot run any
clean-up, so the next write to the same path removes what a killed one left.
"""

from __future__ import annotations

import os
import tempfile
import tomllib
from collections.abc import Callable
from pathlib import Path

from bayescmoe.errors import BayescmoeError, require


def _fsync(path: str | os.PathLike, directory: bool = False) -> None:
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if directory else 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def leftovers(path: str | os.PathLike) -> list[Path]:
    """Temporary files that killed writes of ``path`` left beside it."""
    path = Path(path)
    return sorted(path.parent.glob(f".{path.stem}.*.part{path.suffix}"))


def atomic_write(path: str | os.PathLike, write: Callable[[Path], object]) -> Path:
    """Call ``write(tmp)`` on a temporary file beside ``path``, make it durable, then rename it to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in leftovers(path):
        stale.unlink(missing_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=f".part{path.suffix}")
    os.close(fd)
    try:
        write(Path(tmp))
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the file the mode open() would
        _fsync(tmp)
        os.replace(tmp, path)
        _fsync(path.parent, directory=True)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def require_writable(directory: str | os.PathLike, field: str = "out") -> Path:
    """Check, before any long work, that files can be written in ``directory``; leaves nothing behind.

    Missing folders are created for the check and removed again (a real write, not a permission
    test: root passes every permission test, not every write).
    """
    directory = Path(directory)
    missing = []
    probe = directory
    while not probe.exists() and probe != probe.parent:
        missing.append(probe)
        probe = probe.parent
    created = []
    try:
        for folder in reversed(missing):
            folder.mkdir()
            created.append(folder)
        with tempfile.NamedTemporaryFile(dir=directory, prefix=".bayescmoe-write-test."):
            pass
    except OSError as err:
        raise BayescmoeError(field, f"cannot write to {directory} ({err.strerror or err})") from None
    finally:
        for folder in reversed(created):
            folder.rmdir()
    return directory


def read_toml(path: str | os.PathLike, field: str = "config") -> dict:
    """The tables of a TOML file, or a one-line error for ``field`` naming the file."""
    path = Path(path)
    require(not path.is_dir(), field, f"{path} is a directory, not a TOML file")
    require(path.is_file(), field, f"no such file: {path}")
    try:
        return tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise BayescmoeError(field, f"{path} is not valid TOML ({err})") from None
