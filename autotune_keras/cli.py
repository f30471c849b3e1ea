"""Shared entry point for the fire CLIs: ``--help`` that works, values that reach the code as the
user typed them, one-line user errors, and TensorFlow's start-up chatter kept out of sight.

python-fire evaluates every value as Python, so ``--key C#`` would arrive as ``C`` (``#`` starts a
comment) and a file named ``2024`` as a number. Values of parameters annotated ``str`` are handed
to fire quoted, so they arrive verbatim; numbers are checked here so an error names the flag.
"""

from __future__ import annotations

import inspect
import os
import re
import sys
import threading
import typing
from collections.abc import Callable

# a user (or the data, or a missing install) did something the command cannot do: one line, no
# traceback (AudioError, ConfigError, ModelLoadError, SoundfontError, ParityError are ValueErrors)
USER_ERRORS = (FileExistsError, FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError, ValueError)
NOISE = re.compile(
    rb"(All log messages before absl::InitializeLog|oneDNN custom operations are on|Could not find cuda drivers|"
    rb"failed call to cuInit|cuda_platform|cuda_executor|Unable to register cu|computation placer already registered|"
    rb"Created TensorFlow Lite XNNPACK delegate|TF-TRT Warning|This TensorFlow binary is optimized|"
    rb"rebuild TensorFlow with the appropriate compiler flags|oneDNN supports DT_STRING only|"
    rb"apitools not found, and bigquery client|Logging handler created)"
)


class UsageError(ValueError):
    """A flag's value is not what the command takes; the message names the flag."""


def _kind(annotation) -> str | None:
    """'str', 'float', 'int' or 'bool' for a parameter annotation (optional types included)."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)] or [annotation]
    names = {getattr(a, "__name__", str(a)) for a in args}
    for kind in ("bool", "float", "int", "str"):
        if kind in names:
            return kind
    return None


def prepare_args(command: Callable, args: list[str]) -> list[str]:
    """``args`` with every value of a ``str`` parameter quoted for fire (so it arrives verbatim)
    and every number checked (an error names the flag)."""
    signature = inspect.signature(command)
    hints = typing.get_type_hints(command)
    params = signature.parameters
    positional = [p for p in params.values() if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    varargs = next((p for p in params.values() if p.kind == p.VAR_POSITIONAL), None)
    takes_overrides = any(p.kind == p.VAR_KEYWORD for p in params.values())

    def convert(name: str, value: str, flag: str) -> str:
        kind = _kind(hints.get(name, str))
        if kind == "str":
            return repr(value)
        if kind in ("float", "int"):
            try:
                float(value) if kind == "float" else int(value)
            except ValueError:
                raise UsageError(f"{flag} {value}: expected {'a number' if kind == 'float' else 'a whole number'}") from None
        if kind == "bool" and value.lower() not in ("true", "false", "1", "0", "yes", "no"):
            raise UsageError(f"{flag} {value}: expected true or false")
        if kind == "bool":
            return str(value.lower() in ("true", "1", "yes"))
        return value

    out, index, i = [], 0, 0
    while i < len(args):
        token = args[i]
        if token == "--":
            out += args[i:]
            break
        if token.startswith("--") and len(token) > 2:
            name, has_value, value = token[2:].partition("=")
            key = name.replace("-", "_")
            param = params.get(key)
            if param is None and not takes_overrides:  # refused before the command runs, not after it
                flags = ", ".join("--" + p.name for p in params.values() if p.kind != p.VAR_POSITIONAL)
                raise UsageError(f"--{name}: no such flag (this command takes {flags})")
            if param is None or param.kind == param.VAR_KEYWORD:  # a config override: the config checks it
                out.append(token)
                if not has_value and i + 1 < len(args) and not args[i + 1].startswith("--"):
                    out.append(args[i + 1])  # its value, not a positional argument
                    i += 1
            elif has_value:
                out.append(f"--{name}={convert(key, value, '--' + name)}")
            elif _kind(hints.get(key)) == "bool" and (i + 1 == len(args) or args[i + 1].startswith("--")):
                out.append(token)  # a bare boolean flag
            elif i + 1 < len(args):
                out += [token, convert(key, args[i + 1], "--" + name)]
                i += 1
            else:
                raise UsageError(f"--{name}: needs a value")
        else:
            param = positional[index] if index < len(positional) else varargs
            index += 1
            out.append(convert(param.name, token, param.name) if param is not None else token)
        i += 1
    return out


class NativeLogFilter:
    """Routes this process's file descriptor 2 (native libraries and Python alike) through a pipe
    and drops TensorFlow's known start-up lines; everything else reaches the terminal unchanged.
    Worker processes inherit it."""

    active: NativeLogFilter | None = None

    @classmethod
    def install(cls) -> NativeLogFilter:
        """The process's filter (installed once)."""
        if cls.active is None:
            cls.active = cls()
        return cls.active

    def __init__(self) -> None:
        self.saved = os.dup(2)
        read, write = os.pipe()
        os.dup2(write, 2)
        os.close(write)
        self.thread = threading.Thread(target=self._pump, args=(read,), daemon=True)
        self.thread.start()

    def _pump(self, read: int) -> None:
        pending = b""
        while chunk := os.read(read, 65536):
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                if not NOISE.search(line):
                    os.write(self.saved, line + b"\n")
            if b"\r" in pending:  # progress bars redraw without newlines
                os.write(self.saved, pending)
                pending = b""
        if pending and not NOISE.search(pending):
            os.write(self.saved, pending)

    def close(self) -> None:
        """Put the real stderr back and let the pump finish."""
        sys.stderr.flush()
        os.dup2(self.saved, 2)
        self.thread.join(timeout=5.0)
        NativeLogFilter.active = None


def run(command: Callable, module: str, argv: list[str] | None = None) -> None:
    """Run ``command`` under fire as ``python -m module``; user errors exit with ``error: ...``.
    ``--verbose`` shows TensorFlow's own logging."""
    import fire

    args = list(sys.argv[1:] if argv is None else argv)
    verbose = "--verbose" in args
    args = [a for a in args if a != "--verbose"]
    log_filter = NativeLogFilter.active
    if verbose:
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "0"
    elif argv is None:
        log_filter = NativeLogFilter.install()
    try:
        if any(a in ("-h", "--help") for a in args):
            # commands that take **overrides would read --help as an override; ask fire for help instead
            args = [a for a in args if a not in ("-h", "--help")] + ["--", "--help"]
        else:
            args = prepare_args(command, args)
        fire.Fire(command, command=args, name=f"python -m {module}")
    except USER_ERRORS as error:
        message = f"{error.filename}: {error.strerror}" if isinstance(error, OSError) and error.filename else str(error)
        print(f"error: {message}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print("interrupted: run the same command again to resume where it can", file=sys.stderr)
        sys.exit(130)
    finally:  # before any traceback is printed, so it reaches the terminal
        if log_filter is not None:
            log_filter.close()
