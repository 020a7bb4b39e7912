"""The ``lowbit`` command line. Each subcommand lives in its own module with a
``register(subparsers)`` function that adds its parser and sets ``func``.

Errors are handled here, once for every subcommand:

* a user error -- a bad or missing argument, an unknown format / workload / preset name, a file
  that cannot be read, an output path (``--csv``, ``--plot``) that cannot be written -- prints
  one line, ``lowbit COMMAND: error: ...``, on stderr and exits with status 2 (argparse's
  status for usage errors). No traceback: user errors are ``ValueError``, ``KeyError``,
  ``TypeError``, ``OverflowError`` and ``OSError`` raised while a command runs. Set the
  environment variable ``LOWBIT_TRACEBACK=1`` to get the traceback instead.
* any other exception is a bug in lowbit and keeps its traceback.
* a closed pipe (``lowbit formats | head -1``) ends the command silently with status 141
  (128 + SIGPIPE, what a Unix tool stopped by the broken pipe reports; a shell pipeline
  without ``pipefail`` still succeeds); Ctrl-C ends it with status 130, also without a
  traceback.

Numbers that start with a minus sign (``-3.5``, ``-1e3``, ``-inf``) are values, never options:
``lowbit quantize --format int8 -inf -3.5 2``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

#: subcommand modules, in the order ``lowbit --help`` lists them
SUBCOMMANDS = (
    "lowbit.simulator.cli._formats",    # formats, quantize
    "lowbit.simulator.cli._estimate",   # estimate
    "lowbit.simulator.cli._sweep",      # sweep
    "lowbit.simulator.cli._presets",    # presets
    "lowbit.simulator.cli._workloads",  # workloads
    "lowbit.simulator.bench._main",     # bench
)

#: argparse destinations that name a file a command writes; checked before the command runs
OUTPUT_OPTIONS = ("csv", "plot")

#: exceptions that a command raises for bad user input (one line on stderr, status 2)
USER_ERRORS = (ValueError, KeyError, TypeError, OverflowError, OSError)

#: exit status of usage and user errors (argparse's)
EXIT_USAGE = 2
#: exit status when stdout is closed early: 128 + SIGPIPE (13)
EXIT_BROKEN_PIPE = 141
#: exit status after Ctrl-C: 128 + SIGINT (2)
EXIT_INTERRUPTED = 130


def _is_number(text: str) -> bool:
    """Whether ``text`` is a float literal Python accepts (``-3.5``, ``-1e3``, ``-inf``, ``-nan``)."""
    try:
        float(text)
    except ValueError:
        return False
    return True


class Parser(argparse.ArgumentParser):
    """argparse with lowbit's rules: errors are one line, numbers are values, and help into a
    closed pipe ends like any other output (status 141).

    argparse takes a token that starts with ``-`` for an option unless it looks like a plain
    negative number (``-3``, ``-0.5``), so ``-1e3`` and ``-inf`` were refused as unknown
    options. Here every token that parses as a float is an argument value (lowbit has no option
    spelled like a number). ``_parse_optional`` is the hook argparse itself uses for that
    decision (returning ``None`` means "positional"), in every Python version lowbit supports.
    """

    def error(self, message: str):
        """Print one line (``PROG: error: MESSAGE``) on stderr and exit with status 2."""
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")

    def print_help(self, file=None):
        """Write the help to ``file`` (default stdout); unlike argparse, a write error (a
        closed pipe) is raised, so :func:`main` exits with status 141 as for any output."""
        (sys.stdout if file is None else file).write(self.format_help())

    def _parse_optional(self, arg_string):
        if _is_number(arg_string):
            return None
        return super()._parse_optional(arg_string)


def _version() -> str:
    from ... import __version__

    return __version__


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="lowbit",
        description="Bit-exact low-precision formats and hardware cost models.",
        epilog="Errors print one line and exit with status 2 (LOWBIT_TRACEBACK=1 shows the "
               "traceback); a closed output pipe exits silently with status 141.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")  # subparsers are Parser too
    for name in SUBCOMMANDS:
        try:
            mod = importlib.import_module(name)
        except ModuleNotFoundError as exc:  # a subcommand not built yet
            if exc.name != name:
                raise
            continue
        mod.register(sub)
    return parser


def check_output_path(option: str, path: str) -> None:
    """Refuse an output path that cannot be written, before the command does its work.

    Checks that the folder exists and is writable, that the path is not a folder or a
    read-only file, and for ``--plot`` that matplotlib knows the image type of the extension
    (no extension: matplotlib's default, PNG). Writing can still fail later (a full disk, a location that refuses new
    files); :func:`main` reports that as one line too.

    Raises:
        ValueError: naming the option and the path.
    """
    flag = f"--{option.replace('_', '-')}"
    full = os.path.abspath(os.path.expanduser(path))
    parent = os.path.dirname(full)
    if os.path.isdir(full):
        raise ValueError(f"{flag} {path!r} is a directory; give a file name")
    if not os.path.isdir(parent):
        what = "is not a directory" if os.path.exists(parent) else "does not exist"
        raise ValueError(f"{flag} {path!r}: directory {parent!r} {what}")
    if not os.access(parent, os.W_OK | os.X_OK) or (os.path.exists(full) and not os.access(full, os.W_OK)):
        raise ValueError(f"{flag} {path!r} is not writable")
    if option == "plot":
        ext = os.path.splitext(full)[1][1:].lower()
        if ext:
            from matplotlib.backend_bases import FigureCanvasBase

            kinds = FigureCanvasBase.get_supported_filetypes()
            if ext not in kinds:
                raise ValueError(f"{flag} {path!r}: unknown image type {ext!r}; use one of "
                                 f"{', '.join(sorted(kinds))}")


def _user_error_message(exc: BaseException) -> str:
    if isinstance(exc, KeyError) and exc.args:
        return str(exc.args[0])
    if isinstance(exc, OSError) and exc.strerror:  # without the "[Errno N]" prefix
        return exc.strerror if exc.filename is None else f"{exc.strerror}: {exc.filename!r}"
    msg = str(exc) or type(exc).__name__
    return " ".join(msg.split())  # one line


def _silence_stdout() -> None:
    """After a broken pipe: point stdout at /dev/null so the interpreter's final flush of the
    buffered rest cannot fail again (the recipe of the Python docs, "Note on SIGPIPE")."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (AttributeError, OSError, ValueError):  # stdout is not a file (tests, embedding)
        pass


def main(argv=None) -> int:
    """Run ``lowbit`` with ``argv`` (default ``sys.argv[1:]``); return the exit status.

    Returns:
        0 on success, 2 for a usage or user error (one line on stderr), 141 when stdout was
        closed early, 130 after Ctrl-C.
    """
    try:
        rc = _run(argv)
        sys.stdout.flush()  # a broken pipe shows here, not in the interpreter's exit flush
        return rc
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_BROKEN_PIPE
    except KeyboardInterrupt:  # Ctrl-C: no traceback, the shell's status for SIGINT
        return EXIT_INTERRUPTED


def _run(argv) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, usage errors (already printed)
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else EXIT_USAGE)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        for option in OUTPUT_OPTIONS:
            path = getattr(args, option, None)
            if path is not None:
                check_output_path(option, path)
        return int(args.func(args) or 0)
    except BrokenPipeError:
        raise
    except USER_ERRORS as exc:
        if os.environ.get("LOWBIT_TRACEBACK"):
            raise
        print(f"lowbit {args.command}: error: {_user_error_message(exc)}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
