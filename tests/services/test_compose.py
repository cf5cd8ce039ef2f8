"""docker-compose.yml and the Dockerfile, checked against the code (no Docker engine here).

Every failure names the service and the setting at fault, so a renamed option,
settings field or command breaks this test instead of a deployment.
"""

from __future__ import annotations

import copy
import re
import shlex
import tomllib
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import pytest
import yaml
from pydantic import BaseModel, SecretStr

from contracts.settings import Settings, StackSettings
from services.cli.main import cli

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
PROJECT_IMAGE = "fraudstream:local"
#: Read by contracts.settings itself (the config file's path), not a Settings field.
NON_FIELD_VARIABLES = {"FRAUDSTREAM_CONFIG"}


# -- reading the compose file -----------------------------------------------------------


#: What a required variable (``${VAR:?message}``) stands for in these tests.
REQUIRED = "required-value-set-in-dot-env"


def interpolate(text: str) -> str:
    """Compose's ``${VAR:-default}`` / ``${VAR-default}`` / ``${VAR}`` with an empty shell,
    and ``${VAR:?message}`` (compose refuses to start without VAR) as ``REQUIRED``."""
    pattern = r"\$\{(?P<name>\w+)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}"

    def value(m: re.Match[str]) -> str:
        if (m.group("op") or "").endswith("?"):
            return REQUIRED
        return m.group("arg") or ""

    return re.sub(pattern, value, text).replace("$$", "$")


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(key): interpolate(str(value)) for key, value in env.items()}


def argv(value: Any) -> list[str]:
    if value is None:
        return []
    return shlex.split(value) if isinstance(value, str) else [interpolate(str(v)) for v in value]


def is_job(service: dict[str, Any]) -> bool:
    return (service.get("labels") or {}).get("fraudstream.role") == "job"


def depends_on(service: dict[str, Any]) -> dict[str, dict[str, Any]]:
    deps = service.get("depends_on") or {}
    return {name: {} for name in deps} if isinstance(deps, list) else deps


def fraudstream_command_lines(service: dict[str, Any]) -> list[list[str]]:
    """The argument lists handed to the ``fraudstream`` program by this service."""
    entrypoint = argv(service.get("entrypoint"))
    command = argv(service.get("command"))
    if entrypoint:
        return [entrypoint[1:] + command] if Path(entrypoint[0]).name == "fraudstream" else []
    uses_project_image = service.get("image") == PROJECT_IMAGE or "build" in service
    return [command] if uses_project_image and command else []


# -- resolving command lines against the click tree -------------------------------------


def with_container_paths(command: click.Command) -> click.Command:
    """A copy that does not require path arguments to exist: they name files inside the
    container. Names, options, choices and number ranges are still checked."""
    relaxed = copy.copy(command)
    relaxed.params = []
    for param in command.params:
        if isinstance(param.type, click.Path) and param.type.exists:
            anywhere = copy.copy(param.type)
            anywhere.exists = False
            param = copy.copy(param)
            param.type = anywhere
        relaxed.params.append(param)
    return relaxed


def resolve(args: list[str]) -> str:
    """The full name of the command ``fraudstream ARGS`` runs; raises ``click.UsageError``
    for an unknown subcommand or option, a bad value, or a missing argument."""
    command: click.Command = cli
    path = ["fraudstream"]
    while True:
        ctx = with_container_paths(command).make_context(" ".join(path), list(args))
        if not isinstance(command, click.Group):
            return " ".join(path)
        # What follows the group's own options: click keeps it here until invoke().
        rest = [*ctx._protected_args, *ctx.args]
        if not rest:
            raise click.UsageError(f"{' '.join(path)} is a group: name one of its commands")
        name, sub, args = command.resolve_command(ctx, rest)
        assert sub is not None and name is not None
        command, path = sub, [*path, name]


def settings_field_problem(variable: str) -> str | None:
    """Why ``variable`` names no field of ``Settings`` (walking nested models), or None."""
    parts = variable.removeprefix("FRAUDSTREAM_").lower().split("__")
    model: type[BaseModel] = Settings
    for depth, part in enumerate(parts):
        fields = model.model_fields
        if part not in fields:
            where = ".".join(parts[:depth]) or "Settings"
            return f"{where} has no field {part!r} (fields: {', '.join(sorted(fields))})"
        nested = [
            kind
            for kind in (fields[part].annotation, *typing.get_args(fields[part].annotation))
            if isinstance(kind, type) and issubclass(kind, BaseModel)
        ]
        if nested:
            model = nested[0]
            continue
        is_mapping = typing.get_origin(fields[part].annotation) is dict
        if depth < len(parts) - 1 and not is_mapping:
            return f"{'.'.join(parts[: depth + 1])} is a value, it has no {parts[depth + 1]!r}"
        return None
    return None


def attribute(settings: Settings, variable: str) -> Any:
    value: Any = settings
    for part in variable.removeprefix("FRAUDSTREAM_").lower().split("__"):
        value = value[part] if isinstance(value, dict) else getattr(value, part)
    return value.get_secret_value() if isinstance(value, SecretStr) else value


# -- the checks ---------------------------------------------------------------------------

COMMAND_LINES = [
    pytest.param(name, line, id=f"{name}: fraudstream {' '.join(line)}")
    for name, service in SERVICES.items()
    for line in fraudstream_command_lines(service)
]


def test_the_app_services_run_fraudstream_commands():
    runners = {name for name, _ in (p.values for p in COMMAND_LINES)}
    assert {"topics-init", "simulate", "replay"} <= runners, runners


@pytest.mark.parametrize(("service", "line"), COMMAND_LINES)
def test_every_fraudstream_command_line_resolves_to_a_real_command(service, line):
    try:
        resolve(line)
    except click.ClickException as exc:
        pytest.fail(
            f"service {service!r}: `fraudstream {shlex.join(line)}`: {exc.format_message()}"
        )


def test_the_resolver_rejects_what_click_would_reject():
    assert resolve(["topics", "ensure", "--wait", "5"]) == "fraudstream topics ensure"
    assert resolve(["replay", "/in/container.csv", "--preset", "sparkov"]) == "fraudstream replay"
    for bad in (
        ["topics", "ensur"],
        ["topics"],
        ["replay", "x.csv", "--speeed", "2"],
        ["replay", "x.csv", "--on-error", "ignore"],
        ["replay"],
        ["nonsense"],
    ):
        with pytest.raises(click.UsageError):
            resolve(bad)


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_fraudstream_variables_are_settings_fields_and_load(name, monkeypatch, tmp_path):
    variables = {
        k: v for k, v in environment(SERVICES[name]).items() if k.startswith("FRAUDSTREAM_")
    }
    problems = [
        f"{variable}: {problem}"
        for variable in sorted(set(variables) - NON_FIELD_VARIABLES)
        if (problem := settings_field_problem(variable))
    ]
    assert not problems, f"service {name!r}: " + "; ".join(problems)
    if not variables:
        return
    # Loaded the way the container will load them, each must land on the field it names.
    config = tmp_path / "empty.toml"
    config.write_text("", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FRAUDSTREAM_CONFIG", str(config))
    for variable, value in variables.items():
        monkeypatch.setenv(variable, value)
    try:
        settings = Settings()
    except Exception as exc:
        pytest.fail(f"service {name!r}: its FRAUDSTREAM_* variables do not load: {exc}")
    for variable, value in variables.items():
        if variable not in NON_FIELD_VARIABLES:
            assert str(attribute(settings, variable)) == value, f"service {name!r}: {variable}"


def test_the_settings_walk_catches_misspellings():
    assert settings_field_problem("FRAUDSTREAM_KAFKA__BOOTSTRAP_SERVERS") is None
    assert settings_field_problem("FRAUDSTREAM_KAFKA__CLIENT__SECURITY_PROTOCOL") is None
    assert "no field 'bootstrap_server'" in str(
        settings_field_problem("FRAUDSTREAM_KAFKA__BOOTSTRAP_SERVER")
    )
    assert "no field 'kafak'" in str(settings_field_problem("FRAUDSTREAM_KAFAK__PARTITIONS"))
    assert "is a value" in str(settings_field_problem("FRAUDSTREAM_REDIS__URL__HOST"))


def test_signing_keys_have_no_default_anyone_could_read_here():
    """A token-signing key with a default in this public file lets anyone who reads
    it sign a session for any user, admins included: compose must refuse to start."""
    for name, service in SERVICES.items():
        for variable, raw in (service.get("environment") or {}).items():
            if variable.endswith("SECRET_KEY"):
                assert re.fullmatch(r"\$\{\w+:\?[^}]+\}", str(raw)), (name, variable, raw)
                assert environment(service)[variable] == REQUIRED


def test_app_addresses_point_at_services_of_this_file():
    hosts: dict[str, Callable[[str], list[str]]] = {
        "FRAUDSTREAM_KAFKA__BOOTSTRAP_SERVERS": lambda v: [s.split(":")[0] for s in v.split(",")],
        "FRAUDSTREAM_REDIS__URL": lambda v: [re.sub(r"^\w+://(?:[^@]*@)?([^:/]+).*$", r"\1", v)],
        "FRAUDSTREAM_MLFLOW__TRACKING_URI": lambda v: [re.sub(r"^https?://([^:/]+).*$", r"\1", v)],
    }
    for name, service in SERVICES.items():
        for variable, value in environment(service).items():
            for host in hosts[variable](value) if variable in hosts else []:
                assert host in SERVICES, (
                    f"service {name!r}: {variable}={value}: no service {host!r}"
                )
    kafka_env = environment(SERVICES["kafka"])
    bootstrap = environment(SERVICES["topics-init"])["FRAUDSTREAM_KAFKA__BOOTSTRAP_SERVERS"]
    assert f"//{bootstrap}" in kafka_env["KAFKA_ADVERTISED_LISTENERS"], (
        "apps must use an advertised listener"
    )


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_long_running_services_have_health_checks_and_jobs_do_not_restart(name):
    service = SERVICES[name]
    if is_job(service):
        assert service.get("restart") in ("no", "on-failure"), f"job {name!r}: restart must be 'no'"
        return
    check = service.get("healthcheck") or {}
    test = argv(check.get("test"))
    assert test and test != ["NONE"] and not check.get("disable"), (
        f"long-running service {name!r} has no healthcheck "
        "(label one-shot services `fraudstream.role: job`)"
    )


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_dependencies_exist_and_wait_for_health_or_completion(name):
    service = SERVICES[name]
    for target, spec in depends_on(service).items():
        assert target in SERVICES, f"service {name!r} depends on {target!r}, which does not exist"
        wanted = "service_completed_successfully" if is_job(SERVICES[target]) else "service_healthy"
        assert spec.get("condition") == wanted, (
            f"service {name!r}: depends_on {target!r} needs `condition: {wanted}`"
        )
        if not service.get("profiles"):
            assert not SERVICES[target].get("profiles"), (
                f"service {name!r} runs in every profile but needs {target!r}, which does not"
            )


def published_ports(service: dict[str, Any]) -> list[tuple[str, int, str]]:
    found = []
    for port in service.get("ports") or []:
        if isinstance(port, dict):
            ip, published, protocol = (
                port.get("host_ip", ""),
                port.get("published"),
                port.get("protocol", "tcp"),
            )
        else:
            spec, _, protocol = str(port).partition("/")
            parts = spec.rsplit(":", 2)
            ip = parts[0] if len(parts) == 3 else ""
            published = parts[-2] if len(parts) >= 2 else None
        if published is not None:
            found.append((ip or "0.0.0.0", int(published), protocol or "tcp"))  # noqa: S104
    return found


def test_published_ports_do_not_clash_with_each_other_or_the_local_stack():
    taken: dict[tuple[int, str], tuple[str, str]] = {}
    local_stack = {StackSettings().kafka_port, StackSettings().redis_port}
    for name, service in SERVICES.items():
        for ip, port, protocol in published_ports(service):
            assert port not in local_stack, f"service {name!r}: port {port} is the local stack's"
            other = taken.get((port, protocol))
            if other is not None:
                other_name, other_ip = other
                assert ip != other_ip and "0.0.0.0" not in (ip, other_ip), (  # noqa: S104
                    f"services {other_name!r} and {name!r} both publish {protocol} port {port}"
                )
            taken[(port, protocol)] = (name, ip)
    assert taken, "expected published ports"


def test_kafka_runs_in_kraft_mode_without_zookeeper():
    kafka = SERVICES["kafka"]
    assert kafka["image"].startswith("apache/kafka:"), "use the official apache/kafka image"
    env = environment(kafka)
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert env.get("KAFKA_CONTROLLER_QUORUM_VOTERS") or env.get(
        "KAFKA_CONTROLLER_QUORUM_BOOTSTRAP_SERVERS"
    )
    assert "CONTROLLER" in env["KAFKA_CONTROLLER_LISTENER_NAMES"].split(",")
    for name, service in SERVICES.items():
        mentions = [k for k in environment(service) if "ZOOKEEPER" in k.upper()]
        assert "zookeeper" not in str(service.get("image", "")).lower() and not mentions, (
            f"service {name!r} refers to ZooKeeper: {mentions or service.get('image')}"
        )


def test_dockerfile_builds_the_project_on_python_311_slim_with_fraudstream_entrypoint():
    lines = [
        line.strip() for line in (ROOT / "Dockerfile").read_text(encoding="utf-8").splitlines()
    ]
    stages = [line.split()[1] for line in lines if line.upper().startswith("FROM ")]
    assert stages and all(stage == "python:3.11-slim" for stage in stages), stages
    assert 'ENTRYPOINT ["fraudstream"]' in lines
    assert any(re.search(r"pip install .*\s\.(\[[\w,]+\])?$", line) for line in lines), (
        "project not installed"
    )
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    for package in pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]:
        assert f"COPY {package} ./{package}" in lines, (
            f"the Dockerfile does not copy package {package!r}"
        )
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    assert {".git", ".venv", "tests"} <= set(ignored)
