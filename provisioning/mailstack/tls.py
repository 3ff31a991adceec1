"""The certificates a node presents: its own (STARTTLS at 25, 587, IMAP, POP3, ManageSieve;
TLS from the first byte at 465, 993, 995) and one per customer host name by SNI.

certificate() returns the node's PEM files. Configured files (MAILNODE_TLS_CERT /
MAILNODE_TLS_KEY) win; without them a production node makes a self-signed certificate for its
host name once (other MTAs encrypt with it; they do not verify it without DANE), and the test
bed makes its own CA (<state>/tls/ca.crt, what the tests trust) and a certificate from it.

SNI certificates are files the operator places in <state>/tls/sni/ as NAME.crt (chain) and
NAME.key, NAME being the host name clients ask for (mail.customer.example); sni_certificates()
lists the complete pairs. `manage.py mailstack reload-certs` makes both daemons pick up new or
renewed files without dropping a session (docs/mailstack-findings.md).
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from provisioning.mailstack.profile import Profile

SELF_SIGNED_DAYS = 825
TEST_CA_DAYS = 3650
HOST_NAME = re.compile(r"(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}")
# EC keys: made in milliseconds, so the test bed's CA costs nothing at `mailstack start`.
EC_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-sha256"]


class CertificateError(RuntimeError):
    pass


def certificate(profile: Profile, tls_dir: Path) -> tuple[Path, Path]:
    """(certificate chain, private key) for profile.hostname."""
    if profile.tls_cert is not None and profile.tls_key is not None:
        for path, setting in ((profile.tls_cert, "CERT"), (profile.tls_key, "KEY")):
            if not path.is_file():
                raise CertificateError(f"MAILNODE_TLS_{setting}: {path} is not a readable file")
        return profile.tls_cert, profile.tls_key
    if profile.production:
        return self_signed(profile.hostname, tls_dir)
    return issue(testbed_ca(tls_dir), profile.hostname, tls_dir)


def sni_dir(tls_dir: Path) -> Path:
    return tls_dir / "sni"


def sni_certificates(tls_dir: Path) -> dict[str, tuple[Path, Path]]:
    """{host name: (chain, key)} of every complete pair in <tls_dir>/sni; a file whose name is
    no host name, or a certificate without its key, is left out."""
    found = {}
    for cert in sorted(sni_dir(tls_dir).glob("*.crt")):
        key = cert.with_suffix(".key")
        name = cert.name[: -len(".crt")].lower()
        if HOST_NAME.fullmatch(name) and key.is_file():
            found[name] = (cert, key)
    return found


def testbed_ca(tls_dir: Path) -> tuple[Path, Path]:
    """The test bed's own CA under tls_dir (made when missing): tests trust ca.crt."""
    _private_dir(tls_dir)
    cert, key = tls_dir / "ca.crt", tls_dir / "ca.key"
    if cert.exists() and key.exists():
        return cert, key
    _openssl(
        ["req", "-x509", *EC_KEY, "-days", str(TEST_CA_DAYS),
         "-subj", "/CN=TempusMail test bed CA",
         "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,keyCertSign,cRLSign",
         "-keyout", str(key), "-out", str(cert)],
        "the test bed CA",
    )  # fmt: skip
    os.chmod(key, 0o600)
    cert.chmod(0o644)
    return cert, key


def issue(ca: tuple[Path, Path], hostname: str, out_dir: Path) -> tuple[Path, Path]:
    """A certificate for hostname signed by ca, in out_dir (made when missing)."""
    _private_dir(out_dir)
    cert, key = out_dir / f"{hostname}.crt", out_dir / f"{hostname}.key"
    if cert.exists() and key.exists():
        return cert, key
    _openssl(
        ["req", "-x509", "-CA", str(ca[0]), "-CAkey", str(ca[1]), *EC_KEY,
         "-days", str(SELF_SIGNED_DAYS), "-subj", f"/CN={hostname}",
         "-addext", f"subjectAltName=DNS:{hostname}",
         "-addext", "basicConstraints=critical,CA:FALSE",
         "-addext", "extendedKeyUsage=serverAuth",
         "-keyout", str(key), "-out", str(cert)],
        hostname,
    )  # fmt: skip
    os.chmod(key, 0o600)
    return cert, key


def _private_dir(path: Path) -> None:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path, 0o700)  # keys: root only (Postfix and Dovecot read them as root)


def _openssl(args: list[str], what: str) -> None:
    result = subprocess.run(["openssl", *args], capture_output=True, text=True)
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise CertificateError(f"cannot make a certificate for {what}: {last}")


def self_signed(hostname: str, tls_dir: Path) -> tuple[Path, Path]:
    """A self-signed certificate for hostname under tls_dir, made when missing.

    Named after the host name, so a node renamed with MAILNODE_HOSTNAME gets a new one.
    """
    tls_dir.mkdir(mode=0o700, exist_ok=True)
    os.chmod(tls_dir, 0o700)  # the key: root only (Postfix and Dovecot read it as root)
    cert, key = tls_dir / f"{hostname}.crt", tls_dir / f"{hostname}.key"
    if cert.exists() and key.exists():
        return cert, key
    result = subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256",
         "-days", str(SELF_SIGNED_DAYS), "-subj", f"/CN={hostname}",
         "-addext", f"subjectAltName=DNS:{hostname}",
         "-keyout", str(key), "-out", str(cert)],
        capture_output=True, text=True,
    )  # fmt: skip
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise CertificateError(f"cannot make a self-signed certificate for {hostname}: {last}")
    os.chmod(key, 0o600)
    return cert, key


def node_status(profile: Profile, tls_dir: Path, now: float | None = None) -> dict[str, object]:
    """What the node reports to the panel (MailNode.tls_status): its certificate's host name
    and expiry, the SNI host names it serves, or why it has no usable certificate ("error")."""
    import time

    from cryptography import x509

    cert = profile.tls_cert or tls_dir / f"{profile.hostname}.crt"
    status: dict[str, object] = {"hostname": profile.hostname, "not_after": None, "error": ""}
    status["sni"] = sorted(sni_certificates(tls_dir))
    try:
        loaded = x509.load_pem_x509_certificate(cert.read_bytes())
    except FileNotFoundError:
        made = "" if profile.tls_cert else " (`manage.py mailstack start` makes one)"
        status["error"] = f"no certificate at {cert}{made}"
        return status
    except (OSError, ValueError) as exc:
        status["error"] = f"{cert} is not a readable PEM certificate: {exc}"
        return status
    not_after = loaded.not_valid_after_utc.timestamp()
    status["not_after"] = not_after
    if not_after < (time.time() if now is None else now):
        status["error"] = f"the certificate {cert} has expired"
    return status
