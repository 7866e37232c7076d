"""Static checks of the deployment files in collector/.

No Docker, otelcol or Jaeger binary runs here, so these tests read the files the way those
programs would and check the mistakes that would otherwise only show up at `docker compose up`:
a pipeline naming an undeclared component, a connector wired only one way, `memory_limiter` not
first, spanmetrics fed after sampling, ports that disagree between README, YAML and compose, and
compose mounting files that do not exist.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

COLLECTOR_DIR = Path(__file__).resolve().parent.parent / "collector"
README = COLLECTOR_DIR / "README.md"
COMPOSE = COLLECTOR_DIR / "docker-compose.yml"

# Overlays are merged onto their base the way otelcol merges repeated --config flags.
OVERLAYS = {"otelcol-clickhouse.yaml": "otelcol.yaml"}
OTELCOL_CONFIGS = ["otelcol.yaml", "jaeger.yaml", "otelcol-loadbalancer.yaml", "otelcol-clickhouse.yaml"]

PIPELINE_TYPES = {"traces", "metrics", "logs", "profiles"}
SPANMETRICS_DIMENSIONS = {"agenttrace.stage", "agenttrace.run_id", "http.route"}
EXPECTED_IMAGES = {
    "otel-collector": "otel/opentelemetry-collector-contrib",
    "jaeger": "jaegertracing/jaeger",
    "prometheus": "prom/prometheus",
}
LISTEN_HOSTS = {"", "0.0.0.0", "::", "[::]", "localhost", "127.0.0.1"}
HOST_SERVICE = "host"  # README name for the agenttrace collector running outside compose
HOST_ALIASES = {"host.docker.internal"}

_ENV_DEFAULT = re.compile(r"\$\{(?:env:)?[A-Za-z_][A-Za-z0-9_]*:-([^}]*)\}")


# --------------------------------------------------------------------------- loading


def _expand_env_defaults(text: str) -> str:
    """Replace ``${env:NAME:-default}`` by its default, as otelcol does with NAME unset."""
    return _ENV_DEFAULT.sub(lambda m: m.group(1), text)


def _load_yaml(path: Path) -> Any:
    return yaml.safe_load(_expand_env_defaults(path.read_text(encoding="utf-8")))


def _merge(base: Any, overlay: Any) -> Any:
    """Merge like otelcol's repeated --config: maps merge deeply, anything else is replaced."""
    if isinstance(base, dict) and isinstance(overlay, dict):
        merged = dict(base)
        for key, value in overlay.items():
            merged[key] = _merge(base[key], value) if key in base else value
        return merged
    return overlay


def load_otelcol(name: str) -> dict[str, Any]:
    config = _load_yaml(COLLECTOR_DIR / name)
    if name in OVERLAYS:
        config = _merge(load_otelcol(OVERLAYS[name]), config)
    assert isinstance(config, dict), f"{name} is not a mapping"
    return config


def load_compose() -> dict[str, Any]:
    compose = _load_yaml(COMPOSE)
    assert isinstance(compose, dict) and isinstance(compose.get("services"), dict)
    return compose


def _section(config: dict[str, Any], name: str) -> dict[str, Any]:
    return config.get(name) or {}


def _pipelines(config: dict[str, Any]) -> dict[str, dict[str, list[str]]]:
    pipelines = _section(_section(config, "service"), "pipelines")
    assert pipelines, "service.pipelines is empty"
    return {name: {k: list(v or []) for k, v in body.items()} for name, body in pipelines.items()}


def _component_type(component_id: str) -> str:
    return component_id.split("/", 1)[0]


# --------------------------------------------------------------------------- endpoints


def _host_port(endpoint: str) -> tuple[str, int] | None:
    """``http://jaeger:4317/v1`` -> ("jaeger", 4317); None when the string names no port."""
    without_scheme = re.sub(r"^[a-z][a-z0-9+.-]*://", "", endpoint.strip())
    authority = re.split(r"[/?]", without_scheme, maxsplit=1)[0]
    host, sep, port = authority.rpartition(":")
    if not sep or not port.isdigit():
        return None
    return host, int(port)


def _walk(node: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    yield path, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _walk(value, (*path, str(key)))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _walk(value, (*path, str(index)))


def otelcol_endpoints(config: dict[str, Any]) -> tuple[set[int], set[tuple[str, int]]]:
    """Ports the config listens on, and the (host, port) targets it connects to.

    An address on a wildcard or loopback host is a listener (receivers, extensions, the prometheus
    exporter, the telemetry pull reader); one on a named host is something this process dials.
    """
    found: set[tuple[str, int]] = set()
    for path, node in _walk(config):
        if not isinstance(node, dict):
            continue
        endpoint = node.get("endpoint")
        if isinstance(endpoint, str) and (parsed := _host_port(endpoint)):
            found.add(parsed)
        hostnames = node.get("hostnames")
        if isinstance(hostnames, list):  # loadbalancing static resolver
            found.update(p for h in hostnames if (p := _host_port(str(h))))
        if path and path[-1] == "dns" and "hostname" in node:  # loadbalancing dns resolver
            found.add((str(node["hostname"]), int(node.get("port", 4317))))
        if path and path[-1] == "prometheus" and isinstance(node.get("port"), int):  # telemetry pull reader
            found.add((str(node.get("host", "")), node["port"]))
    listens = {port for host, port in found if host in LISTEN_HOSTS}
    targets = {(host, port) for host, port in found if host not in LISTEN_HOSTS}
    return listens, targets


# --------------------------------------------------------------------------- README / compose


def readme_port_rows() -> list[dict[str, str]]:
    """Rows of the README's ports table (the table whose header starts with ``Port``)."""
    rows: list[dict[str, str]] = []
    header: list[str] | None = None
    for line in README.read_text(encoding="utf-8").splitlines():
        if not line.startswith("|"):
            if header is not None and rows:
                break
            header = None
            continue
        cells = [c.strip().strip("`") for c in line.strip().strip("|").split("|")]
        if header is None:
            if cells[0] == "Port":
                header = [c.lower() for c in cells]
            continue
        if set(cells[0]) <= set("-: "):
            continue
        assert len(cells) == len(header), f"ragged README ports row: {line}"
        rows.append(dict(zip(header, cells, strict=True)))
    assert rows, "README.md has no ports table"
    return rows


def compose_port_mappings(service: dict[str, Any]) -> set[tuple[int, int]]:
    mappings = set()
    for entry in service.get("ports", []):
        if isinstance(entry, dict):
            mappings.add((int(entry["published"]), int(entry["target"])))
            continue
        parts = str(entry).split("/")[0].split(":")
        mappings.add((int(parts[-2]), int(parts[-1])))
    return mappings


def compose_bind_mounts(service: dict[str, Any]) -> list[tuple[str, str]]:
    """(host path, container path) of each bind mount; named volumes are skipped."""
    mounts = []
    for entry in service.get("volumes", []):
        if isinstance(entry, dict):
            if entry.get("type") == "bind":
                mounts.append((entry["source"], entry["target"]))
            continue
        source, target = str(entry).split(":")[:2]
        if source.startswith((".", "/", "~")):
            mounts.append((source, target))
    return mounts


def config_file_services() -> dict[str, str]:
    """Which compose service runs each collector/ file, from the bind mounts."""
    owners: dict[str, str] = {}
    for name, service in load_compose()["services"].items():
        for source, _target in compose_bind_mounts(service):
            owners[(COMPOSE.parent / source).resolve().name] = name
    return owners


# --------------------------------------------------------------------------- pipelines


@pytest.mark.parametrize("name", OTELCOL_CONFIGS)
def test_pipelines_name_only_declared_components(name: str) -> None:
    config = load_otelcol(name)
    receivers, processors = set(_section(config, "receivers")), set(_section(config, "processors"))
    exporters, connectors = set(_section(config, "exporters")), set(_section(config, "connectors"))
    for pipeline, body in _pipelines(config).items():
        assert _component_type(pipeline) in PIPELINE_TYPES, f"{name}: pipeline {pipeline!r} has no known type"
        assert body.get("receivers"), f"{name}: pipeline {pipeline} has no receivers"
        assert body.get("exporters"), f"{name}: pipeline {pipeline} has no exporters"
        assert set(body["receivers"]) <= receivers | connectors, f"{name}: {pipeline} receivers"
        assert set(body.get("processors", [])) <= processors, f"{name}: {pipeline} processors"
        assert set(body["exporters"]) <= exporters | connectors, f"{name}: {pipeline} exporters"
    extensions = set(_section(config, "extensions"))
    assert set(_section(config, "service").get("extensions", [])) <= extensions, f"{name}: service.extensions"


@pytest.mark.parametrize("name", OTELCOL_CONFIGS)
def test_every_declared_component_is_used(name: str) -> None:
    config = load_otelcol(name)
    used = {kind: set() for kind in ("receivers", "processors", "exporters")}
    for body in _pipelines(config).values():
        for kind in used:
            used[kind].update(body.get(kind, []))
    for kind, names in used.items():
        assert set(_section(config, kind)) <= names, f"{name}: {kind} declared but in no pipeline"
    assert set(_section(config, "extensions")) <= set(_section(config, "service").get("extensions", []))


@pytest.mark.parametrize("name", OTELCOL_CONFIGS)
def test_connectors_are_wired_both_ways(name: str) -> None:
    config = load_otelcol(name)
    pipelines = _pipelines(config)
    for connector in _section(config, "connectors"):
        into = {p for p, body in pipelines.items() if connector in body.get("exporters", [])}
        out_of = {p for p, body in pipelines.items() if connector in body.get("receivers", [])}
        assert into, f"{name}: connector {connector} is never an exporter"
        assert out_of, f"{name}: connector {connector} is never a receiver"
        assert into != out_of, f"{name}: connector {connector} feeds its own pipeline"


@pytest.mark.parametrize("name", OTELCOL_CONFIGS)
def test_memory_limiter_comes_first(name: str) -> None:
    for pipeline, body in _pipelines(load_otelcol(name)).items():
        processors = body.get("processors", [])
        if processors:
            assert _component_type(processors[0]) == "memory_limiter", f"{name}: {pipeline} starts with {processors}"


def _pipelines_exporting(config: dict[str, Any], component_type: str) -> dict[str, dict[str, list[str]]]:
    return {
        p: body
        for p, body in _pipelines(config).items()
        if any(_component_type(e) == component_type for e in body.get("exporters", []))
    }


def _has_sampling(body: dict[str, list[str]]) -> bool:
    return any(_component_type(p) == "tail_sampling" for p in body.get("processors", []))


def test_spanmetrics_and_agenttrace_see_every_span_jaeger_sees_the_sample() -> None:
    config = load_otelcol("otelcol.yaml")
    exporters = _section(config, "exporters")
    agenttrace = [e for e in exporters if e.endswith("/agenttrace")]
    assert agenttrace, "no exporter to the agenttrace collector"
    jaeger = [e for e in exporters if e.endswith("/jaeger")]
    assert jaeger, "no exporter to Jaeger"
    for pipeline, body in _pipelines(config).items():
        for exporter in body["exporters"]:
            if _component_type(exporter) == "spanmetrics" or exporter in agenttrace:
                assert not _has_sampling(body), f"{exporter} is fed after sampling in {pipeline}"
            if exporter in jaeger:
                assert _has_sampling(body), f"{exporter} gets unsampled traces in {pipeline}"
    assert _pipelines_exporting(config, "spanmetrics"), "spanmetrics is not fed"
    assert "prometheus" in {_component_type(e) for b in _pipelines(config).values() for e in b["exporters"]}


def test_spanmetrics_matches_what_jaeger_monitor_queries() -> None:
    spanmetrics = _section(load_otelcol("otelcol.yaml"), "connectors")["spanmetrics"]
    dimensions = {d["name"] for d in spanmetrics.get("dimensions", [])}
    assert dimensions >= SPANMETRICS_DIMENSIONS
    assert {"buckets"} <= set(spanmetrics["histogram"]["explicit"])
    assert spanmetrics.get("metrics_flush_interval")

    jaeger = load_otelcol("jaeger.yaml")
    extensions = _section(jaeger, "extensions")
    backends = extensions["jaeger_storage"]["metric_backends"]
    metrics_store = extensions["jaeger_query"]["storage"]["metrics"]
    prometheus = backends[metrics_store]["prometheus"]
    assert prometheus["metric_namespace"] == spanmetrics["namespace"].replace(".", "_")
    assert prometheus["latency_unit"] == spanmetrics["histogram"]["unit"]
    assert prometheus["normalize_calls"] is True and prometheus["normalize_duration"] is True
    assert extensions["jaeger_query"]["storage"]["traces"] in extensions["jaeger_storage"]["backends"]
    # Jaeger gets sampled traces only, so RED metrics computed there would be wrong.
    assert "spanmetrics" not in _section(jaeger, "connectors")


def test_tail_sampling_keeps_errors_slow_traces_and_a_baseline() -> None:
    tail_sampling = _section(load_otelcol("otelcol.yaml"), "processors")["tail_sampling"]
    policies = {p["type"]: p for p in tail_sampling["policies"]}
    assert {"status_code", "latency", "probabilistic"} <= set(policies), sorted(policies)
    assert "ERROR" in policies["status_code"]["status_code"]["status_codes"]
    assert policies["latency"]["latency"]["threshold_ms"] > 0
    assert 0 < policies["probabilistic"]["probabilistic"]["sampling_percentage"] < 100
    assert {"always_sample"}.isdisjoint(policies), "always_sample would keep every trace"


def test_loadbalancer_routes_by_trace_id() -> None:
    config = load_otelcol("otelcol-loadbalancer.yaml")
    loadbalancing = _section(config, "exporters")["loadbalancing"]
    assert loadbalancing["routing_key"] == "traceID"
    assert {"dns", "static", "k8s"} & set(loadbalancing["resolver"])
    assert "endpoint" not in loadbalancing["protocol"]["otlp"], "the resolver sets the endpoint"
    # Stateful processors belong behind the load balancer, not in front of it.
    assert all(not _has_sampling(body) for body in _pipelines(config).values())


def test_clickhouse_overlay_keeps_the_base_pipeline() -> None:
    base, merged = load_otelcol("otelcol.yaml"), load_otelcol("otelcol-clickhouse.yaml")
    for pipeline, body in _pipelines(base).items():
        merged_body = _pipelines(merged)[pipeline]
        for kind in ("receivers", "processors", "exporters"):
            assert set(body.get(kind, [])) <= set(merged_body.get(kind, [])), f"overlay drops {kind} of {pipeline}"
    clickhouse = [p for p, b in _pipelines_exporting(merged, "clickhouse").items()]
    assert clickhouse and not any(_has_sampling(_pipelines(merged)[p]) for p in clickhouse)


# --------------------------------------------------------------------------- ports


def test_readme_ports_match_the_configs() -> None:
    compose = load_compose()["services"]
    owners = config_file_services()
    rows = readme_port_rows()
    for row in rows:
        port, service, config = int(row["port"]), row["service"], row["config"]
        assert (COLLECTOR_DIR / config).is_file(), f"README names missing file {config}"
        if service == HOST_SERVICE:
            _listens, targets = otelcol_endpoints(load_otelcol(config))
            assert any(h in HOST_ALIASES and p == port for h, p in targets), f"{config} never targets host:{port}"
            continue
        assert service in compose, f"README names unknown service {service}"
        if config.endswith((".yaml", ".yml")) and config != COMPOSE.name:
            assert owners.get(config) == service, f"{config} is not mounted into {service}"
            listens, _targets = otelcol_endpoints(load_otelcol(config))
            assert port in listens, f"{config} does not listen on {port}"
        mapped = compose_port_mappings(compose[service])
        if row["published"] == "yes":
            assert (port, port) in mapped, f"{service}:{port} is not published as {port}:{port}"
        else:
            assert row["published"] == "no", row
            assert port not in {target for _host, target in mapped}, f"{service}:{port} is published"


def test_every_listening_or_published_port_is_in_the_readme() -> None:
    compose = load_compose()["services"]
    documented = {(row["service"], int(row["port"])) for row in readme_port_rows()}
    for config, service in config_file_services().items():
        if config in OTELCOL_CONFIGS:
            listens, _targets = otelcol_endpoints(load_otelcol(config))
            missing = {port for port in listens if (service, port) not in documented}
            assert not missing, f"{config} listens on {missing}, not in the README table"
    for service, body in compose.items():
        for host_port, target in compose_port_mappings(body):
            assert host_port == target, f"{service} maps {host_port}:{target}; the README assumes equal ports"
            assert (service, target) in documented, f"{service} publishes {target}, not in the README table"


def test_every_target_is_something_that_listens() -> None:
    documented = {(row["service"], int(row["port"])) for row in readme_port_rows()}
    services = set(load_compose()["services"])
    for config, service in config_file_services().items():
        if config not in OTELCOL_CONFIGS:
            continue
        _listens, targets = otelcol_endpoints(load_otelcol(config))
        for host, port in targets:
            name = HOST_SERVICE if host in HOST_ALIASES else host
            assert name in services | {HOST_SERVICE}, f"{config} ({service}) targets unknown host {host}"
            assert (name, port) in documented, f"{config} targets {host}:{port}, which nothing listens on"
    scrape = yaml.safe_load((COLLECTOR_DIR / "prometheus.yml").read_text(encoding="utf-8"))
    for job in scrape["scrape_configs"]:
        for static in job["static_configs"]:
            for target in static["targets"]:
                host, port = _host_port(target) or ("", 0)
                assert (host, port) in documented, f"prometheus job {job['job_name']} scrapes {target}"


# --------------------------------------------------------------------------- compose


def test_compose_mounts_existing_files_and_runs_them() -> None:
    for name, service in load_compose()["services"].items():
        command = " ".join(map(str, service.get("command", [])))
        mounts = compose_bind_mounts(service)
        for source, _target in mounts:
            assert (COMPOSE.parent / source).exists(), f"{name} mounts missing {source}"
        for config_path in re.findall(r"--config(?:\.file)?[= ](\S+)", command):
            assert config_path in {t for _s, t in mounts}, f"{name} runs {config_path}, which is not mounted"


def test_compose_services_images_and_dependencies() -> None:
    compose = load_compose()
    services = compose["services"]
    assert set(EXPECTED_IMAGES) <= set(services)
    for name, image in EXPECTED_IMAGES.items():
        assert services[name]["image"].split(":")[0] == image
    named_volumes = set(compose.get("volumes") or {})
    for name, service in services.items():
        depends = service.get("depends_on", [])
        assert set(depends) <= set(services) - {name}, f"{name} depends on {depends}"
        for entry in service.get("volumes", []):
            source = str(entry).split(":")[0] if not isinstance(entry, dict) else entry.get("source", "")
            if not source.startswith((".", "/", "~")):
                assert source in named_volumes, f"{name} uses undeclared volume {source}"


def test_jaeger_ui_config_referenced_by_jaeger_is_mounted() -> None:
    ui_file = _section(load_otelcol("jaeger.yaml"), "extensions")["jaeger_query"]["ui"]["config_file"]
    mounts = dict((t, s) for s, t in compose_bind_mounts(load_compose()["services"]["jaeger"]))
    assert ui_file in mounts and (COMPOSE.parent / mounts[ui_file]).is_file()


def test_collector_reaches_the_host_agenttrace_collector() -> None:
    service = load_compose()["services"]["otel-collector"]
    assert "host.docker.internal:host-gateway" in service.get("extra_hosts", [])
    endpoint = _section(load_otelcol("otelcol.yaml"), "exporters")["otlphttp/agenttrace"]["endpoint"]
    host_ports = {int(row["port"]) for row in readme_port_rows() if row["service"] == HOST_SERVICE}
    host, port = _host_port(endpoint) or ("", 0)
    assert host in HOST_ALIASES and port in host_ports
    # The compose default and the config default must agree, or one of them is stale.
    assert service["environment"]["AGENTTRACE_OTLP_ENDPOINT"] == endpoint
