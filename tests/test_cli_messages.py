"""Bad command lines get one plain line ``error: command line: <option>: <reason>`` and exit
code 2, like every other bad input (no usage box, no traceback); ``--help`` still works.
Options read from the environment are named as such; a password no terminal can be asked for
is an error, not an abort."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import SCENARIOS
from twin.cli import main

DEFAULT = str(SCENARIOS / "default.toml")


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (
            ["simulate", DEFAULT, "--seed", "x"],
            "error: command line: --seed: expected a valid integer, got 'x'"
            " (see 'twin simulate --help')",
        ),
        (
            ["simulate", DEFAULT, "--seed"],
            "error: command line: --seed: requires an argument",
        ),
        (
            ["simulate", DEFAULT, "--no-such-option"],
            "error: command line: --no-such-option: no such option",
        ),
        (
            ["simulate"],
            "error: command line: SCENARIO: missing argument (see 'twin simulate --help')",
        ),
        (
            ["scenario", "show"],
            "error: command line: SCENARIO: missing argument (see 'twin scenario show --help')",
        ),
        (["nosuch"], "error: command line: no such command 'nosuch' (see 'twin --help')"),
        (
            ["simulate", DEFAULT, "extra"],
            "error: command line: got unexpected extra argument(s) (extra)",
        ),
    ],
)
def test_usage_error_is_one_line(
    argv: list[str], line: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith(line), captured.err
    assert captured.err.count("\n") == 1, captured.err
    assert "Usage:" not in captured.err
    assert "╭" not in captured.err + captured.out


def test_help_still_works(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", "--help"]) == 0
    out = capsys.readouterr().out
    assert "--seed" in out
    assert "override the scenario seed" in out


def test_group_without_command_prints_its_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scenario"]) == 2
    assert "validate" in capsys.readouterr().out


def test_users_add_without_a_terminal_says_to_use_password_stdin(tmp_path: Path) -> None:
    users = tmp_path / "users.toml"
    twin = Path(sys.executable).with_name("twin")  # the console script
    add = [str(twin), "users", "add", "alice", "--file", str(users)]
    subprocess.run([*add, "--password-stdin"], input="pa55word\n", text=True, check=True)
    before = users.read_bytes()
    # a session of its own: no controlling terminal for getpass to open
    done = subprocess.run(
        [*add, "--role", "engineer"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        start_new_session=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr == (
        "error: command line: password: no terminal to ask it on; give it on standard input"
        " with --password-stdin\n"
    )
    assert users.read_bytes() == before


def test_bad_telemetry_option_names_the_option_and_the_allowed_values(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "run"
    assert main(["simulate", DEFAULT, "--telemetry", "foo", "--out", str(out), "-q"]) == 2
    assert capsys.readouterr().err == (
        "error: command line: --telemetry: must be one of file, influx, none (got 'foo')\n"
    )
    monkeypatch.setenv("TWIN_TELEMETRY", "bar")  # from the environment: named as such
    assert main(["simulate", DEFAULT, "--out", str(out), "-q"]) == 2
    assert capsys.readouterr().err == (
        "error: environment: TWIN_TELEMETRY: must be one of file, influx, none (got 'bar')\n"
    )
    assert not out.exists()


def test_what_cannot_happen_in_the_run_is_noted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # the default scenario's tool breakage comes at 30 h: a 1-day run does not reach it
    assert main(["scenario", "validate", DEFAULT]) == 0
    assert "note:" not in capsys.readouterr().out
    out = tmp_path / "r"
    assert main(["simulate", DEFAULT, "--until", "1d", "--out", str(out), "--no-plots"]) == 0
    notes = [line for line in capsys.readouterr().out.splitlines() if ": note: " in line]
    assert notes == [
        f"{DEFAULT}: note: faults[0].at: 108000 s is not before the end of the run (86400 s);"
        " this fault does not happen"
    ]
    assert (out / "summary.json").exists()  # a note is not an error
