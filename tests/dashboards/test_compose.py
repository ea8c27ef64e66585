"""docker-compose.yml, the Dockerfile and the provisioning files agree with each other and the twin.

No Docker engine runs here, so the stack is checked statically: the compose file is parsed and
its variables resolved the way ``docker compose`` resolves ``${VAR:-default}`` and
``${VAR:?error}`` (with only the required secrets given, and with overrides; without them it is
refused, as ``docker compose`` refuses it); the twin's own settings class reads
the twin service's environment; Grafana's provisioning files are expanded with the Grafana
service's environment. Ports, credentials, org, bucket/database and datasource must line up.
The scoped tokens InfluxDB's init script writes for the twin and Grafana are checked in
``test_influx_tokens``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import yaml

from dashboards import JSON_DIR, PROVISIONING_DIR, load_dashboards
from dashboards.common import DATASOURCE_NAME, DATASOURCE_UID
from tests.conftest import ROOT
from twin.telemetry.settings import TelemetrySettings

COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
ENV_EXAMPLE = ROOT / ".env.example"
_VAR = re.compile(r"\$__\w+\{[^}]*\}|\$\{(\w+)(?::?([-?])([^}]*))?\}|\$(\w+)")
#: the secrets compose requires (``${VAR:?...}``): no default is known to anyone
REQUIRED = {
    "INFLUXDB_ADMIN_TOKEN": "test-operator-token",
    "INFLUXDB_ADMIN_PASSWORD": "test-influx-password",
    "GRAFANA_ADMIN_PASSWORD": "test-grafana-password",
}


class MissingVariable(Exception):
    """A ``${VAR:?message}`` without VAR: ``docker compose`` refuses to start, saying so."""


def interpolate(value: Any, env: dict[str, str]) -> Any:
    """``${VAR:-default}``, ``${VAR:?error}``, ``${VAR}`` and ``$VAR`` as docker compose and
    Grafana expand them (MissingVariable for a required one not set or empty); Grafana's
    ``$__file{path}`` (and other ``$__name{...}``) are left as they are."""
    if isinstance(value, str):

        def repl(m: re.Match[str]) -> str:
            if m.group(0).startswith("$__"):
                return m.group(0)
            name = m.group(1) or m.group(4)
            kind, default = m.group(2), m.group(3)
            got = env.get(name)
            if got:
                return got
            if kind == "?":
                raise MissingVariable(f"required variable {name} is missing a value: {default}")
            return default if default is not None else ""

        return _VAR.sub(repl, value)
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    return value


def load_compose(env: dict[str, str], *, required: bool = True) -> dict[str, Any]:
    """The compose file resolved with ``env`` over the ``REQUIRED`` secrets (none with
    ``required=False``)."""
    # yaml.safe_load resolves the x-influx-env anchor and the `<<:` merge keys
    raw = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    resolved: dict[str, Any] = interpolate(raw, {**REQUIRED, **env} if required else env)
    return resolved


def service_env(compose: dict[str, Any], name: str) -> dict[str, str]:
    env = compose["services"][name].get("environment", {})
    assert isinstance(env, dict), f"{name}: use the mapping form of environment"
    return {k: str(v) for k, v in env.items()}


def mounts(compose: dict[str, Any], name: str) -> dict[str, str]:
    """Container path -> host path (relative to the repo) of the bind mounts of a service."""
    out = {}
    for spec in compose["services"][name].get("volumes", []):
        parts = spec.split(":")
        if parts[0].startswith("./"):
            out[parts[1]] = parts[0]
    return out


def host_ports(compose: dict[str, Any], name: str) -> dict[int, tuple[str, int]]:
    """Container port -> (host address, host port)."""
    out = {}
    for spec in compose["services"][name].get("ports", []):
        addr, host, container = str(spec).split(":")
        out[int(container)] = (addr, int(host))
    return out


OVERRIDES = {
    "INFLUXDB_ADMIN_TOKEN": "override-operator-token",
    "TWIN_INFLUX_ORG": "plant-7",
    "TWIN_INFLUX_BUCKET": "cellA",
    "GRAFANA_ADMIN_PASSWORD": "override-grafana",
    "INFLUXDB_ADMIN_PASSWORD": "override-influx",
}


@pytest.fixture(params=["defaults", "overrides"])
def env(request: pytest.FixtureRequest) -> dict[str, str]:
    return {} if request.param == "defaults" else dict(OVERRIDES)


def test_services_and_pinned_images() -> None:
    compose = load_compose({})
    assert set(compose["services"]) == {"twin", "influxdb", "grafana"}
    for name in ("influxdb", "grafana"):
        image = compose["services"][name]["image"]
        assert re.fullmatch(r"[\w./-]+:\d+\.\d+\.\d+", image), f"{name} image not pinned: {image}"
    assert compose["services"]["influxdb"]["image"].startswith("influxdb:2.7.")
    assert compose["services"]["twin"]["build"] == "."
    # the twin and Grafana wait for a healthy InfluxDB
    for name in ("twin", "grafana"):
        dep = compose["services"][name]["depends_on"]["influxdb"]
        assert dep["condition"] == "service_healthy"
    assert compose["services"]["influxdb"]["healthcheck"]["test"]


@pytest.mark.parametrize("missing", sorted(REQUIRED))
def test_secrets_have_no_default_and_are_required(missing: str) -> None:
    """A token or password everybody knows from the repository would be used silently: each
    is required, and the stack refuses to start without it, naming it and .env.example."""
    text = COMPOSE.read_text(encoding="utf-8")
    assert f"${{{missing}:?set {missing} in .env (see .env.example)}}" in text
    assert "celltwin-dev" not in text
    with pytest.raises(MissingVariable, match=f"required variable {missing} is missing"):
        load_compose({k: v for k, v in REQUIRED.items() if k != missing}, required=False)
    with pytest.raises(MissingVariable, match=missing):  # empty is missing too (":?")
        load_compose({**REQUIRED, missing: ""}, required=False)
    compose = load_compose(OVERRIDES)
    assert service_env(compose, "grafana")["GF_SECURITY_ADMIN_PASSWORD"] == "override-grafana"
    assert service_env(compose, "influxdb")["DOCKER_INFLUXDB_INIT_PASSWORD"] == "override-influx"
    assert service_env(compose, "influxdb")["DOCKER_INFLUXDB_INIT_ADMIN_TOKEN"] == (
        "override-operator-token"
    )


def test_env_example_lists_every_required_secret_empty() -> None:
    """``cp .env.example .env`` gives a file to fill in, not working secrets: compose still
    refuses until each is set; the image never holds .env."""
    given = {}
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            given[name] = value
    assert given == dict.fromkeys(REQUIRED, "")
    with pytest.raises(MissingVariable):
        load_compose(given, required=False)
    optional = set(re.findall(r"\$\{(\w+):-", COMPOSE.read_text(encoding="utf-8")))
    for name in optional:  # the others, with their defaults, in comments
        assert f"# {name}=" in ENV_EXAMPLE.read_text(encoding="utf-8"), name
    assert ".env" in (ROOT / ".dockerignore").read_text(encoding="utf-8").split()


def test_twin_settings_read_from_compose_match_influxdb(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    compose = load_compose(env)
    twin = service_env(compose, "twin")
    influx = service_env(compose, "influxdb")
    for key in list(os.environ):
        if key.startswith("TWIN_"):
            monkeypatch.delenv(key)
    for key, value in twin.items():
        monkeypatch.setenv(key, value)
    # the token file InfluxDB's init script writes (test_influx_tokens), here on this host
    token_file = tmp_path / Path(twin["TWIN_INFLUX_TOKEN_FILE"]).name
    token_file.write_text("write-only-token", encoding="utf-8")
    monkeypatch.setenv("TWIN_INFLUX_TOKEN_FILE", str(token_file))
    settings = TelemetrySettings()
    # every TWIN_ variable given to the twin is a setting it reads (no typo goes unnoticed)
    fields = {f"TWIN_{name.upper()}" for name in TelemetrySettings.model_fields}
    assert {k for k in twin if k.startswith("TWIN_")} <= fields
    assert settings.telemetry == "influx"
    assert settings.influx_org == influx["DOCKER_INFLUXDB_INIT_ORG"]
    assert settings.influx_bucket == influx["DOCKER_INFLUXDB_INIT_BUCKET"]
    assert settings.influx_token.get_secret_value() == "write-only-token"
    assert "TWIN_INFLUX_TOKEN" not in twin  # never the operator token
    assert influx["DOCKER_INFLUXDB_INIT_MODE"] == "setup"
    url = urlparse(settings.influx_url)
    assert url.hostname == "influxdb"
    assert url.port == 8086
    assert 8086 in host_ports(compose, "influxdb")  # the port InfluxDB listens on in the container
    if env:
        assert settings.influx_bucket == OVERRIDES["TWIN_INFLUX_BUCKET"]
    else:
        assert settings.influx_bucket == "celltwin"
        assert settings.influx_org == "celltwin"


def test_grafana_datasource_provisioning_matches(env: dict[str, str]) -> None:
    compose = load_compose(env)
    grafana = service_env(compose, "grafana")
    twin = service_env(compose, "twin")
    m = mounts(compose, "grafana")
    ds_dir = ROOT / m["/etc/grafana/provisioning/datasources"]
    assert ds_dir.resolve() == (PROVISIONING_DIR / "datasources").resolve()
    files = sorted(ds_dir.glob("*.yaml"))
    assert len(files) == 1
    # Grafana expands $VAR / ${VAR} in provisioning files from its own environment
    prov = interpolate(yaml.safe_load(files[0].read_text(encoding="utf-8")), grafana)
    (ds,) = prov["datasources"]
    assert ds["type"] == "influxdb"
    assert ds["uid"] == DATASOURCE_UID
    assert ds["name"] == DATASOURCE_NAME
    assert ds["jsonData"]["version"] == "InfluxQL"
    assert ds["url"] == twin["TWIN_INFLUX_URL"]
    assert ds["jsonData"]["dbName"] == twin["TWIN_INFLUX_BUCKET"]
    assert ds["jsonData"]["httpHeaderName1"] == "Authorization"
    # the read-only token from the file InfluxDB's init script writes (test_influx_tokens)
    assert re.fullmatch(r"Token \$__file\{/[^}]+\}", ds["secureJsonData"]["httpHeaderValue1"])


def test_dbrp_init_script_maps_the_bucket_the_datasource_queries() -> None:
    compose = load_compose({})
    m = mounts(compose, "influxdb")
    init_dir = ROOT / m["/docker-entrypoint-initdb.d"]
    scripts = sorted(init_dir.glob("*.sh"))
    assert scripts, "no InfluxDB init script"
    for script in scripts:
        # the image runs only executable *.sh files (run-parts)
        assert os.access(script, os.X_OK), f"{script.name} is not executable"
    text = "\n".join(s.read_text(encoding="utf-8") for s in scripts)
    assert "influx v1 dbrp create" in text
    assert '--db "${DOCKER_INFLUXDB_INIT_BUCKET}"' in text
    assert '--bucket-id "${DOCKER_INFLUXDB_INIT_BUCKET_ID}"' in text
    assert "--default" in text


def test_grafana_dashboard_provisioning_points_at_the_json() -> None:
    compose = load_compose({})
    m = mounts(compose, "grafana")
    prov_dir = ROOT / m["/etc/grafana/provisioning/dashboards"]
    (provider,) = yaml.safe_load((prov_dir / "celltwin.yaml").read_text())["providers"]
    path = provider["options"]["path"]
    assert (ROOT / m[path]).resolve() == JSON_DIR.resolve()
    home = service_env(compose, "grafana")["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert Path(home).parent == Path(path)
    assert (JSON_DIR / Path(home).name).is_file()
    # every provisioned dashboard defaults to the provisioned datasource
    for d in load_dashboards().values():
        (ds_var,) = (v for v in d["templating"]["list"] if v["name"] == "datasource")
        assert ds_var["current"]["value"] == DATASOURCE_UID
    # no anonymous viewers unless asked for: then viewers only
    grafana = service_env(compose, "grafana")
    assert grafana["GF_AUTH_ANONYMOUS_ENABLED"] == "false"
    anonymous = service_env(load_compose({"GRAFANA_ANONYMOUS": "true"}), "grafana")
    assert anonymous["GF_AUTH_ANONYMOUS_ENABLED"] == "true"
    assert anonymous["GF_AUTH_ANONYMOUS_ORG_ROLE"] == "Viewer"


def test_ports_bound_to_loopback_and_mount_sources_exist() -> None:
    compose = load_compose({})
    assert host_ports(compose, "grafana")[3000] == ("127.0.0.1", 3000)
    assert host_ports(compose, "influxdb")[8086] == ("127.0.0.1", 8086)
    assert host_ports(compose, "twin")[4840] == ("127.0.0.1", 4840)
    for name in compose["services"]:
        for host in mounts(compose, name).values():
            assert (ROOT / host).exists(), f"{name}: mount source {host} missing"


def test_dockerfile_stages() -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    stages = re.findall(r"^FROM\s+(\S+)(?:\s+AS\s+(\w+))?", text, flags=re.MULTILINE)
    assert stages[0][0].startswith("node:")
    assert stages[-1][0] == "python:3.11-slim"
    assert "bash scripts/fetch-nodesets.sh" in text
    nodeset_dir = re.search(r"TWIN_NODESETS_DIR=(\S+)", text)
    assert nodeset_dir is not None
    assert f"COPY --from=nodesets /nodesets {nodeset_dir.group(1)}" in text
    assert 'ENTRYPOINT ["twin"]' in text
    assert re.search(r'^CMD \["run", ', text, flags=re.MULTILINE)
    compose = load_compose({})
    assert compose["services"]["twin"]["command"][0] == "run"
    scenario = compose["services"]["twin"]["command"][1]
    assert scenario.startswith("/opt/cell-twin/scenarios/")
    assert (ROOT / "scenarios" / Path(scenario).name).is_file()
    assert "COPY scenarios /opt/cell-twin/scenarios" in text
    # the OPC UA server listens on the container's fixed host name (test below), on the port
    # compose publishes
    command = compose["services"]["twin"]["command"]
    opt = {command[i]: command[i + 1] for i in range(2, len(command) - 1, 2)}
    assert opt["--host"] == compose["services"]["twin"]["hostname"]
    assert int(opt["--port"]) in host_ports(compose, "twin")
    assert opt["--speed"] == "1"
    assert "EXPOSE 4840" in text
    ignore = (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    assert {".git", ".venv", ".env"} <= set(ignore)


def test_grafana_image_matches_the_sdk_the_dashboards_are_built_for() -> None:
    """The JSON follows the dashboard schema of the SDK's Grafana release; run that release."""
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    sdk = re.search(r'"grafana-foundation-sdk==\d+!(\d+\.\d+)\.\d+"', pyproject)
    assert sdk is not None, "grafana-foundation-sdk must be pinned exactly"
    image = load_compose({})["services"]["grafana"]["image"]
    assert image.startswith(f"grafana/grafana:{sdk.group(1)}.")


def _twin_params(args: list[str]) -> dict[str, Any]:
    """The parameters ``twin`` parses from ``args`` (a command and its options), as the real
    CLI does: fails on an unknown command, raises on an unknown option."""
    import typer.main

    from twin.cli import app

    group = typer.main.get_group(app)
    command = group.get_command(typer.Context(group), args[0])
    assert command is not None, f"twin has no command {args[0]!r}"
    params: dict[str, Any] = command.make_context(args[0], list(args[1:])).params
    return params


@pytest.mark.parametrize("source", ["compose", "dockerfile"])
def test_twin_command_parses_with_the_real_cli(source: str) -> None:
    """The arguments compose and the image pass to ``twin`` are accepted by the CLI as it is."""
    import json

    if source == "compose":
        args = load_compose({})["services"]["twin"]["command"]
    else:
        cmd = re.search(r"^CMD (\[.*\])$", DOCKERFILE.read_text(encoding="utf-8"), re.MULTILINE)
        assert cmd is not None
        args = json.loads(cmd.group(1))
    params = _twin_params(args)
    # compose: the container's fixed host name (see below); the image alone: every interface
    host = load_compose({})["services"]["twin"]["hostname"] if source == "compose" else "0.0.0.0"
    assert params["host"] == host
    assert params["port"] == 4840
    # a restart (restart: unless-stopped) goes on from the event log, keeping accepted orders,
    # and a log a new image cannot resume is kept, not a restart loop (exit 2 for ever)
    assert params["resume_if_possible"] is True


def test_the_twin_is_given_time_for_a_clean_stop() -> None:
    """Docker kills 10 s after SIGTERM by default: telemetry alone may take TWIN_STOP_TIMEOUT_S
    (15 s) to drain or spool, then the event log's stop, the snapshot and the history."""
    from twin.telemetry.settings import TelemetrySettings

    grace = load_compose({})["services"]["twin"]["stop_grace_period"]
    found = re.fullmatch(r"(\d+)s", grace)
    assert found is not None, grace
    default = TelemetrySettings.model_fields["stop_timeout_s"].default
    assert int(found.group(1)) >= default + 10


def test_twin_server_certificate_survives_container_recreation() -> None:
    """The certificate names the host: a fixed ``hostname`` (not the container ID) that is also
    the address it listens on, so no container IP address (new on every recreation) is in it
    either; and it is kept on the volume at the image's working directory."""
    from opcua_server.security import host_names

    compose = load_compose({})
    twin = compose["services"]["twin"]
    assert twin["hostname"] == "twin"  # the service name: clients on the network reach it so
    params = _twin_params(twin["command"])
    assert params["host"] == twin["hostname"]
    dns, ips = host_names(params["host"])
    assert twin["hostname"] in dns
    assert set(ips) == {"127.0.0.1", "::1"}  # a name to listen on: no interface addresses
    # certificate and key (--pki, relative) under the working directory, a named volume
    workdir = re.findall(r"^WORKDIR (\S+)$", DOCKERFILE.read_text(encoding="utf-8"), re.M)[-1]
    assert not Path(params["pki"]).is_absolute()
    volumes = {
        target: source for source, target in (str(v).split(":")[:2] for v in twin["volumes"])
    }
    assert volumes[workdir] in compose["volumes"]


def test_the_twin_runs_read_only_without_capabilities() -> None:
    """The twin's container may write only where it keeps its state: every path it writes
    (its run directory with the telemetry spool, the OPC UA users, certificate and history,
    all relative to the working directory) is on the writable named volume there, /tmp is in
    memory; it holds and may gain no Linux capability."""
    compose = load_compose({})
    twin = compose["services"]["twin"]
    assert twin["read_only"] is True
    assert twin["cap_drop"] == ["ALL"]
    assert "no-new-privileges:true" in twin["security_opt"]
    assert "/tmp" in twin["tmpfs"]
    text = DOCKERFILE.read_text(encoding="utf-8")
    workdir = re.findall(r"^WORKDIR (\S+)$", text, re.M)[-1]
    writable = {
        target: name
        for name, target, *mode in (str(v).split(":") for v in twin["volumes"])
        if mode != ["ro"]
    }
    assert writable[workdir] in compose["volumes"]
    assert f"--home-dir {workdir}" in text  # HOME too (caches of libraries)
    params = _twin_params(twin["command"])
    for name in ("out", "pki", "users"):
        assert not Path(params[name]).is_absolute(), name  # under the working directory
    assert params["history"] is None  # in the run directory (out)
    assert "TWIN_SPOOL_DIR" not in twin["environment"]  # in the run directory
    assert "PYTHONDONTWRITEBYTECODE=1" in text  # no __pycache__ in the read-only image


def _seconds(duration: str) -> int:
    found = re.fullmatch(r"(\d+)s", duration)
    assert found is not None, duration
    return int(found.group(1))


def test_every_service_is_health_checked() -> None:
    """Each service says when it is ready (``docker compose ps``, ``depends_on``), Grafana
    waits for a healthy InfluxDB, and a check gives up before the next one starts."""
    compose = load_compose({})
    for name, service in compose["services"].items():
        check = service["healthcheck"]
        assert check["test"][0] == "CMD", name  # no shell needed in the image
        assert _seconds(check["timeout"]) < _seconds(check["interval"]), name
        assert check["retries"] >= 3, name
    assert (
        compose["services"]["grafana"]["depends_on"]["influxdb"]["condition"] == "service_healthy"
    )


def test_the_twins_healthcheck_asks_its_opc_ua_server() -> None:
    """The twin's check says Hello to the address and port the twin serves (its host name and
    --port), the server's endpoint URL (an ``opc.tcp://`` URL of that host and port), and
    waits for the start (a restart restores the log and catches up first)."""
    twin = load_compose({})["services"]["twin"]
    check = twin["healthcheck"]
    params = _twin_params(twin["command"])
    code = check["test"][3]
    assert check["test"][:3] == ["CMD", "python", "-c"]
    assert f'("{params["host"]}", {params["port"]})' in code
    assert f'b"opc.tcp://{params["host"]}:{params["port"]}/cell-twin"' in code
    assert _seconds(check["start_period"]) >= 60


def test_grafanas_healthcheck_asks_its_health_api() -> None:
    compose = load_compose({})
    grafana = compose["services"]["grafana"]
    test = grafana["healthcheck"]["test"]
    assert test[:2] == ["CMD", "curl"]
    assert "--fail" in test  # an HTTP error (503: its database is down) is unhealthy
    url = urlparse(test[-1])
    assert (url.hostname, url.path) == ("localhost", "/api/health")
    assert url.port in host_ports(compose, "grafana")  # the port Grafana listens on
