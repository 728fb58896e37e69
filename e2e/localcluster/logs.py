"""Gathering the cluster's logs into one text for a failure report."""

from __future__ import annotations

from collections import deque
from pathlib import Path

from e2e.localcluster.state import StateLayout

_COMPONENT_ORDER = (
    "kubelet",
    "containerd",
    "kube-proxy",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "etcd",
)


def tail(path: Path, lines: int) -> str:
    try:
        with open(path, errors="replace") as handle:
            return "".join(deque(handle, maxlen=lines))
    except OSError as exc:
        return f"<cannot read: {exc}>\n"


def _section(title: str, body: str) -> str:
    return f"===== {title} =====\n{body if body.endswith(chr(10)) or not body else body + chr(10)}"


def collect_logs(
    state: StateLayout, tail_lines: int = 100, pod_logs_dir: Path | None = None
) -> str:
    """Every component's log, then every container's, as the kubelet keeps them under
    pod_logs_dir (<namespace>_<pod>_<uid>/<container>/<restart>.log)."""
    parts = []
    component_logs = sorted(state.logs.glob("*.log")) if state.logs.is_dir() else []
    rank = {name: i for i, name in enumerate(_COMPONENT_ORDER)}
    component_logs.sort(key=lambda p: (rank.get(p.stem, len(rank)), p.stem))
    for path in component_logs:
        parts.append(_section(f"{path.stem} ({path})", tail(path, tail_lines)))
    kubelet_logs = sorted(pod_logs_dir.glob("*/*/*.log")) if pod_logs_dir else []
    for path in kubelet_logs:
        pod = path.parent.parent.name.rsplit("_", 1)[0]
        title = f"pod {pod} container {path.parent.name} ({path})"
        parts.append(_section(title, tail(path, tail_lines)))
    return "".join(parts) if parts else f"(no logs under {state.root})\n"
