"""Prometheus scraping the cluster's pods, configured as in a real cluster."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

JOB_NAME = "kubernetes-pods"


def prometheus_config(discovery_url: str, scrape_interval: str = "2s") -> dict[str, Any]:
    """Scrapes pods annotated prometheus.io/scrape="true" at podIP:prometheus.io/port.

    The relabelling is the usual one for Kubernetes pods; its input labels come from
    pod_discovery, which mirrors Prometheus' Kubernetes discovery (role: pod).
    """
    return {
        "global": {
            "scrape_interval": scrape_interval,
            "evaluation_interval": scrape_interval,
            "scrape_timeout": scrape_interval,
        },
        "scrape_configs": [
            {
                "job_name": JOB_NAME,
                # Debian's Prometheus has no kubernetes_sd_configs; pod_discovery serves the
                # same targets and __meta_kubernetes_* labels over http_sd_configs.
                "http_sd_configs": [
                    {"url": discovery_url, "refresh_interval": scrape_interval},
                ],
                "relabel_configs": [
                    {
                        "source_labels": ["__meta_kubernetes_pod_annotation_prometheus_io_scrape"],
                        "action": "keep",
                        "regex": "true",
                    },
                    # A finished pod has nothing to serve; a pending one has no address yet.
                    {
                        "source_labels": ["__meta_kubernetes_pod_phase"],
                        "action": "drop",
                        "regex": "Pending|Succeeded|Failed",
                    },
                    {
                        "source_labels": ["__meta_kubernetes_pod_annotation_prometheus_io_scheme"],
                        "action": "replace",
                        "regex": "(https?)",
                        "target_label": "__scheme__",
                    },
                    {
                        "source_labels": ["__meta_kubernetes_pod_annotation_prometheus_io_path"],
                        "action": "replace",
                        "regex": "(.+)",
                        "target_label": "__metrics_path__",
                    },
                    {
                        "source_labels": [
                            "__meta_kubernetes_pod_ip",
                            "__meta_kubernetes_pod_annotation_prometheus_io_port",
                        ],
                        "action": "replace",
                        "regex": r"(.+);(\d+)",
                        "replacement": "$1:$2",
                        "target_label": "__address__",
                    },
                    {"action": "labelmap", "regex": "__meta_kubernetes_pod_label_(.+)"},
                    {
                        "source_labels": ["__meta_kubernetes_namespace"],
                        "action": "replace",
                        "target_label": "namespace",
                    },
                    {
                        "source_labels": ["__meta_kubernetes_pod_name"],
                        "action": "replace",
                        "target_label": "pod",
                    },
                ],
            }
        ],
    }


def write_config(path: Path, config: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def prometheus_argv(binary: Path, config: Path, data_dir: Path, port: int) -> list[str]:
    return [
        str(binary),
        f"--config.file={config}",
        f"--storage.tsdb.path={data_dir}",
        "--storage.tsdb.retention.time=1d",
        f"--web.listen-address=127.0.0.1:{port}",
        "--web.enable-lifecycle",
        "--log.level=info",
    ]
