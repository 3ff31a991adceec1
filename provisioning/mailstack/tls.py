"""The certificate a production node presents (STARTTLS at 25 and 587, TLS at 465, 993, 995).

The seam issue #15 (managed certificates) plugs into: certificate() returns the PEM files to
use. Configured files (MAILNODE_TLS_CERT / MAILNODE_TLS_KEY) win; without them the node makes
a self-signed certificate for its host name once, so a fresh node speaks TLS from its first
start (other MTAs encrypt with it; they do not verify it without DANE).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from provisioning.mailstack.profile import Profile

SELF_SIGNED_DAYS = 825


class CertificateError(RuntimeError):
    pass


def certificate(profile: Profile, tls_dir: Path) -> tuple[Path, Path]:
    """(certificate chain, private key) for profile.hostname."""
    if profile.tls_cert is not None and profile.tls_key is not None:
        for path, setting in ((profile.tls_cert, "CERT"), (profile.tls_key, "KEY")):
            if not path.is_file():
                raise CertificateError(f"MAILNODE_TLS_{setting}: {path} is not a readable file")
        return profile.tls_cert, profile.tls_key
    return self_signed(profile.hostname, tls_dir)


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
