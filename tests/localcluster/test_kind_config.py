"""The kind cluster's configuration agrees with the add-ons it is given."""

import ipaddress
from pathlib import Path

import yaml

from e2e.kind.cluster import CONFIG, KindRecord
from e2e.localcluster.addons import MODEL_STORE_SERVICE_IP
from e2e.localcluster.prometheus import PROMETHEUS_SERVICE_IP


def test_the_add_ons_fixed_cluster_ips_are_in_kinds_service_range() -> None:
    config = yaml.safe_load(CONFIG.read_text())
    services = ipaddress.ip_network(config["networking"]["serviceSubnet"])
    for address in (PROMETHEUS_SERVICE_IP, MODEL_STORE_SERVICE_IP):
        assert ipaddress.ip_address(address) in services
    # The harness enters one node's namespace: every pod must run on that node.
    assert [n["role"] for n in config["nodes"]] == ["control-plane"]


def test_the_record_survives_a_round_trip(tmp_path: Path) -> None:
    record = KindRecord(
        name="e2e",
        bin_dir="/bin",
        netns="modeldeploy-kind-e2e",
        prometheus_port=9090,
        model_store_port=9000,
        scrape_interval="2s",
        images={"serving": "localhost/modeldeploy/serving:0.1.0"},
    )
    record.save(tmp_path / "cluster.json")
    assert KindRecord.load(tmp_path / "cluster.json") == record
