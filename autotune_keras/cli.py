"""Shared entry point for the fire CLIs: ``--help`` that works, and one-line user errors."""

from __future__ import annotations

import sys
from collections.abc import Callable

USER_ERRORS = (FileExistsError, FileNotFoundError, ValueError)


def run(command: Callable, module: str, argv: list[str] | None = None) -> None:
    """Run ``command`` under fire as ``python -m module``; user errors exit with ``error: ...``."""
    import fire

    args = list(sys.argv[1:] if argv is None else argv)
    if any(a in ("-h", "--help") for a in args):
        # commands that take **overrides would read --help as an override; ask fire for help instead
        args = [a for a in args if a not in ("-h", "--help")] + ["--", "--help"]
    try:
        fire.Fire(command, command=args, name=f"python -m {module}")
    except USER_ERRORS as error:
        sys.exit(f"error: {error}")
