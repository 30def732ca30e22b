"""The production compose file: valid Compose, and the topology docs/deployment.md promises.

There is no Docker engine in CI, so nothing here starts a container. The file is checked against
the Compose Specification's JSON schema by ``check-jsonschema`` (its vendored
``vendor.compose-spec``), and what a schema cannot say (replicas, who waits for whom, which env
every process gets, how the NATS nodes route) is asserted on the parsed YAML.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from journeys import temporal

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"

JOURNEYS_SERVICES = {"migrate", "api", "worker", "router"}
NATS_NODES = {"nats-1", "nats-2", "nats-3"}
TEMPORAL_SERVICES = {
    "temporal-db",
    "temporal-schema",
    "temporal",
    "temporal-namespace",
    "temporal-ui",
}
EXPECTED_SERVICES = JOURNEYS_SERVICES | NATS_NODES | TEMPORAL_SERVICES | {"journeys-db"}
REQUIRED_ENV = ("JOURNEYS_DATABASE_URL", "JOURNEYS_NATS_URL", "JOURNEYS_TEMPORAL_ADDRESS")
CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}


def check_jsonschema() -> str | None:
    """Prefer the one installed next to this interpreter (the venv), then PATH."""
    beside = Path(sys.executable).parent / "check-jsonschema"
    if beside.is_file():
        return str(beside)
    return shutil.which("check-jsonschema")


def validate(path: Path) -> subprocess.CompletedProcess[str]:
    validator = check_jsonschema()
    if validator is None:
        pytest.skip(
            "check-jsonschema is not installed; it ships the Compose Specification schema: "
            "pip install check-jsonschema"
        )
    return subprocess.run(
        [validator, "--builtin-schema", "vendor.compose-spec", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_compose_file_matches_the_compose_specification() -> None:
    result = validate(COMPOSE_FILE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_validator_rejects_an_invalid_compose_file(tmp_path: Path) -> None:
    """A validator that accepts everything would make the test above worthless."""
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(
        "services:\n"
        "  api:\n"
        "    image: journeys\n"
        "    depends_on:\n"
        "      migrate:\n"
        "        condition: service_finished\n"
        "  migrate:\n"
        "    image: journeys\n"
    )
    result = validate(broken)
    assert result.returncode != 0
    assert "depends_on" in result.stdout


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    yaml = pytest.importorskip("yaml", reason="PyYAML reads the compose file: pip install pyyaml")
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text())
    return loaded


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = compose["services"]
    return found


def environment(service: dict[str, Any]) -> dict[str, str]:
    raw = service.get("environment") or {}
    if isinstance(raw, list):
        return dict(item.split("=", 1) for item in raw)
    return {key: str(value) for key, value in raw.items()}


def depends_on(service: dict[str, Any]) -> dict[str, str]:
    raw = service.get("depends_on") or {}
    if isinstance(raw, list):
        return dict.fromkeys(raw, "service_started")
    return {name: spec.get("condition", "service_started") for name, spec in raw.items()}


def command(service: dict[str, Any]) -> list[str]:
    raw = service.get("command") or []
    return shlex.split(raw) if isinstance(raw, str) else [str(part) for part in raw]


def flags(service: dict[str, Any]) -> dict[str, str]:
    """``--name=nats-1`` and ``--jetstream`` -> {"--name": "nats-1", "--jetstream": ""}."""
    return dict(part.partition("=")[::2] for part in command(service) if part.startswith("-"))


def test_every_service_of_the_design_is_there(services: dict[str, dict[str, Any]]) -> None:
    assert set(services) >= EXPECTED_SERVICES


def test_dependencies_volumes_and_configs_are_declared(
    compose: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    """What `docker compose config` would refuse and a JSON schema cannot see."""
    volumes = set(compose.get("volumes") or {})
    configs = set(compose.get("configs") or {})
    for name, service in services.items():
        for target, condition in depends_on(service).items():
            assert target in services, f"{name} depends on unknown service {target}"
            assert condition in CONDITIONS, f"{name} -> {target}: {condition}"
            if condition == "service_healthy":
                assert "healthcheck" in services[target], f"{target} has no healthcheck"
        for mount in service.get("volumes") or []:
            source = mount.split(":", 1)[0] if isinstance(mount, str) else mount["source"]
            if not source.startswith((".", "/", "~")):
                assert source in volumes, f"{name} mounts undeclared volume {source}"
        for config in service.get("configs") or []:
            source = config if isinstance(config, str) else config["source"]
            assert source in configs, f"{name} uses undeclared config {source}"


# Compose refuses to start while one of these is unset: no password or signing key has a default.
REQUIRED_VARIABLES = {
    "JOURNEYS_DB_PASSWORD",
    "TEMPORAL_DB_PASSWORD",
    "JOURNEYS_TRACKING_SECRET",
    "JOURNEYS_CONSOLE_SECRET",
}


def test_interpolation_has_defaults_or_is_required_and_shell_dollars_are_escaped() -> None:
    """Every ${VAR} has a default, but for the passwords and secrets, which are required
    (`${VAR:?message}`); `$` meant for a shell script is written `$$` so Compose leaves it."""
    text = COMPOSE_FILE.read_text().replace("$$", "")
    variables = re.findall(r"\$\{([^}]*)\}", text)
    assert variables, "expected the documented ${VAR:-default} knobs"
    required = set()
    for variable in variables:
        if match := re.fullmatch(r"([A-Z][A-Z0-9_]*):\?[^}]+", variable):
            required.add(match.group(1))
        else:
            assert re.fullmatch(r"[A-Z][A-Z0-9_]*:-[^}]*", variable), (
                f"${{{variable}}} has no default"
            )
    assert required == REQUIRED_VARIABLES
    stray = re.sub(r"\$\{[^}]*\}", "", text)
    assert "$" not in stray, "an unescaped $ would be interpolated by Compose"


def test_no_password_or_secret_has_a_default(
    compose: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    """The probe found default database passwords: each now comes from a required variable."""
    required = r"\$\{[A-Z][A-Z0-9_]*:\?[^}]+\}"
    for name, service in services.items():
        for key, value in environment(service).items():
            if re.search("PASSWORD|PWD", key):
                assert re.fullmatch(required, value), f"{name}: {key} has a default"
    shared = compose["x-journeys-env"]
    assert shared["JOURNEYS_ENV"] == "production"
    url = shared["JOURNEYS_DATABASE_URL"]
    assert re.search(r"//journeys:\$\{JOURNEYS_DB_PASSWORD:\?[^}]+\}@", url), url
    for key in ("JOURNEYS_TRACKING_SECRET", "JOURNEYS_CONSOLE_SECRET"):
        assert re.fullmatch(required, shared[key]), key
    assert re.fullmatch(r"\$\{JOURNEYS_WEBHOOK_SECRET:-\}", shared["JOURNEYS_WEBHOOK_SECRET"])


def test_the_image_is_production_unless_told_otherwise() -> None:
    assert re.search(r"^\s*JOURNEYS_ENV=production\b", DOCKERFILE.read_text(), re.MULTILINE)


def test_workers_and_routers_are_replicated(services: dict[str, dict[str, Any]]) -> None:
    for name in ("worker", "router"):
        service = services[name]
        replicas = service["deploy"]["replicas"]
        assert isinstance(replicas, int)
        assert replicas >= 2
        # Replicas cannot share a container name or a published host port.
        assert "container_name" not in service
        assert "ports" not in service


def test_journeys_processes_wait_for_the_migration(services: dict[str, dict[str, Any]]) -> None:
    migrate = services["migrate"]
    assert command(migrate) == ["migrate"]
    assert migrate["restart"] == "no"
    assert depends_on(migrate) == {"journeys-db": "service_healthy"}
    for name in ("api", "worker", "router"):
        assert command(services[name]) == [name]
        assert depends_on(services[name])["migrate"] == "service_completed_successfully"


def test_every_journeys_process_gets_the_same_settings(
    compose: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    shared = {key: str(value) for key, value in compose["x-journeys-env"].items()}
    assert all(key.startswith("JOURNEYS_") for key in shared)
    built_here = {name for name, service in services.items() if "build" in service}
    assert built_here == JOURNEYS_SERVICES
    for name in JOURNEYS_SERVICES:
        env = environment(services[name])
        assert env == shared, name
        for key in REQUIRED_ENV:
            assert env[key], f"{name} has no {key}"


def test_settings_point_at_services_of_this_file(
    compose: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    env = {key: str(value) for key, value in compose["x-journeys-env"].items()}

    database = urlsplit(re.sub(r"\$\{[^}]*\}", "secret", env["JOURNEYS_DATABASE_URL"]))
    assert database.scheme == "postgresql+psycopg"
    assert database.hostname == "journeys-db"
    assert services["journeys-db"]["image"].startswith("postgres:")
    assert database.path == "/" + services["journeys-db"]["environment"]["POSTGRES_DB"]

    seeds = [urlsplit(url) for url in env["JOURNEYS_NATS_URL"].split(",")]
    assert {seed.scheme for seed in seeds} == {"nats"}
    assert sorted(seed.hostname or "" for seed in seeds) == sorted(NATS_NODES)
    assert env["JOURNEYS_STREAM_REPLICAS"] == str(len(NATS_NODES))

    host, _, port = env["JOURNEYS_TEMPORAL_ADDRESS"].rpartition(":")
    assert host == "temporal"
    assert port == "7233"
    namespace_job = environment(services["temporal-namespace"])
    assert env["JOURNEYS_TEMPORAL_NAMESPACE"] == namespace_job["NAMESPACE"]


def test_nats_nodes_form_one_jetstream_cluster(
    compose: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    nodes = {name for name in services if name.startswith("nats")}
    assert nodes == NATS_NODES
    cluster_names = set()
    for node in sorted(nodes):
        service = services[node]
        options = flags(service)
        assert "--jetstream" in options or "-js" in options, f"{node}: JetStream is off"
        assert options["--name"] == node, "JetStream needs a stable, unique server name"
        assert options["--cluster"].endswith(":6222")
        cluster_names.add(options["--cluster_name"])
        routes = {urlsplit(route).hostname for route in options["--routes"].split(",")}
        assert routes >= nodes - {node}, f"{node} routes to {routes}"
        store = options["--store_dir"]
        mounts = [mount.split(":", 1) for mount in service["volumes"]]
        assert [store] == [target for source, target in mounts if source in compose["volumes"]]
        assert "healthcheck" in service
    assert len(cluster_names) == 1
    assert len({services[node]["volumes"][0] for node in nodes}) == 3, "nodes share a volume"

    conf_path = flags(services["nats-1"])["--config"]
    (config,) = services["nats-1"]["configs"]
    assert config["target"] == conf_path
    assert "sync_interval" in compose["configs"][config["source"]]["content"]


def test_temporal_runs_on_postgresql(services: dict[str, dict[str, Any]]) -> None:
    server = services["temporal"]
    env = environment(server)
    assert server["image"].startswith("temporalio/server:")
    assert env["DB"] == "postgres12"
    seed = env["POSTGRES_SEEDS"]
    assert seed == "temporal-db"
    assert services[seed]["image"].startswith("postgres:")
    assert seed != "journeys-db", "Temporal and the Journeys store have separate databases"
    assert depends_on(server) == {"temporal-schema": "service_completed_successfully"}

    version = server["image"].split(":", 1)[1]
    schema_job = services["temporal-schema"]
    assert schema_job["image"] == f"temporalio/admin-tools:{version}"
    script = " ".join(command(schema_job))
    for database in (env["DBNAME"], env["VISIBILITY_DBNAME"]):
        assert f"--db {database} setup-schema" in script
        assert f"--db {database} update-schema" in script
    assert "--plugin postgres12" in script
    assert depends_on(schema_job) == {"temporal-db": "service_healthy"}


def test_search_attributes_match_the_code(services: dict[str, dict[str, Any]]) -> None:
    """The namespace job registers exactly what journeys/temporal.py searches by."""
    script = " ".join(command(services["temporal-namespace"]))
    registered = dict(re.findall(r"retry attribute (\w+) (\w+)", script))
    expected = {
        temporal.CUSTOMER_ID.name: "Keyword",
        temporal.JOURNEY_KEY.name: "Keyword",
        temporal.JOURNEY_VERSION.name: "Int",
    }
    assert registered == expected
    # The server image creates no namespace: nothing may start journeys before the job made it.
    for name in ("api", "worker", "router"):
        condition = depends_on(services[name])["temporal-namespace"]
        assert condition == "service_completed_successfully", name


def test_the_api_is_published_and_health_checked(services: dict[str, dict[str, Any]]) -> None:
    api = services["api"]
    assert "8000:8000" in api["ports"]
    assert "/health" in " ".join(api["healthcheck"]["test"])
    assert services["temporal-ui"]["image"].startswith("temporalio/ui:")


def test_the_image_runs_journeys_as_a_non_root_user() -> None:
    lines = [line.strip() for line in DOCKERFILE.read_text().splitlines()]
    instructions = [line for line in lines if line and not line.startswith("#")]
    final_stage = instructions[max(i for i, x in enumerate(instructions) if x.startswith("FROM")) :]
    users = [line.split()[1] for line in final_stage if line.startswith("USER ")]
    assert users, "the final stage sets no USER"
    assert users[-1].split(":")[0] not in {"root", "0"}
    assert 'ENTRYPOINT ["journeys"]' in final_stage
    assert any(line.startswith("COPY templates/") for line in final_stage)
    assert any("pip install ." in line for line in instructions)


def test_jetstream_sync_interval_is_chosen_and_explained(compose: dict[str, Any]) -> None:
    """Issue 7: JetStream's fsync policy is set on purpose, with the reason beside it."""
    content = compose["configs"]["nats-conf"]["content"]
    (value,) = re.findall(r"sync_interval:\s*(\S+)", content)
    assert re.fullmatch(r"\$\{NATS_SYNC_INTERVAL:-(always|\d+[smh])\}", value), value
    lines = COMPOSE_FILE.read_text().splitlines()
    at = next(i for i, line in enumerate(lines) if line.strip() == "nats-conf:")
    comment = []
    for line in reversed(lines[:at]):
        if not line.strip().startswith("#"):
            break
        comment.append(line)
    explanation = " ".join(comment).lower()
    assert "sync_interval" in explanation or "fsync" in explanation, "no reason given"
    assert "invariant 1" in explanation or "lost" in explanation


def test_workers_and_routers_are_health_checked_on_their_readiness_ports(
    services: dict[str, dict[str, Any]],
) -> None:
    for name, setting in (
        ("worker", "JOURNEYS_WORKER_HEALTH_PORT"),
        ("router", "JOURNEYS_ROUTER_HEALTH_PORT"),
    ):
        service = services[name]
        environment = service["environment"]
        # Reachable from a scraper on the compose network, not only from inside the container.
        assert environment["JOURNEYS_HEALTH_HOST"] == "0.0.0.0"
        port = environment[setting]
        assert f"http://127.0.0.1:{port}/readyz" in " ".join(service["healthcheck"]["test"])
        assert "ports" not in service, f"{name}'s health port is not published on the host"
