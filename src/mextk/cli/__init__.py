"""The ``mextk`` command line.  Thin: each command parses options and calls one public function.

One module per command group: :mod:`~mextk.cli.data` (demo, synth, validate, stats, score, tasks),
:mod:`~mextk.cli.prepare`, :mod:`~mextk.cli.learn` (features, evaluate, train, predict, compare,
ensemble, models), :mod:`~mextk.cli.spot` (spot, spot-eval, analyze), :mod:`~mextk.cli.datasets` and
:mod:`~mextk.cli.annotate`; what they share is in :mod:`~mextk.cli.base` (errors, exit codes, the
help's rendering), :mod:`~mextk.cli.options` and :mod:`~mextk.cli.tables`.  This module only
builds the app from them.

Heavy libraries (numpy, pandas, OpenCV, PyAV, scikit-learn) are imported
inside the commands, so ``mextk --help`` starts instantly.  Exit codes: 0 all done, 1 some items
failed and the rest finished, 2 bad usage or input, 3 an internal error.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from mextk.cli import data, learn, spot
from mextk.cli.annotate import annotate_app
from mextk.cli.base import MextkGroup, version_string
from mextk.cli.datasets import datasets_app
from mextk.cli.prepare import prepare_command
from mextk.features.kinds import describe_kinds

app = typer.Typer(
    name="mextk",
    cls=MextkGroup,
    help="Facial micro-expression toolkit: prepare group-call recordings, extract features, train and evaluate "
    "models leak-free.  Exit codes: 0 all done, 1 some items failed (the rest finished), 2 bad usage or input, "
    "3 internal error.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(version_string())
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Facial micro-expression toolkit."""


for command in (data.demo, data.synth, data.validate, data.stats, data.score):
    app.command()(command)
app.command("prepare")(prepare_command())
app.command(epilog=describe_kinds())(learn.features)
for command in (learn.evaluate, learn.train, learn.predict, learn.compare, learn.ensemble, learn.models):
    app.command()(command)
app.command("cmed-manifest", hidden=True)(data.cmed_manifest)
app.command()(data.tasks)
app.add_typer(datasets_app, name="datasets")
app.add_typer(annotate_app, name="annotate")
app.command("spot")(spot.spot)
app.command("spot-eval")(spot.spot_eval)
app.command("spot-calibrate")(spot.spot_calibrate)
app.command("analyze")(spot.analyze)


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
