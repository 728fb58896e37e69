import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from e2e.localcluster.prometheus import JOB_NAME, prometheus_argv, prometheus_config, write_config


def test_config_keeps_annotated_pods_and_maps_labels(tmp_path: Path) -> None:
    config = prometheus_config("http://127.0.0.1:9999/targets/pods", "2s")
    assert config["global"]["scrape_interval"] == "2s"
    assert config["global"]["evaluation_interval"] == "2s"
    (job,) = config["scrape_configs"]
    assert job["job_name"] == JOB_NAME
    assert job["http_sd_configs"] == [
        {"url": "http://127.0.0.1:9999/targets/pods", "refresh_interval": "2s"}
    ]
    relabel = job["relabel_configs"]
    keep = relabel[0]
    assert keep["action"] == "keep" and keep["regex"] == "true"
    assert any(
        r.get("target_label") == "__address__" and r["replacement"] == "$1:$2" for r in relabel
    )
    assert any(r.get("action") == "labelmap" for r in relabel)
    assert {r.get("target_label") for r in relabel} >= {"namespace", "pod", "__metrics_path__"}
    path = write_config(tmp_path / "p.yml", config)
    assert yaml.safe_load(path.read_text()) == config


def test_argv_listens_on_loopback_with_lifecycle_api(tmp_path: Path) -> None:
    argv = prometheus_argv(Path("/usr/bin/prometheus"), tmp_path / "p.yml", tmp_path / "d", 9123)
    assert "--web.listen-address=127.0.0.1:9123" in argv
    assert "--web.enable-lifecycle" in argv
    assert f"--storage.tsdb.path={tmp_path / 'd'}" in argv


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed")
def test_promtool_accepts_the_config(tmp_path: Path) -> None:
    path = write_config(tmp_path / "p.yml", prometheus_config("http://127.0.0.1:9/targets/pods"))
    result = subprocess.run(
        ["promtool", "check", "config", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
