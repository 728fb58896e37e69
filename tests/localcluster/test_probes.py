from e2e.localcluster.node_agent.image_map import parse_image_map
from e2e.localcluster.node_agent.probes import (
    Exec,
    HttpGet,
    ProbeKind,
    ProbeSpec,
    ProbeTracker,
    TcpSocket,
    plan_probes,
)

IMAGE_MAP = parse_image_map({"images": [], "commands": {"python": "{python}"}})
VALUES = {"python": "/venv/bin/python"}


def test_plans_resolve_named_ports_hosts_and_commands() -> None:
    container = {
        "ports": [{"name": "http", "containerPort": 8080}],
        "startupProbe": {"httpGet": {"path": "ready", "port": "http"}, "failureThreshold": 30},
        "readinessProbe": {"tcpSocket": {"port": 8080}, "periodSeconds": 2},
        "livenessProbe": {"exec": {"command": ["python", "-c", "pass"]}, "timeoutSeconds": 4},
    }
    plans = plan_probes(container, "127.10.0.2", IMAGE_MAP, VALUES)
    startup = plans[ProbeKind.STARTUP]
    assert startup.action == HttpGet("HTTP", "127.10.0.2", 8080, "/ready")
    assert startup.failure_threshold == 30 and startup.period_s == 10
    assert plans[ProbeKind.READINESS].action == TcpSocket("127.10.0.2", 8080)
    assert plans[ProbeKind.READINESS].period_s == 2
    liveness = plans[ProbeKind.LIVENESS]
    assert liveness.action == Exec(("/venv/bin/python", "-c", "pass"))
    assert liveness.timeout_s == 4 and liveness.failure_threshold == 3


def test_http_probe_host_and_headers() -> None:
    container = {
        "readinessProbe": {
            "httpGet": {
                "host": "127.0.0.1",
                "port": 80,
                "scheme": "https",
                "httpHeaders": [{"name": "X-A", "value": "1"}],
            }
        }
    }
    action = plan_probes(container, "127.10.0.2", IMAGE_MAP, VALUES)[ProbeKind.READINESS].action
    assert action == HttpGet("HTTPS", "127.0.0.1", 80, "/", (("X-A", "1"),))


def spec(kind: ProbeKind, **kwargs: float) -> ProbeSpec:
    return ProbeSpec(kind=kind, action=TcpSocket("127.0.0.1", 1), **kwargs)  # type: ignore[arg-type]


def test_initial_delay_and_period() -> None:
    tracker = ProbeTracker(spec(ProbeKind.READINESS, initial_delay_s=5, period_s=2), 100.0)
    assert not tracker.due(104.9)
    assert tracker.due(105.0)
    tracker.in_flight = True
    assert not tracker.due(200)
    tracker.record(True, 105.5)
    assert tracker.next_due == 107.5


def test_thresholds() -> None:
    readiness = ProbeTracker(spec(ProbeKind.READINESS, success_threshold=2, failure_threshold=2), 0)
    assert readiness.result is False
    assert readiness.record(True, 1) is False
    assert readiness.record(True, 2) is True
    assert readiness.record(False, 3) is True
    assert readiness.record(True, 4) is True
    assert readiness.record(False, 5) is True
    assert readiness.record(False, 6) is False

    liveness = ProbeTracker(spec(ProbeKind.LIVENESS, failure_threshold=3), 0)
    assert liveness.result is True
    assert [liveness.record(False, t) for t in (1, 2, 3)] == [True, True, False]
    assert liveness.consecutive_failures == 3
