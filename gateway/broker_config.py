"""``anju gateway broker-config``: a site's Mosquitto configuration, ACL, CA and identities.

Writes into one directory::

    ca.crt ca.key                 the site's dedicated CA (keep ca.key offline after provisioning)
    broker.crt broker.key         the broker's TLS identity (SAN: the given host names and addresses)
    clients/<id>.crt <id>.key     one TLS client identity per node, and one for central (CN = identity)
    keys/<id>.sign.pem            Ed25519 signing keys (node events; central's whitelists and commands)
    keys/<id>.sign.pub.pem        their public halves (central registers the nodes'; nodes get central's)
    acl                           who may publish/subscribe where
    mosquitto.conf                TLS-only listener, client certificates required, identity = CN

Running it again with more ``--nodes`` keeps the CA and every existing identity
and only adds the missing ones.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import os
import pwd
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from anju.errors import AnjuError
from contracts.messages import ID_PATTERN
from gateway import signing, topics

log = logging.getLogger(__name__)

CENTRAL_IDENTITY = signing.CENTRAL_SIGNER_ID


class BrokerConfigError(AnjuError):
    """The requested broker configuration cannot be generated."""


@dataclass(frozen=True)
class BrokerFiles:
    out_dir: Path
    conf: Path
    acl: Path
    ca_cert: Path
    port: int

    def client_cert(self, identity: str) -> Path:
        return self.out_dir / "clients" / f"{identity}.crt"

    def client_key(self, identity: str) -> Path:
        return self.out_dir / "clients" / f"{identity}.key"

    def signing_key(self, identity: str) -> Path:
        return self.out_dir / "keys" / f"{identity}.sign.pem"

    def signing_public_key(self, identity: str) -> Path:
        return self.out_dir / "keys" / f"{identity}.sign.pub.pem"


def _write(path: Path, data: bytes, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def _save_key(key: ec.EllipticCurvePrivateKey, path: Path) -> None:
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    _write(path, pem, 0o600)


def _load_key(path: Path) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise BrokerConfigError(f"{path}: expected an EC private key")
    return key


def _name(common_name: str, site_id: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, f"Anju site {site_id}"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _ensure_ca(out: Path, site_id: str, days: int) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key_path, cert_path = out / "ca.key", out / "ca.crt"
    if key_path.exists() and cert_path.exists():
        return _load_key(key_path), x509.load_pem_x509_certificate(cert_path.read_bytes())
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.timezone.utc)
    name = _name(f"Anju {site_id} CA", site_id)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
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
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    _save_key(key, key_path)
    _write(cert_path, cert.public_bytes(serialization.Encoding.PEM), 0o644)
    return key, cert


def _issue(
    ca_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    common_name: str,
    site_id: str,
    days: int,
    server_names: Sequence[str] = (),
    server_ips: Sequence[str] = (),
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.timezone.utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name, site_id))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
    )
    server = bool(server_names or server_ips)
    usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
    builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    if server:
        alt: list[x509.GeneralName] = [x509.DNSName(n) for n in server_names]
        alt += [x509.IPAddress(ipaddress.ip_address(a)) for a in server_ips]
        builder = builder.add_extension(x509.SubjectAlternativeName(alt), critical=False)
    return key, builder.sign(ca_key, hashes.SHA256())


def acl_text(site_id: str, central_identity: str = CENTRAL_IDENTITY) -> str:
    base = f"{topics.PREFIX}/{site_id}"
    return "\n".join(
        [
            f"# Anju ACL for site {site_id}. Identities are client-certificate common names.",
            "",
            "# central: reads every node's events and reports, writes acks, commands and whitelists,",
            "# and owns central/# (online announcements, alert notices)",
            f"user {central_identity}",
            f"topic read {base}/+/events/#",
            f"topic read {base}/+/status",
            f"topic read {base}/+/whitelist/version",
            f"topic read {base}/+/whitelist/request",
            f"topic write {base}/+/ack",
            f"topic write {base}/+/cmd/door",
            f"topic readwrite {base}/central/#",
            f"topic readwrite {base}/whitelist/#",
            "",
            "# every node (%u = its certificate CN): publish only under its own topics,",
            "# read only its acks/commands and its site's whitelists",
            f"pattern write {base}/%u/events/#",
            f"pattern write {base}/%u/status",
            f"pattern write {base}/%u/whitelist/version",
            f"pattern write {base}/%u/whitelist/request",
            f"pattern read {base}/%u/ack",
            f"pattern read {base}/%u/cmd/door",
            f"pattern read {base}/whitelist/#",
            f"pattern read {base}/central/online",
            "",
        ]
    )


def mosquitto_conf_text(
    out: Path, port: int, bind_address: str, max_packet_bytes: int, broker_user: str = "mosquitto"
) -> str:
    d = out.resolve()
    return "\n".join(
        [
            "# Generated by `anju gateway broker-config`. TLS only; every client needs a certificate",
            "# from this site's CA and is known by the certificate's common name.",
            "per_listener_settings false",
            f"user {broker_user}",
            "allow_anonymous false",
            f"listener {port} {bind_address}",
            "protocol mqtt",
            f"cafile {d / 'ca.crt'}",
            f"certfile {d / 'broker.crt'}",
            f"keyfile {d / 'broker.key'}",
            "tls_version tlsv1.2",
            "require_certificate true",
            "use_identity_as_username true",
            f"acl_file {d / 'acl'}",
            "",
            "# Nodes keep their own outbox; persistence covers retained whitelists and central's session.",
            "persistence true",
            f"persistence_location {d / 'data'}/",
            "autosave_interval 10",
            "",
            "# Throughput and whitelist snapshot size.",
            "max_inflight_messages 1000",
            "max_queued_messages 100000",
            f"max_packet_size {max_packet_bytes}",
            "set_tcp_nodelay true",
            f"log_dest file {d / 'data' / 'mosquitto.log'}",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "",
        ]
    )


def generate(
    site_id: str,
    out_dir: Path,
    nodes: Sequence[str],
    *,
    port: int = 8883,
    bind_address: str = "0.0.0.0",
    hostnames: Sequence[str] = ("localhost",),
    ip_addresses: Sequence[str] = ("127.0.0.1",),
    validity_days: int = 825,
    max_packet_bytes: int = 64 * 1024 * 1024,
    broker_user: str = "mosquitto",
) -> BrokerFiles:
    """Write (or extend) a site's broker directory; see the module docstring."""
    import re

    for ident in [site_id, *nodes]:
        if not re.match(ID_PATTERN, ident):
            raise BrokerConfigError(f"'{ident}' is not a valid site/node id (letters, digits, _ . -)")
    for node in nodes:
        if node in topics.RESERVED_NODE_IDS:
            raise BrokerConfigError(f"node id '{node}' is reserved; choose another")
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "data").mkdir(exist_ok=True)
    ca_key, ca_cert = _ensure_ca(out_dir, site_id, validity_days * 4)
    ca_pem = ca_cert.public_bytes(serialization.Encoding.PEM)
    if not (out_dir / "broker.crt").exists():
        key, cert = _issue(ca_key, ca_cert, "anju-broker", site_id, validity_days, hostnames, ip_addresses)
        _save_key(key, out_dir / "broker.key")
        _write(out_dir / "broker.crt", cert.public_bytes(serialization.Encoding.PEM) + ca_pem, 0o644)
    files = BrokerFiles(out_dir, out_dir / "mosquitto.conf", out_dir / "acl", out_dir / "ca.crt", port)
    for identity in [CENTRAL_IDENTITY, *nodes]:
        if not files.client_cert(identity).exists():
            key, cert = _issue(ca_key, ca_cert, identity, site_id, validity_days)
            _save_key(key, files.client_key(identity))
            _write(files.client_cert(identity), cert.public_bytes(serialization.Encoding.PEM), 0o644)
        if not files.signing_key(identity).exists():
            skey = signing.generate_private_key()
            signing.save_private_key(skey, files.signing_key(identity))
            signing.save_public_key(skey.public_key(), files.signing_public_key(identity))
    _write(files.acl, acl_text(site_id).encode(), 0o644)
    conf = mosquitto_conf_text(out_dir, port, bind_address, max_packet_bytes, broker_user)
    _write(files.conf, conf.encode(), 0o644)
    _hand_to_broker_user(out_dir, broker_user)
    return files


def _hand_to_broker_user(out: Path, broker_user: str) -> None:
    """Let the broker (which drops root privileges to ``broker_user``) read its key and write its data."""
    if os.geteuid() != 0:
        return  # mosquitto started by this user keeps running as this user
    try:
        entry = pwd.getpwnam(broker_user)
    except KeyError:
        log.warning(
            "user %s does not exist; give it broker.key and data/ before starting mosquitto", broker_user
        )
        return
    for path in (out / "broker.key", out / "data"):
        os.chown(path, entry.pw_uid, entry.pw_gid)
