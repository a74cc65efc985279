"""What every ``mextk`` command shares: exit codes, one-line errors and readable help.

Exit codes (one scheme for every command):

=====  =====================================================================================
0      everything asked for was done
1      some items failed and the rest finished (a recording, a sample, a manifest row); each
       failure was printed on its own line, and the good items were kept
2      bad usage or bad input: nothing was done (a missing or unreadable file, an output
       path that is a file, an invalid manifest, an unknown option value)
3      an internal error (a bug in mextk): one line, and ``MEXTK_DEBUG=1`` shows the traceback
130    interrupted (Ctrl-C); the same command resumes
143    terminated (SIGTERM) while worker processes ran: they were stopped too; the command resumes
=====  =====================================================================================

Errors are printed as ``error: <file, row or frame>: <what is wrong>`` on one
line; a manifest with several problems gets one line per problem, as
``mextk validate`` prints them, then the one-line summary.

The help renders arguments as ``MANIFEST`` and options' values as ``INTEGER``,
``PATH`` ... whatever the installed Typer's own style is.
"""

from __future__ import annotations

import errno
import os
import sys
from pathlib import Path
from typing import Any, NoReturn

import typer
import typer.core
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption

# Typer 0.2x carries its own copy of Click (typer._click) and raises that copy's exceptions; older
# releases use the click package.  Whichever it is, it is the one whose exceptions we must recognise.
click: Any = getattr(typer.core, "_click", None)
if click is None:  # pragma: no cover - Typer releases that use the click package
    import click

# Exit and Abort are signals, not errors: Typer 0.2x has its own, older releases use Click's
_SIGNALS: tuple[type[BaseException], ...] = tuple(
    cls
    for cls in (
        getattr(typer, "Exit", None),
        getattr(typer, "Abort", None),
        getattr(click.exceptions, "Exit", None),
        getattr(click.exceptions, "Abort", None),
    )
    if isinstance(cls, type)
)

EXIT_OK = 0
EXIT_PARTIAL = 1
EXIT_INPUT = 2
EXIT_INTERNAL = 3
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143  # 128 + SIGTERM, what a shell reports for a process that SIGTERM ended


def _input_errors() -> tuple[type[BaseException], ...]:
    from mextk.io.errors import VideoError
    from mextk.io.manifest import ManifestError
    from mextk.labels import LabelError

    return (ManifestError, LabelError, VideoError, OSError, ValueError, KeyError)


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def describe_error(exc: BaseException) -> list[str]:
    """The lines to print for an error: one, or one per problem of an invalid manifest.

    Examples
    --------
    >>> describe_error(NotADirectoryError(20, "Not a directory", "out/x.csv"))
    ['out/x.csv: a part of this path is a file, not a folder']
    >>> describe_error(FileExistsError(17, "File exists", "runs"))
    ['runs: exists and is a file, not a folder']
    """
    from mextk.io.manifest import ManifestError

    if isinstance(exc, ManifestError):
        if len(exc.problems) == 1:
            return [str(exc.problems[0])]
        return [str(p) for p in exc.problems] + [f"{exc.source}: {len(exc.problems)} problem(s)"]
    if isinstance(exc, OSError) and exc.filename is not None:
        where = os.fsdecode(exc.filename)
        reason = {
            errno.ENOTDIR: "a part of this path is a file, not a folder",
            errno.EEXIST: "exists and is a file, not a folder",
            errno.EISDIR: "is a folder, not a file",
            errno.EACCES: "permission denied",
            errno.ENOENT: "not found",
            errno.ENOSPC: "no space left on the device",
            errno.EROFS: "read-only file system",
        }.get(exc.errno or 0, exc.strerror or exc.__class__.__name__)
        return [_one_line(f"{where}: {reason}")]
    if isinstance(exc, KeyError):
        return [_one_line(f"missing key {exc}")]
    text = _one_line(str(exc)) or exc.__class__.__name__
    return [text]


def print_error_lines(lines: list[str]) -> None:
    """Print ``error: ...`` lines to standard error (no wrapping: one line stays one line)."""
    from rich.console import Console
    from rich.markup import escape

    console = Console(stderr=True, soft_wrap=True, highlight=False)
    for line in lines[:-1]:
        console.print(line, markup=False)
    console.print(f"[bold red]error:[/] {escape(lines[-1])}")


def fail(message: str, code: int = EXIT_INPUT) -> NoReturn:
    """Print one ``error:`` line and exit with ``code``."""
    print_error_lines([_one_line(message)])
    raise typer.Exit(code)


def out_folder(path: Path) -> Path:
    """An output folder option: refuse, in one line, a path that is an existing file."""
    if path.exists() and not path.is_dir():
        fail(f"{path}: the output folder is an existing file; give a folder (--out)")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                fail(f"{path}: {parent} is a file, so no folder can be made inside it (--out)")
            break
    return path


def out_file(path: Path) -> Path:
    """An output file option: refuse a path that is a folder or lies inside a file."""
    if path.is_dir():
        fail(f"{path}: the output file is an existing folder; give a file name (--out)")
    out_folder(path.parent)
    return path


# --------------------------------------------------------------------------- help rendering


class _Argument(TyperArgument):
    """An argument shown the classic way: ``MANIFEST``, ``[RECORDINGS]...``."""

    def _name(self) -> str:
        return self.metavar or (self.name or "").upper()

    def _usage_display_name(self) -> str:
        name = self._name() if self.required else f"[{self._name()}]"
        return name + ("..." if self.nargs != 1 else "")

    def _rich_display_name(self) -> str:
        return self._name() + ("..." if self.nargs != 1 else "")

    def get_usage_pieces(self, ctx: click.Context) -> list[str]:
        return [self._usage_display_name()]

    def make_metavar(self, ctx: click.Context | None = None) -> str:  # type: ignore[override]
        return self._usage_display_name()

    def display_type_rich(self, ctx: click.Context) -> str | None:
        return None

    def get_error_hint(self, *args: Any) -> str:
        return f"'{self._name()}'"


_TYPE_NAMES = {"str": "TEXT", "int": "INTEGER", "float": "FLOAT", "bool": "BOOLEAN", "path": "PATH"}


class _Option(TyperOption):
    """An option whose value is shown as ``INTEGER``, ``PATH``, ``TEXT``; a flag shows none."""

    def display_type_rich(self, ctx: click.Context) -> str | None:
        if self.is_flag or self.count:
            return None
        if self.metavar is not None:
            return self.metavar
        label = super().display_type_rich(ctx) or ""
        inner = label.strip("<>").removesuffix("...")
        if inner.startswith("list[") and inner.endswith("]"):
            inner = inner[5:-1]
        return _TYPE_NAMES.get(inner, inner.upper())


def _reflow(text: str | None) -> str | None:
    """Join the lines of each paragraph (Typer's rich help would keep a docstring's line breaks)."""
    if not text:
        return text
    import inspect

    paragraphs = inspect.cleandoc(text).split("\n\n")
    return "\n\n".join(" ".join(line.strip() for line in p.splitlines()) for p in paragraphs)


def _polish_params(params: list[click.Parameter]) -> list[click.Parameter]:
    for param in params:
        if isinstance(param, TyperArgument) and not isinstance(param, _Argument):
            param.__class__ = _Argument
            if param.metavar is None:  # the name Typer's help panel shows
                param.metavar = (param.name or "").upper()
        elif isinstance(param, TyperOption) and not isinstance(param, _Option):
            param.__class__ = _Option
    return params


class _Command(TyperCommand):
    """A command whose parameters (the help option included) render the classic way."""

    def get_params(self, ctx: click.Context) -> list[click.Parameter]:
        return _polish_params(super().get_params(ctx))


def polish_help(command: click.Command) -> None:
    """Give ``command`` and its subcommands the classic help rendering and reflowed help text."""
    _polish_params(command.params)
    command.help = _reflow(command.help)
    command.epilog = _reflow(command.epilog)
    if type(command) is TyperCommand:
        command.__class__ = _Command
    for sub in getattr(command, "commands", {}).values():
        polish_help(sub)


# --------------------------------------------------------------------------- the group


class MextkGroup(TyperGroup):
    """The ``mextk`` group: classic help, and every error as one line with the scheme's exit code."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        polish_help(self)

    def get_params(self, ctx: click.Context) -> list[click.Parameter]:
        return _polish_params(super().get_params(ctx))

    def make_context(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().make_context(*args, **kwargs)
        except click.exceptions.UsageError as exc:
            _usage_error(exc)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.exceptions.UsageError as exc:
            _usage_error(exc)
        except (click.exceptions.ClickException, *_SIGNALS):
            raise
        except BrokenPipeError:  # the reader went away (mextk ... | head): not an error worth a line
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())  # so that the final flush does not fail again
            raise typer.Exit(EXIT_OK) from None
        except KeyboardInterrupt as exc:
            from mextk.workers import Terminated

            if isinstance(exc, Terminated):  # SIGTERM while workers ran: they are stopped; say so, as a kill would
                print_error_lines(["terminated (SIGTERM); run the same command again to resume"])
                raise typer.Exit(EXIT_TERMINATED) from None
            print_error_lines(["interrupted; run the same command again to resume"])
            raise typer.Exit(EXIT_INTERRUPTED) from None
        except _input_errors() as exc:
            if os.environ.get("MEXTK_DEBUG"):
                raise
            print_error_lines(describe_error(exc))
            raise typer.Exit(EXIT_INPUT) from None
        except Exception as exc:
            if os.environ.get("MEXTK_DEBUG"):
                raise
            print_error_lines(
                [
                    f"internal error ({exc.__class__.__name__}: {_one_line(str(exc))}); this is a bug in mextk: "
                    "please report it with the output of the same command run with MEXTK_DEBUG=1"
                ]
            )
            raise typer.Exit(EXIT_INTERNAL) from None


def _usage_error(exc: Any) -> NoReturn:
    """Print a usage error on one line, like every other error (Typer would draw a box around it)."""
    if exc.__class__.__name__ == "NoArgsIsHelpError":  # not an error: the help is shown
        raise exc
    sub = exc.ctx.command_path if getattr(exc, "ctx", None) is not None else "mextk"
    print_error_lines([f"{_one_line(exc.format_message())} (see '{sub} --help')"])
    raise typer.Exit(EXIT_INPUT) from None


def version_string() -> str:
    """``mextk X.Y.Z (Python A.B.C)``."""
    import platform

    from mextk import __version__

    return f"mextk {__version__} (Python {platform.python_version()}, {sys.platform})"
