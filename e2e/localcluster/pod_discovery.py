"""Prometheus service discovery of pods, for a Prometheus built without Kubernetes support.

Debian's prometheus package leaves out `kubernetes_sd_configs`. This small server lists the
cluster's pods from the API server and answers Prometheus' `http_sd_configs` with one target
per container port, labelled with exactly the `__meta_kubernetes_*` labels that Prometheus'
Kubernetes discovery (role: pod) attaches, so the relabelling rules are those of a real cluster.

    python -m e2e.localcluster.pod_discovery --server URL --ca CA --cert CRT --key KEY --port N
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import signal
import sys
import threading
from collections.abc import Iterable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from typing import Any

import requests

TARGETS_PATH = "/targets/pods"
_META = "__meta_kubernetes_"
_INVALID_LABEL_CHARS = re.compile(r"[^a-zA-Z0-9_]")

log = logging.getLogger(__name__)


def sanitize(name: str) -> str:
    """Prometheus' strutil.SanitizeLabelName."""
    return _INVALID_LABEL_CHARS.sub("_", name)


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _pod_labels(pod: Mapping[str, Any]) -> dict[str, str]:
    meta = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    labels = {
        f"{_META}namespace": str(meta.get("namespace", "")),
        f"{_META}pod_name": str(meta.get("name", "")),
        f"{_META}pod_ip": str(status.get("podIP", "")),
        f"{_META}pod_ready": "unknown",
        f"{_META}pod_phase": str(status.get("phase", "")),
        f"{_META}pod_node_name": str(spec.get("nodeName", "")),
        f"{_META}pod_host_ip": str(status.get("hostIP", "")),
        f"{_META}pod_uid": str(meta.get("uid", "")),
    }
    for condition in status.get("conditions") or []:
        if condition.get("type") == "Ready":
            labels[f"{_META}pod_ready"] = str(condition.get("status", "unknown")).lower()
    for key, value in (meta.get("labels") or {}).items():
        labels[f"{_META}pod_label_{sanitize(key)}"] = str(value)
        labels[f"{_META}pod_labelpresent_{sanitize(key)}"] = "true"
    for key, value in (meta.get("annotations") or {}).items():
        labels[f"{_META}pod_annotation_{sanitize(key)}"] = str(value)
        labels[f"{_META}pod_annotationpresent_{sanitize(key)}"] = "true"
    for owner in meta.get("ownerReferences") or []:
        if owner.get("controller"):
            labels[f"{_META}pod_controller_kind"] = str(owner.get("kind", ""))
            labels[f"{_META}pod_controller_name"] = str(owner.get("name", ""))
    return labels


def pod_target_groups(pods: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """http_sd target groups: one per container port, one per container without ports."""
    groups: list[dict[str, Any]] = []
    for pod in pods:
        status = pod.get("status") or {}
        pod_ip = status.get("podIP")
        if not pod_ip:
            continue
        base = _pod_labels(pod)
        statuses = {
            s.get("name"): s
            for key in ("containerStatuses", "initContainerStatuses")
            for s in status.get(key) or []
        }
        spec = pod.get("spec") or {}
        for init, key in ((False, "containers"), (True, "initContainers")):
            for container in spec.get(key) or []:
                name = str(container.get("name", ""))
                container_labels = {
                    **base,
                    f"{_META}pod_container_name": name,
                    f"{_META}pod_container_image": str(container.get("image", "")),
                    f"{_META}pod_container_init": _bool(init),
                    f"{_META}pod_container_id": str(
                        (statuses.get(name) or {}).get("containerID", "")
                    ),
                }
                ports = container.get("ports") or []
                if not ports:
                    groups.append({"targets": [str(pod_ip)], "labels": container_labels})
                for port in ports:
                    number = int(port.get("containerPort", 0))
                    groups.append(
                        {
                            "targets": [f"{pod_ip}:{number}"],
                            "labels": {
                                **container_labels,
                                f"{_META}pod_container_port_name": str(port.get("name", "")),
                                f"{_META}pod_container_port_number": str(number),
                                f"{_META}pod_container_port_protocol": str(
                                    port.get("protocol", "TCP")
                                ),
                            },
                        }
                    )
    return groups


class PodLister:
    def __init__(self, server: str, ca: str, cert: str, key: str) -> None:
        self.server = server
        self._session = requests.Session()
        self._session.trust_env = False
        self._session.verify = ca
        self._session.cert = (cert, key)
        self._lock = threading.Lock()

    def pods(self) -> list[dict[str, Any]]:
        with self._lock:
            response = self._session.get(f"{self.server}/api/v1/pods", timeout=5)
        response.raise_for_status()
        items: list[dict[str, Any]] = response.json().get("items") or []
        return items


def make_handler(lister: PodLister) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/healthz":
                self._send(200, b"ok", "text/plain")
                return
            if self.path != TARGETS_PATH:
                self._send(404, b"not found", "text/plain")
                return
            try:
                body = json.dumps(pod_target_groups(lister.pods())).encode()
            except (requests.RequestException, ValueError) as exc:
                # Prometheus keeps its last good targets when discovery fails.
                self._send(503, str(exc).encode(), "text/plain")
                return
            self._send(200, body, "application/json")

        def _send(self, code: int, body: bytes, content_type: str) -> None:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            log.debug(format, *args)

    return Handler


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m e2e.localcluster.pod_discovery")
    parser.add_argument("--server", required=True, help="API server URL")
    parser.add_argument("--ca", required=True)
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    server = ThreadingHTTPServer(
        ("127.0.0.1", args.port),
        make_handler(PodLister(args.server, args.ca, args.cert, args.key)),
    )

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    log.info("serving pod targets on http://127.0.0.1:%d%s", args.port, TARGETS_PATH)
    server.serve_forever()
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
