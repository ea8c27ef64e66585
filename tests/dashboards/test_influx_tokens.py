"""The stack's InfluxDB tokens: the operator token stays in the influxdb service.

InfluxDB's init script ``provisioning/influxdb/tokens.sh`` writes a token that may only write
to the bucket (the twin's ``TWIN_INFLUX_TOKEN_FILE``) and one that may only read it (Grafana's
datasource, ``$__file{...}``), each into a volume mounted by InfluxDB and that one reader only.
No Docker engine here: the compose file is parsed, and the script runs with a stand-in for the
``influx`` CLI that answers as influx-cli 2.7 does (``auth create --json``: indented JSON, one
key per line; ``bucket list --hide-headers``: tab-separated).
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml

from dashboards import PROVISIONING_DIR
from tests.conftest import ROOT
from tests.dashboards.test_compose import (
    OVERRIDES,
    host_ports,
    interpolate,
    load_compose,
    mounts,
    service_env,
)

SCRIPT = PROVISIONING_DIR / "influxdb" / "tokens.sh"
DATASOURCE = PROVISIONING_DIR / "datasources" / "celltwin.yaml"
BUCKET_ID = "0a1b2c3d4e5f6789"
_SEP = "\x1f"

# answers as influx-cli 2.7 prints them; every call is logged, one argument list per line
STUB = r"""#!/bin/bash
(IFS=$'\x1f'; printf '%s\n' "$*") >>"$STUB_LOG"
case "$1 $2" in
"bucket list")
  printf '%s\tcelltwin\t720h0m0s\t168h0m0s\t0c0c0c0c0c0c0c0c\n' "$STUB_BUCKET_ID" ;;
"auth create")
  [ -n "${STUB_NO_TOKEN:-}" ] && { printf '{\n\t"id": "0d"\n}\n'; exit 0; }
  n=$(($(cat "$STUB_LOG.n" 2>/dev/null || echo 0) + 1)) && echo "$n" >"$STUB_LOG.n"
  printf '{\n\t"id": "0e%s",\n\t"description": "d",\n\t"token": "tok-%s_Ab-9==",\n' "$n" "$n"
  printf '\t"status": "active",\n\t"userName": "admin",\n\t"userID": "0f",\n'
  printf '\t"permissions": [\n\t\t"orgs/0c/buckets/%s"\n\t]\n}\n' "$STUB_BUCKET_ID" ;;
*) echo "stub influx: unexpected $*" >&2; exit 1 ;;
esac
"""


def named_volumes(compose: dict[str, Any], service: str) -> dict[str, tuple[str, bool]]:
    """Container path -> (named volume, read-only) of the named volumes a service mounts."""
    out = {}
    for spec in compose["services"][service].get("volumes", []):
        parts = str(spec).split(":")
        if not parts[0].startswith(("./", "/")):
            out[parts[1]] = (parts[0], parts[2:] == ["ro"])
    return out


def volume_holding(compose: dict[str, Any], service: str, path: str) -> tuple[str, bool]:
    """The named volume mounted at the directory of ``path`` in ``service`` (and read-only)."""
    return named_volumes(compose, service)[str(PurePosixPath(path).parent)]


def datasource_token_file() -> str:
    (ds,) = yaml.safe_load(DATASOURCE.read_text(encoding="utf-8"))["datasources"]
    header = ds["secureJsonData"]["httpHeaderValue1"]
    m = re.fullmatch(r"Token \$__file\{(/[^}]+)\}", header)
    assert m, header
    return m.group(1)


@pytest.mark.parametrize("env", [{}, OVERRIDES], ids=["dev-defaults", "overrides"])
def test_the_operator_token_stays_in_the_influxdb_service(env: dict[str, str]) -> None:
    compose = load_compose(env)
    operator = service_env(compose, "influxdb")["DOCKER_INFLUXDB_INIT_ADMIN_TOKEN"]
    if env:
        assert operator == OVERRIDES["INFLUXDB_ADMIN_TOKEN"]
    for name in set(compose["services"]) - {"influxdb"}:
        given = service_env(compose, name)
        assert operator not in given.values(), name
        assert "TWIN_INFLUX_TOKEN" not in given, name
    grafana = service_env(compose, "grafana")
    provisioned = interpolate(yaml.safe_load(DATASOURCE.read_text(encoding="utf-8")), grafana)
    assert operator not in str(provisioned)


def test_each_scoped_token_reaches_its_one_reader_read_only() -> None:
    compose = load_compose({})
    influx = service_env(compose, "influxdb")
    readers = {
        "twin": (influx["CELLTWIN_WRITE_TOKEN_FILE"], service_env(compose, "twin")),
        "grafana": (influx["CELLTWIN_READ_TOKEN_FILE"], None),
    }
    for reader, (written, reader_env) in readers.items():
        read = reader_env["TWIN_INFLUX_TOKEN_FILE"] if reader_env else datasource_token_file()
        volume, read_only = volume_holding(compose, "influxdb", written)
        assert not read_only
        assert volume in compose["volumes"]
        assert volume_holding(compose, reader, read) == (volume, True)
        assert PurePosixPath(read).name == PurePosixPath(written).name
        mounted_by = {
            name
            for name in compose["services"]
            if volume in {v for v, _ in named_volumes(compose, name).values()}
        }
        assert mounted_by == {"influxdb", reader}


def test_the_twin_and_grafana_start_once_the_init_scripts_have_run() -> None:
    """The image's setup runs a temporary server on port 9999 with the CLI's config pointing
    there; only the final server listens on 8086, after the init scripts."""
    compose = load_compose({})
    influx = compose["services"]["influxdb"]
    check = influx["healthcheck"]["test"]
    assert check[:3] == ["CMD", "influx", "ping"]
    assert check[check.index("--host") + 1] == "http://localhost:8086"
    assert 8086 in host_ports(compose, "influxdb")
    for name in ("twin", "grafana"):
        assert compose["services"][name]["depends_on"]["influxdb"]["condition"] == (
            "service_healthy"
        )
    init_dir = ROOT / mounts(compose, "influxdb")["/docker-entrypoint-initdb.d"]
    assert (init_dir / SCRIPT.name).resolve() == SCRIPT.resolve()
    assert os.access(SCRIPT, os.X_OK)  # the image's run-parts runs executable *.sh only


class Influx:
    """The script run in a stand-in influxdb container: its environment is the compose
    service's, with the token files under ``root``; ``influx`` is the stub."""

    def __init__(self, tmp_path: Path) -> None:
        self.root = tmp_path / "container"
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir()
        (bin_dir / "influx").write_text(STUB, encoding="utf-8")
        (bin_dir / "influx").chmod(0o755)
        self.log = tmp_path / "influx.log"
        self.env = service_env(load_compose({}), "influxdb")
        self.env.update(
            PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
            STUB_LOG=str(self.log),
            STUB_BUCKET_ID=BUCKET_ID,
        )
        for key in ("CELLTWIN_WRITE_TOKEN_FILE", "CELLTWIN_READ_TOKEN_FILE"):
            self.env[key] = str(self.root / self.env[key].lstrip("/"))
        self.write_file = Path(self.env["CELLTWIN_WRITE_TOKEN_FILE"])
        self.read_file = Path(self.env["CELLTWIN_READ_TOKEN_FILE"])

    def run(self, *, setup: bool, **extra: str) -> subprocess.CompletedProcess[str]:
        """``setup``: as the image runs it (bucket ID exported), else by hand."""
        self.log.write_text("", encoding="utf-8")
        env = {**self.env, **extra}
        if setup:
            env["DOCKER_INFLUXDB_INIT_BUCKET_ID"] = BUCKET_ID
        return subprocess.run(
            ["bash", str(SCRIPT)], env=env, capture_output=True, text=True, check=False
        )

    def calls(self) -> list[list[str]]:
        return [line.split(_SEP) for line in self.log.read_text(encoding="utf-8").splitlines()]

    def created(self) -> dict[str, list[str]]:
        """The permission flag of each ``auth create`` -> its arguments."""
        out = {}
        for args in self.calls():
            if args[:2] == ["auth", "create"]:
                (grant,) = [a for a in args if a.startswith(("--read", "--write", "--all"))]
                out[grant] = args
        return out


def flag(args: list[str], name: str) -> str:
    return args[args.index(name) + 1]


def test_setup_writes_a_write_only_and_a_read_only_token_for_the_bucket(tmp_path: Path) -> None:
    influx = Influx(tmp_path)
    done = influx.run(setup=True)
    assert done.returncode == 0, done.stderr
    created = influx.created()
    assert set(created) == {"--write-bucket", "--read-bucket"}  # nothing else, no --all-access
    assert len(influx.calls()) == 2  # the bucket ID comes from the image's setup
    for grant, args in created.items():
        assert flag(args, grant) == BUCKET_ID
        assert flag(args, "--org") == influx.env["DOCKER_INFLUXDB_INIT_ORG"]
        assert flag(args, "--user") == influx.env["DOCKER_INFLUXDB_INIT_USERNAME"]
        assert "--json" in args
    write, read = influx.write_file.read_text(), influx.read_file.read_text()
    assert re.fullmatch(r"tok-\d+_Ab-9==", write)  # the token alone: no newline, no quote
    assert re.fullmatch(r"tok-\d+_Ab-9==", read)
    assert write != read
    for path in (influx.write_file, influx.read_file):
        assert stat.S_IMODE(path.stat().st_mode) == 0o444  # the twin and Grafana run as others
    assert "tok-" not in done.stdout + done.stderr  # logs never show a token


def test_run_by_hand_it_writes_the_missing_file_and_keeps_the_other(tmp_path: Path) -> None:
    influx = Influx(tmp_path)
    assert influx.run(setup=True).returncode == 0
    write = influx.write_file.read_text()
    influx.read_file.unlink()
    done = influx.run(setup=False)  # a stack set up before the script: no bucket ID exported
    assert done.returncode == 0, done.stderr
    calls = influx.calls()
    assert calls[0][:2] == ["bucket", "list"]
    assert flag(calls[0], "--name") == influx.env["DOCKER_INFLUXDB_INIT_BUCKET"]
    assert set(influx.created()) == {"--read-bucket"}
    assert flag(influx.created()["--read-bucket"], "--read-bucket") == BUCKET_ID
    assert influx.write_file.read_text() == write
    assert influx.read_file.read_text().startswith("tok-")


def test_a_new_setup_replaces_token_files_of_an_earlier_database(tmp_path: Path) -> None:
    influx = Influx(tmp_path)
    assert influx.run(setup=True).returncode == 0
    before = influx.write_file.read_text(), influx.read_file.read_text()
    assert influx.run(setup=True).returncode == 0
    after = influx.write_file.read_text(), influx.read_file.read_text()
    assert set(before).isdisjoint(after)


def test_no_token_in_the_answer_fails_the_setup_and_writes_nothing(tmp_path: Path) -> None:
    influx = Influx(tmp_path)
    done = influx.run(setup=True, STUB_NO_TOKEN="1")
    assert done.returncode != 0  # the image's run-parts --exit-on-error stops the setup
    assert "answered no token" in done.stderr
    assert not influx.write_file.exists()
    assert not influx.read_file.exists()
