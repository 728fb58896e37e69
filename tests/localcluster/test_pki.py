import ipaddress
import ssl
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from e2e.localcluster.kubeconfig import write_kubeconfig
from e2e.localcluster.pki import generate


def load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_certificates_chain_to_the_ca(tmp_path: Path) -> None:
    pki = generate(tmp_path, "node-1", "172.30.0.2")
    ca = load(pki.ca.cert)
    for pair in (pki.apiserver, pki.admin, pki.controller_manager, pki.scheduler):
        cert = load(pair.cert)
        cert.verify_directly_issued_by(ca)
        # Python's own TLS stack accepts the pair too.
        context = ssl.create_default_context(cafile=str(pki.ca.cert))
        context.load_cert_chain(str(pair.cert), str(pair.key))
    assert (pki.service_account_key.stat().st_mode & 0o777) == 0o600


def test_serving_names_and_client_identities(tmp_path: Path) -> None:
    pki = generate(tmp_path, "node-1", "172.30.0.2")
    serving = load(pki.apiserver.cert)
    names = serving.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "kubernetes.default.svc" in names.get_values_for_type(x509.DNSName)
    ips = names.get_values_for_type(x509.IPAddress)
    assert ipaddress.ip_address("127.0.0.1") in ips
    assert ipaddress.ip_address("10.0.0.1") in ips
    usage = serving.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.SERVER_AUTH in usage

    admin = load(pki.admin.cert).subject
    assert admin.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "kubernetes-admin"
    assert admin.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "system:masters"


def test_kubeconfig_embeds_credentials(tmp_path: Path) -> None:
    import yaml

    pki = generate(tmp_path / "pki", "node-1", "172.30.0.2")
    path = write_kubeconfig(
        tmp_path / "kubeconfig", "https://127.0.0.1:6443", pki.ca.cert, pki.admin, "admin"
    )
    config = yaml.safe_load(path.read_text())
    assert config["clusters"][0]["cluster"]["server"] == "https://127.0.0.1:6443"
    assert config["users"][0]["user"]["client-key-data"]
    assert (path.stat().st_mode & 0o777) == 0o600
