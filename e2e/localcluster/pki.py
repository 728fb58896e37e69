"""The cluster's certificates and keys, generated fresh for each cluster."""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

# ECDSA keys: generating them takes microseconds, where RSA takes a noticeable part of start-up.
_CURVE = ec.SECP256R1()
_VALIDITY = datetime.timedelta(days=365)
# Certificates start to be valid a little in the past so that clock skew between the moment
# of generation and the first handshake never matters.
_BACKDATE = datetime.timedelta(hours=1)

APISERVER_SERVICE_IP = "10.0.0.1"
APISERVER_DNS_NAMES = (
    "localhost",
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
)


@dataclass(frozen=True)
class CertPair:
    cert: Path
    key: Path

    def cert_pem(self) -> bytes:
        return self.cert.read_bytes()

    def key_pem(self) -> bytes:
        return self.key.read_bytes()


@dataclass(frozen=True)
class ClusterPKI:
    """Paths of everything the components are given."""

    directory: Path

    @property
    def ca(self) -> CertPair:
        return self._pair("ca")

    @property
    def apiserver(self) -> CertPair:
        return self._pair("apiserver")

    @property
    def admin(self) -> CertPair:
        return self._pair("admin")

    @property
    def controller_manager(self) -> CertPair:
        return self._pair("controller-manager")

    @property
    def scheduler(self) -> CertPair:
        return self._pair("scheduler")

    @property
    def apiserver_kubelet_client(self) -> CertPair:
        return self._pair("apiserver-kubelet-client")

    @property
    def node(self) -> CertPair:
        """The kubelet's client certificate: system:node:<name> in system:nodes."""
        return self._pair("node")

    @property
    def kubelet_serving(self) -> CertPair:
        return self._pair("kubelet-serving")

    @property
    def kube_proxy(self) -> CertPair:
        return self._pair("kube-proxy")

    @property
    def service_account_key(self) -> Path:
        return self.directory / "sa.key"

    @property
    def service_account_pub(self) -> Path:
        return self.directory / "sa.pub"

    def _pair(self, name: str) -> CertPair:
        return CertPair(self.directory / f"{name}.crt", self.directory / f"{name}.key")

    def exists(self) -> bool:
        return all(
            p.exists()
            for p in (self.ca.cert, self.ca.key, self.admin.cert, self.service_account_key)
        )


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(_CURVE)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _write_private(path: Path, data: bytes) -> None:
    path.write_bytes(data)
    path.chmod(0o600)


def _name(common_name: str, organization: str | None = None) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    return x509.Name(attributes)


def _builder(
    subject: x509.Name, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey
) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(now + _VALIDITY)
    )


def _issue(
    ca_cert: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    subject: x509.Name,
    *,
    server: bool,
    client: bool,
    dns_names: tuple[str, ...] = (),
    ips: tuple[str, ...] = (),
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = _new_key()
    usages = []
    if server:
        usages.append(ExtendedKeyUsageOID.SERVER_AUTH)
    if client:
        usages.append(ExtendedKeyUsageOID.CLIENT_AUTH)
    builder = (
        _builder(subject, ca_cert.subject, key.public_key())
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=True,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
    )
    if dns_names or ips:
        names: list[x509.GeneralName] = [x509.DNSName(n) for n in dns_names]
        names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(ca_key, hashes.SHA256()), key


def _write_pair(pair: CertPair, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> None:
    pair.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_private(pair.key, _key_pem(key))


def generate(directory: Path, node_name: str, node_ip: str) -> ClusterPKI:
    """Writes a CA, the serving and client certificates and the service-account key pair."""
    directory.mkdir(parents=True, exist_ok=True)
    pki = ClusterPKI(directory)

    ca_key = _new_key()
    ca_name = _name("modeldeploy-localcluster-ca")
    ca_cert = (
        _builder(ca_name, ca_name, ca_key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    _write_pair(pki.ca, ca_cert, ca_key)

    issued = {
        pki.apiserver: _issue(
            ca_cert,
            ca_key,
            _name("kube-apiserver"),
            server=True,
            client=False,
            dns_names=APISERVER_DNS_NAMES,
            ips=("127.0.0.1", APISERVER_SERVICE_IP, node_ip),
        ),
        pki.node: _issue(
            ca_cert,
            ca_key,
            _name(f"system:node:{node_name}", "system:nodes"),
            server=False,
            client=True,
        ),
        pki.kubelet_serving: _issue(
            ca_cert,
            ca_key,
            _name(node_name),
            server=True,
            client=False,
            dns_names=(node_name,),
            ips=(node_ip,),
        ),
        pki.kube_proxy: _issue(
            ca_cert, ca_key, _name("system:kube-proxy"), server=False, client=True
        ),
        pki.admin: _issue(
            ca_cert, ca_key, _name("kubernetes-admin", "system:masters"), server=False, client=True
        ),
        # The default RBAC policy binds these user names to the components' roles.
        pki.controller_manager: _issue(
            ca_cert, ca_key, _name("system:kube-controller-manager"), server=False, client=True
        ),
        pki.scheduler: _issue(
            ca_cert, ca_key, _name("system:kube-scheduler"), server=False, client=True
        ),
        pki.apiserver_kubelet_client: _issue(
            ca_cert,
            ca_key,
            _name("kube-apiserver-kubelet-client", "system:masters"),
            server=False,
            client=True,
        ),
    }
    for pair, (cert, key) in issued.items():
        _write_pair(pair, cert, key)

    sa_key = _new_key()
    _write_private(pki.service_account_key, _key_pem(sa_key))
    pki.service_account_pub.write_bytes(
        sa_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return pki
