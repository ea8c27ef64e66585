"""The ``twin`` command line. Each command group lives in its own module and is listed here.

Bad input prints one line naming file, field and reason and exits with code 2; no traceback.
"""

from __future__ import annotations

import sys

import typer

from twin.cli.common import cli_logging, plain_help, usage_error
from twin.errors import TwinError

__all__ = ["app", "main"]

app = typer.Typer(
    name="twin",
    help="cell-twin: digital twin of a batch-size-1 factory cell.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _register() -> None:
    # explicit list of command modules (no discovery by reflection)
    from twin.cli import (
        adapters,
        dashboards,
        experiment,
        report,
        run,
        scenario,
        simulate,
        telemetry,
        users,
    )

    simulate.register(app)
    experiment.register(app)
    scenario.register(app)
    dashboards.register(app)
    telemetry.register(app)
    run.register(app)
    users.register(app)
    report.register(app)
    adapters.register(app)


_register()
plain_help(app)  # flags without a value, arguments as SCENARIO in every --help


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the exit code."""
    try:
        # not standalone: click's usage errors come here (instead of typer's boxed panel) to
        # be printed like every other bad input; typer.Exit comes back as its exit code
        with cli_logging():
            code = app(args=argv, prog_name="twin", standalone_mode=False)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except TwinError as exc:
        return _bad_input(exc)
    except typer.TyperException as exc:  # click's errors: typer vendors click
        # the help of a group called without a command is already printed (typer's own
        # test, by name: click's class is not exported)
        if type(exc).__name__ == "NoArgsIsHelpError":
            return 2
        return _bad_input(usage_error(exc))
    except typer.Abort:  # end of input at a prompt
        print("aborted", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return code if isinstance(code, int) else 0


def _bad_input(exc: TwinError) -> int:
    print(f"error: {exc}", file=sys.stderr)
    return 2


def console_main() -> None:
    """Console-script wrapper: exit with ``main``'s code."""
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    console_main()
