"""Topology from compose files (merged as Compose merges them), specs and the seed map."""

from __future__ import annotations

import json
from pathlib import Path
from textwrap import dedent

import pytest

from tracebed.stack import Topology, TopologyError
from tracebed.stack.compose import load_compose

DEMO_TIERS = [
    ["flagd", "grafana", "jaeger", "kafka", "opensearch", "prometheus", "valkey-cart"],
    ["otel-collector"],
    [
        "accounting",
        "ad",
        "cart",
        "currency",
        "email",
        "flagd-ui",
        "fraud-detection",
        "image-provider",
        "payment",
        "product-catalog",
        "quote",
        "shipping",
    ],
    ["checkout", "recommendation"],
    ["frontend"],
    ["load-generator"],
    ["frontend-proxy"],
]


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(dedent(text))
    return path


def test_demo_full_compose_tiers_and_conflict(demo: Path) -> None:
    topo = Topology.from_compose([demo / "docker-compose.yml"], env_file=demo / "demo.env")
    assert topo.tiers == DEMO_TIERS
    assert topo.services["checkout"].depends_on["kafka"].condition == "service_healthy"
    assert topo.services["otel-collector"].depends_on["opensearch"].condition == "service_healthy"
    assert {s for s, v in topo.services.items() if v.healthcheck} == {"kafka", "opensearch"}
    assert topo.services["kafka"].healthcheck is not None
    assert topo.services["kafka"].healthcheck.test == "nc -z kafka 9092"
    assert topo.services["kafka"].healthcheck.interval_s == 5.0
    order = [c for c in topo.conflicts if c["kind"] == "order"]
    assert [(c["service"], c["depends_on"]) for c in order] == [
        ("frontend-proxy", "load-generator")
    ]
    placement = {c["service"]: c["before"] for c in topo.conflicts if c["kind"] == "placement"}
    # demo-facts §15.3: flagd starts with the infrastructure, load-generator before the proxy
    assert placement == {"flagd": ["otel-collector"], "load-generator": ["frontend-proxy"]}
    # interpolation from the env file reached the environment and the ports
    assert topo.services["cart"].environment["ASPNETCORE_URLS"] == "http://*:7070"
    assert topo.services["frontend-proxy"].ports[0].published == 8080
    assert topo.services["checkout"].environment["KAFKA_ADDR"] == "kafka:9092"


def test_demo_minimal_compose(demo: Path) -> None:
    topo = Topology.from_compose([demo / "docker-compose.minimal.yml"], env_file=demo / "demo.env")
    assert len(topo.tiers) == 7
    assert "kafka" not in topo.services and "flagd-ui" not in topo.services
    assert topo.tiers[1] == ["otel-collector"]
    assert topo.tiers[3] == ["checkout", "recommendation"]


def test_seed_grouping_moves_proxy_after_load_generator(demo: Path) -> None:
    topo = Topology.from_compose(
        [demo / "docker-compose.yml"], env_file=demo / "demo.env", group_by="seed"
    )
    flat = [s for t in topo.tiers for s in t]
    assert flat.index("flagd") > flat.index("valkey-cart")  # flags group after infra
    assert flat.index("frontend-proxy") > flat.index("load-generator")
    assert flat.index("otel-collector") > flat.index("opensearch")  # graph wins in a group
    assert topo.tier_names[0] == "infrastructure.0"
    assert any(
        c["service"] == "frontend-proxy" and c["dependency_group"] == "load-testing"
        for c in topo.conflicts
    )
    # every dependency starts in an earlier tier
    for name, svc in topo.services.items():
        for dep in svc.depends_on:
            assert topo.services[dep].tier < svc.tier, (name, dep)


def test_seed_topology() -> None:
    topo = Topology.seed()
    assert topo.tier_names[:3] == ["infrastructure", "feature-flags", "core-backends.0"]
    flat = [s for t in topo.tiers for s in t]
    assert flat.index("shipping") > flat.index("quote")
    assert flat[-1] == "frontend-proxy"
    assert topo.conflicts[0]["service"] == "frontend-proxy"


def test_every_demo_compose_file_json(demo: Path) -> None:
    files = sorted(demo.glob("docker-compose*.yml"))
    assert len(files) >= 2
    for f in files:
        data = json.loads(Topology.from_compose([f], env_file=demo / "demo.env").dumps("json"))
        assert set(data) >= {"services", "tiers", "conflicts"}
        tier_of = {s: i for i, t in enumerate(data["tiers"]) for s in t}
        for name, svc in data["services"].items():
            assert svc["tier"] == tier_of[name]
            for dep, cond in svc["depends_on"].items():
                assert cond in ("service_started", "service_healthy")
                assert tier_of[dep] < svc["tier"]


def test_merge_several_files(tmp_path: Path) -> None:
    a = write(
        tmp_path / "a.yml",
        """
        services:
          db: {image: db, command: ["db", "--a"], ports: ["5432"], environment: [X=1, Y=2]}
          api:
            image: api
            depends_on: [db]
            environment: {A: "1"}
            labels: [one=1]
            healthcheck: {test: ["CMD", "true"], interval: 1m30s}
    """,
    )
    b = write(
        tmp_path / "b.yml",
        """
        services:
          cache: {image: cache}
          db: {command: "db --b", ports: ["5433:5432"], environment: {Y: "3", Z: "4"}}
          api:
            depends_on:
              cache: {condition: service_healthy}
              db: {condition: service_healthy}
            environment: [B=2]
            labels: {two: "2"}
            healthcheck: {test: ["CMD-SHELL", "curl -f x"], retries: 7}
    """,
    )
    topo = Topology.from_compose([a, b])
    db, api = topo.services["db"], topo.services["api"]
    assert db.command == "db --b"  # command replaced, not appended
    assert [(p.target, p.published) for p in db.ports] == [(5432, None), (5432, 5433)]
    assert db.environment == {"X": "1", "Y": "3", "Z": "4"}
    assert {d: c.condition for d, c in api.depends_on.items()} == {
        "db": "service_healthy",
        "cache": "service_healthy",
    }
    assert api.environment == {"A": "1", "B": "2"}
    assert api.raw["labels"] == {"one": "1", "two": "2"}
    assert api.healthcheck is not None
    assert api.healthcheck.test == "curl -f x" and api.healthcheck.retries == 7
    assert api.healthcheck.interval_s == 90.0
    assert topo.tiers == [["cache", "db"], ["api"]]


def test_reset_and_override_tags(tmp_path: Path) -> None:
    a = write(
        tmp_path / "a.yml",
        """
        services:
          x: {image: x, ports: ["1", "2"], depends_on: [y], environment: {K: v}}
          y: {image: y}
    """,
    )
    b = write(
        tmp_path / "b.yml",
        """
        services:
          x:
            ports: !override ["3"]
            depends_on: !reset []
            environment: !reset {}
    """,
    )
    topo = Topology.from_compose([a, b])
    x = topo.services["x"]
    assert [p.target for p in x.ports] == [3]
    assert x.depends_on == {} and x.environment == {}
    assert topo.tiers == [["x", "y"]]


def test_interpolation_dotenv_and_env_file(tmp_path: Path) -> None:
    write(tmp_path / ".env", "TAG=from-dotenv\nPORT=9000\n")
    write(tmp_path / "other.env", "TAG=from-env-file\n")
    f = write(
        tmp_path / "compose.yml",
        """
        services:
          web:
            image: "web:${TAG}"
            ports: ["${PORT:-80}"]
            environment: ["MODE=${MODE:-dev}", "PORT", "ESC=$$HOME"]
    """,
    )
    t1 = Topology.from_compose([f], environ={})
    assert t1.services["web"].image == "web:from-dotenv"
    assert t1.services["web"].ports[0].target == 9000
    assert t1.services["web"].environment == {"MODE": "dev", "PORT": "9000", "ESC": "$HOME"}
    t2 = Topology.from_compose([f], env_file=tmp_path / "other.env", environ={})
    assert t2.services["web"].image == "web:from-env-file"  # --env-file replaces .env
    assert t2.services["web"].ports[0].target == 80
    t3 = Topology.from_compose([f], environ={"TAG": "shell", "MODE": "prod"})
    assert t3.services["web"].image == "web:shell"  # the shell wins over .env
    assert t3.services["web"].environment["MODE"] == "prod"


def test_required_variable_error(tmp_path: Path) -> None:
    f = write(tmp_path / "c.yml", "services:\n  a: {image: '${IMG:?IMG must be set}'}\n")
    with pytest.raises(TopologyError, match="IMG must be set"):
        Topology.from_compose([f], environ={})


def test_extends_same_and_other_file(tmp_path: Path) -> None:
    write(
        tmp_path / "common.yml",
        """
        services:
          base:
            image: base
            environment: {LOG: debug, FROM: common}
            healthcheck: {test: "true", interval: 2s}
    """,
    )
    f = write(
        tmp_path / "compose.yml",
        """
        services:
          tmpl: {image: tmpl, command: ["run"], environment: {A: "1"}}
          one:
            extends: tmpl
            environment: {B: "2"}
          two:
            extends: {file: common.yml, service: base}
            environment: {FROM: two}
            depends_on: [one]
    """,
    )
    topo = Topology.from_compose([f], environ={})
    one, two = topo.services["one"], topo.services["two"]
    assert one.command == ["run"] and one.image == "tmpl"
    assert one.environment == {"A": "1", "B": "2"}
    assert two.environment == {"LOG": "debug", "FROM": "two"}
    assert two.healthcheck is not None and two.healthcheck.interval_s == 2.0
    assert two.tier == 1


def test_extends_errors(tmp_path: Path) -> None:
    f = write(tmp_path / "c.yml", "services:\n  a: {extends: nothing}\n")
    with pytest.raises(TopologyError, match="extends undefined service 'nothing'"):
        Topology.from_compose([f])
    g = write(tmp_path / "d.yml", "services:\n  a: {extends: b}\n  b: {extends: a}\n")
    with pytest.raises(TopologyError, match="extends cycle"):
        Topology.from_compose([g])


def test_include_with_its_own_env(tmp_path: Path) -> None:
    write(tmp_path / "infra" / ".env", "DB_IMAGE=postgres:17\n")
    write(
        tmp_path / "infra" / "compose.yml",
        """
        services:
          db: {image: "${DB_IMAGE}", env_file: db.env}
    """,
    )
    write(tmp_path / "infra" / "db.env", "POSTGRES_PASSWORD=secret\n")
    f = write(
        tmp_path / "compose.yml",
        """
        include:
          - infra/compose.yml
        services:
          app: {image: app, depends_on: {db: {condition: service_healthy}}}
    """,
    )
    topo = Topology.from_compose([f], environ={})
    assert topo.services["db"].image == "postgres:17"
    assert topo.services["db"].environment == {"POSTGRES_PASSWORD": "secret"}
    assert topo.tiers == [["db"], ["app"]]


def test_include_conflict(tmp_path: Path) -> None:
    write(tmp_path / "inc.yml", "services:\n  app: {image: a}\n")
    f = write(tmp_path / "c.yml", "include: [inc.yml]\nservices:\n  app: {image: b}\n")
    with pytest.raises(TopologyError, match="'app' is defined here and in included file"):
        Topology.from_compose([f])


def test_profiles(tmp_path: Path) -> None:
    f = write(
        tmp_path / "c.yml",
        """
        services:
          app: {image: app}
          debug: {image: dbg, profiles: [debug], depends_on: [app]}
          tools: {image: t, profiles: [tools, ops]}
    """,
    )
    assert set(Topology.from_compose([f], environ={}).services) == {"app"}
    assert set(Topology.from_compose([f], profiles=["debug"], environ={}).services) == {
        "app",
        "debug",
    }
    assert set(Topology.from_compose([f], environ={"COMPOSE_PROFILES": "ops"}).services) == {
        "app",
        "tools",
    }
    g = write(
        tmp_path / "g.yml",
        """
        services:
          app: {image: app, depends_on: [debug]}
          debug: {image: dbg, profiles: [debug]}
    """,
    )
    with pytest.raises(
        TopologyError,
        match=r"depends on 'debug', which is only enabled by "
        r"profile\(s\) debug",
    ):
        Topology.from_compose([g], environ={})


def test_undefined_dependency_and_optional(tmp_path: Path) -> None:
    f = write(tmp_path / "c.yml", "services:\n  a: {image: a, depends_on: [ghost]}\n")
    with pytest.raises(TopologyError, match="'a' depends on undefined service 'ghost'"):
        Topology.from_compose([f])
    g = write(
        tmp_path / "g.yml",
        """
        services:
          a: {image: a, depends_on: {ghost: {condition: service_started, required: false}}}
    """,
    )
    assert Topology.from_compose([g]).services["a"].depends_on == {}


def test_cycle_is_named(tmp_path: Path) -> None:
    f = write(
        tmp_path / "c.yml",
        """
        services:
          a: {image: a, depends_on: [b]}
          b: {image: b, depends_on: [c]}
          c: {image: c, depends_on: [a]}
          d: {image: d}
    """,
    )
    with pytest.raises(TopologyError, match=r"dependency cycle: a -> b -> c -> a"):
        Topology.from_compose([f])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("services: [a]", "'services' must be a mapping"),
        ("- 1", "top level must be a mapping"),
        (
            "services:\n  a: {depends_on: {b: {condition: service_happy}}}\n  b: {}",
            "unknown condition 'service_happy'",
        ),
        ("services:\n  a: {ports: ['x:y']}", "invalid port"),
        ("services:\n  a: {healthcheck: {test: [BOGUS]}}", "must start with CMD"),
        ("services:\n  a: {healthcheck: {test: 'true', interval: 5 parsecs}}", "invalid duration"),
        ("services: {a: {x-tracebed: {probe: {type: smoke}}}}", "unknown probe type 'smoke'"),
        ("services: {a: {", "invalid YAML"),
    ],
)
def test_bad_compose_files(tmp_path: Path, text: str, message: str) -> None:
    f = tmp_path / "bad.yml"
    f.write_text(text)
    with pytest.raises(TopologyError, match=message):
        Topology.from_compose([f])


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(TopologyError, match="compose file not found"):
        Topology.from_compose([tmp_path / "nope.yml"])
    with pytest.raises(TopologyError, match="no compose file"):
        load_compose([])


def test_from_spec_contract() -> None:
    spec = {
        "name": "tracebed-reference",
        "services": {
            "valkey-cart": {
                "command": ["/usr/bin/redis-server", "--port", "40001"],
                "x-tracebed": {"probe": {"type": "redis", "host": "127.0.0.1", "port": 40001}},
            },
            "cart": {
                "command": ["/usr/bin/python3", "-m", "x"],
                "environment": {"CART_PORT": "43123"},
                "depends_on": {"valkey-cart": {"condition": "service_started"}},
                "x-tracebed": {
                    "probe": {"type": "grpc", "host": "127.0.0.1", "port": 43123},
                    "endpoints": {"grpc": "127.0.0.1:43123"},
                    "stop_signal": "SIGINT",
                },
            },
        },
        "x-tracebed-stack": {"frontend_url": "http://127.0.0.1:1", "absent": {"jaeger": "-"}},
    }
    topo = Topology.from_spec(spec)
    assert topo.tiers == [["valkey-cart"], ["cart"]]
    cart = topo.services["cart"]
    assert cart.endpoints == {"grpc": "127.0.0.1:43123"} and cart.stop_signal == "SIGINT"
    assert topo.probe_for("cart").type == "grpc"
    assert topo.extras["x-tracebed-stack"]["frontend_url"] == "http://127.0.0.1:1"
    with pytest.raises(TopologyError, match="'services' mapping"):
        Topology.from_spec({"services": []})


def test_resolve_until() -> None:
    topo = Topology.seed()
    assert topo.resolve_until(None) == len(topo.tiers) - 1
    assert topo.resolve_until(1) == 1
    assert topo.resolve_until("feature-flags") == 1
    assert topo.resolve_until("checkout") == topo.services["checkout"].tier
    with pytest.raises(TopologyError, match="not a tier number"):
        topo.resolve_until("nope")
    with pytest.raises(TopologyError, match="there are tiers"):
        topo.resolve_until(99)


def test_mermaid_marks_conflict(demo: Path) -> None:
    text = Topology.from_compose(
        [demo / "docker-compose.yml"], env_file=demo / "demo.env"
    ).to_mermaid()
    assert text.startswith("flowchart LR")
    assert "opensearch -->|healthy| otel_collector" in text
    assert "load_generator --> frontend_proxy" in text
    assert "stroke:red" in text


def test_grouping_file_matches_the_built_in_seed(demo: Path) -> None:
    repo = Path(__file__).resolve().parents[2]
    files = [demo / "docker-compose.yml"]
    from_file = Topology.from_compose(
        files, env_file=demo / "demo.env", group_by=repo / "fixtures" / "seed-tiers.yaml"
    )
    built_in = Topology.from_compose(files, env_file=demo / "demo.env", group_by="seed")
    assert from_file.tiers == built_in.tiers
    assert from_file.tier_names == built_in.tier_names
    assert from_file.conflicts == built_in.conflicts


def test_custom_grouping_file(tmp_path: Path) -> None:
    f = write(
        tmp_path / "c.yml",
        """
        services:
          db: {image: db}
          api: {image: api, depends_on: [db]}
          ui: {image: ui, depends_on: [api]}
          tool: {image: tool}
        """,
    )
    groups = write(
        tmp_path / "groups.yaml",
        """
        groups:
          - {name: data, services: [db]}
          - {name: apps, services: [ui, api]}
        """,
    )
    topo = Topology.from_compose([f], group_by=str(groups))
    assert topo.tiers == [["db", "tool"], ["api"], ["ui"]]
    assert topo.tier_names == ["data", "apps.0", "apps.1"]
    assert [c["kind"] for c in topo.conflicts] == ["ungrouped"]  # tool is in no group
    bad = write(
        tmp_path / "bad.yaml", "groups:\n  - {name: a, services: [x]}\n  - {services: [x]}\n"
    )
    with pytest.raises(TopologyError, match="'x' is in group 'a' and 'group-1'"):
        Topology.from_compose([f], group_by=bad)
    with pytest.raises(TopologyError, match="grouping file not found"):
        Topology.from_compose([f], group_by=tmp_path / "none.yaml")
    with pytest.raises(TopologyError, match="unknown grouping 'alphabetical'"):
        Topology.from_compose([f], group_by="alphabetical")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("groups:\n  - {name: a, services: [db, dbb]}\n", r"groups\['a'\]: 'dbb' is not a service"),
        ("groups:\n  - {name: a, services: [db]}\nextra: 1\n", "extra: unknown key"),
        ("groups:\n  - {name: a, servces: [db]}\n", r"groups\[0\]\.servces: unknown key"),
    ],
)
def test_groups_file_names_only_known_services_and_keys(
    tmp_path: Path, text: str, message: str
) -> None:
    f = write(tmp_path / "c.yml", "services:\n  db: {image: db}\n  api: {image: api}\n")
    groups = write(tmp_path / "groups.yaml", text)
    with pytest.raises(TopologyError, match=message) as info:
        Topology.from_compose([f], group_by=groups)
    assert str(groups) in str(info.value)


def test_groups_file_may_name_demo_services_a_stack_lacks(tmp_path: Path) -> None:
    # fixtures/seed-tiers.yaml serves the demo and every stack shaped like it.
    f = write(tmp_path / "c.yml", "services:\n  cart: {image: c}\n  api: {image: api}\n")
    groups = write(tmp_path / "g.yaml", "groups:\n  - {name: a, services: [cart, jaeger, api]}\n")
    assert Topology.from_compose([f], group_by=groups).tier_names == ["a"]


def test_blank_value_from_an_unset_variable_names_it(tmp_path: Path) -> None:
    f = write(
        tmp_path / "c.yml",
        """
        services:
          ad:
            image: ${IMAGE_NAME}:x
            ports: ["${AD_PORT}"]
        """,
    )
    with pytest.raises(TopologyError) as info:
        Topology.from_compose([f], environ={})
    assert str(info.value) == (
        f"service 'ad'.ports: invalid port '' (AD_PORT is not set: no .env file in {tmp_path})"
    )
    (tmp_path / ".env").write_text("OTHER=1\n")
    with pytest.raises(TopologyError, match=r"AD_PORT is not set: not in .*\.env either\)$"):
        Topology.from_compose([f], environ={})


def test_invalid_yaml_is_one_line_naming_file_and_position(tmp_path: Path) -> None:
    f = write(tmp_path / "c.yml", "services:\n  a: [unclosed\n")
    with pytest.raises(TopologyError) as info:
        Topology.from_compose([f])
    message = str(info.value)
    assert message.startswith(f"{f}:3:1: invalid YAML: ") and "\n" not in message
    assert "<unicode string>" not in message
