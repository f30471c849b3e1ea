"""Files written so that nothing half-written is ever left under a final name (temp file + rename),
and content hashes."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write ``text`` to a temp file beside ``path`` and rename it into place."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)


def atomic_write_json(path: str | Path, data) -> None:
    """JSON with sorted keys, written atomically."""
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to a temp file beside ``path`` and rename it into place."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def same_file(a: str | Path, b: str | Path) -> bool:
    """Whether two paths name one file (resolved paths, or the same inode)."""
    a, b = Path(a), Path(b)
    if a.resolve() == b.resolve():
        return True
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def check_output_file(path: str | Path, overwrite: bool = False, inputs: tuple = (), suffixes: tuple[str, ...] = ()) -> Path:
    """Refuse, before any work, an output file that cannot or must not be written: one of the
    ``inputs``, an existing file without ``overwrite``, a folder, a path below a file, an
    unwritable folder, or (with ``suffixes``) an extension that cannot be written."""
    path = Path(path)
    for source in inputs:
        if same_file(path, source):
            raise FileExistsError(f"{path}: is the input {source}; write the result to another file")
    if path.is_dir():
        raise IsADirectoryError(f"{path}: is a folder; give a file name")
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path}: already exists; pass --overwrite to replace it")
    if suffixes and path.suffix.lower() not in suffixes:
        raise ValueError(f"{path}: cannot write {path.suffix or 'files without an extension'}; use one of {', '.join(suffixes)}")
    return _writable_place(path)


def _writable_place(path: Path) -> Path:
    """``path`` when the folder it would be created in exists (or can be) and is writable."""
    parent = _existing_parent(path)
    if not parent.is_dir():
        raise NotADirectoryError(f"{path}: {parent} is a file, not a folder")
    if not os.access(parent, os.W_OK):
        raise PermissionError(f"{path}: cannot write in {parent}")
    return path


def check_output_folder(path: str | Path, marker: str, overwrite: bool = False, inputs: tuple = ()) -> Path:
    """Refuse an output folder that must not be written: an existing one without ``overwrite``,
    or one this project did not write (no ``marker`` file in it) even with ``overwrite``, or one
    that is, holds or lies inside one of the ``inputs``."""
    path = Path(path)
    for source in inputs:
        source = Path(source).resolve()
        resolved = path.resolve()
        if resolved == source or source.is_relative_to(resolved) or resolved.is_relative_to(source):
            raise FileExistsError(f"{path}: is, holds or lies in the input {source}; choose another folder")
    if path.exists():
        if not path.is_dir():
            raise NotADirectoryError(f"{path}: is a file, not a folder")
        if any(path.iterdir()):
            if not (path / marker).is_file():
                raise FileExistsError(f"{path}: holds files this project did not write (no {marker}); choose another folder")
            if not overwrite:
                raise FileExistsError(f"{path}: already exists; pass --overwrite to replace it")
    return _writable_place(path)


def _existing_parent(path: Path) -> Path:
    parent = path.resolve().parent
    while not parent.exists():
        parent = parent.parent
    return parent


def remove_stale_temps(folder: str | Path, name: str) -> list[Path]:
    """Remove ``.NAME.tmp-PID`` and ``.NAME.old-PID`` left in ``folder`` by killed processes (their
    PID no longer runs); returns what was removed."""
    import shutil

    removed = []
    folder = Path(folder)
    if not folder.is_dir():
        return removed
    for leftover in folder.glob(f".{name}.*-*"):
        kind, _, pid = leftover.name.rpartition("-")
        if not kind.endswith((".tmp", ".old")) or not pid.isdigit() or _alive(int(pid)):
            continue
        shutil.rmtree(leftover) if leftover.is_dir() else leftover.unlink()
        removed.append(leftover)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
