"""The ``twin`` command line. Each command group lives in its own module and is listed here.

Bad input prints one line naming file, field and reason and exits with code 2; no traceback.
"""

from __future__ import annotations

import sys

import typer

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
    from twin.cli import adapters, dashboards, report, run, scenario, simulate, telemetry

    simulate.register(app)
    scenario.register(app)
    dashboards.register(app)
    telemetry.register(app)
    run.register(app)
    report.register(app)
    adapters.register(app)


_register()


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the exit code."""
    try:
        app(args=argv, prog_name="twin")
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except TwinError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


def console_main() -> None:
    """Console-script wrapper: exit with ``main``'s code."""
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    console_main()
