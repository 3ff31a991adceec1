"""The two mail-node profiles without starting anything: settings checked one by one, and the
configuration each renders (checked by the installed postconf where it is there).

The daemons themselves run in tests/test_mailstack.py (test bed) and tests/test_internet_live.py
(two production nodes).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from django.test import override_settings

from provisioning.mailstack import controller, tls
from provisioning.mailstack.controller import LOOPBACK_PORT_NAMES, MailStack, MailStackError
from provisioning.mailstack.profile import (
    PRODUCTION,
    PRODUCTION_PORTS,
    TESTBED,
    Profile,
    ProfileError,
    from_settings,
)

PICKED = {name: 40000 + i for i, name in enumerate(LOOPBACK_PORT_NAMES)}


def production(tmp_path: Path, **changes: object) -> Profile:
    cert, key = tmp_path / "node.crt", tmp_path / "node.key"
    cert.write_text("cert")
    key.write_text("key")
    fields: dict = {
        "name": PRODUCTION,
        "hostname": "mx1.example.com",
        "listen": ("192.0.2.10", "2001:db8::10"),
        "tls_cert": cert,
        "tls_key": key,
    }
    return Profile(**(fields | changes))


def rendered(tmp_path: Path, profile: Profile) -> dict[str, str]:
    """main.cf, the master.cf listeners and dovecot.conf as `mailstack start` writes them."""
    stack = MailStack(tmp_path / "node", profile=profile, relay=None)
    ports = {**(profile.fixed_ports or {n: 30000 + i for i, n in enumerate(
        profile.public_port_names)}), **PICKED}  # fmt: skip
    values = {
        "root": str(stack.root),
        "hostname": profile.hostname,
        "map_type": "cdb",
        "maps": str(stack.paths.maps_dir),
        "usage_dict": "redis:host=127.0.0.1:port=6379",
        "outbound": controller._render("outbound-direct.cf", {
            "bind_addresses": controller._bind_addresses(profile)})
        if profile.production else "relayhost =\ndefault_transport = error:none\n",
        **{name: str(port) for name, port in ports.items()},
    }  # fmt: skip
    values.update(stack._profile_values(ports))
    return {
        "main.cf": controller._render_with_profile("main", values, profile),
        "master": controller._master_listeners(values, profile),
        "dovecot.conf": controller._render_with_profile("dovecot", values, profile),
    }


# --- settings ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"name": "live"}, "MAILNODE_PROFILE='live': use 'testbed' or 'production'"),
        ({"hostname": "mx 1"}, "MAILNODE_HOSTNAME='mx 1' is not a host name"),
        ({"hostname": "localhost"}, "is not a host name"),
        ({"listen": ()}, "MAILNODE_LISTEN is empty"),
        ({"listen": ("mail.example.com",)}, "MAILNODE_LISTEN: 'mail.example.com' is not an IP"),
        ({"resolver": "ns1"}, "MAILNODE_RESOLVER: 'ns1' is not an IP address"),
        ({"mynetworks": ("10.0.0.0/33",)}, "MAILNODE_MYNETWORKS: '10.0.0.0/33' is not a network"),
        ({"message_size_limit": 10}, "MAILNODE_MESSAGE_SIZE_LIMIT must be at least 1024"),
        ({"tls_key": None}, "set both MAILNODE_TLS_CERT and MAILNODE_TLS_KEY, or neither"),
    ],
)
def test_a_bad_setting_is_named(tmp_path: Path, changes: dict, message: str) -> None:
    with pytest.raises(ProfileError, match=message.replace("(", r"\(").replace(")", r"\)")):
        production(tmp_path, **changes)


def test_settings_make_the_profile() -> None:
    with override_settings(
        MAILNODE_PROFILE="production",
        MAILNODE_HOSTNAME="mx2.example.com",
        MAILNODE_LISTEN=["203.0.113.7"],
        MAILNODE_MYNETWORKS=["10.1.0.0/16"],
        MAILNODE_TLS_CERT="",
        MAILNODE_TLS_KEY="",
        MAILNODE_RESOLVER="",
    ):
        profile = from_settings()
    assert profile.production and profile.hostname == "mx2.example.com"
    assert profile.listen == ("203.0.113.7",) and profile.mynetworks == ("10.1.0.0/16",)
    assert profile.tls_cert is None and profile.resolver is None
    refused = pytest.raises(MailStackError, match="MAILNODE_PROFILE='prod'")
    with override_settings(MAILNODE_PROFILE="prod"), refused:
        MailStack("/tmp/tm-profile-unused").status()


def test_the_test_bed_is_the_default_profile() -> None:
    profile = Profile()
    assert profile.name == TESTBED and not profile.fixed_ports
    assert profile.public_addresses == ("127.0.0.1",)


# --- what each profile renders ---------------------------------------------------------------


def test_production_listens_on_each_address_at_the_standard_ports(tmp_path: Path) -> None:
    profile = production(tmp_path)
    master = rendered(tmp_path, profile)["master"]
    for host in ("192.0.2.10", "[2001:db8::10]"):
        assert f"{host}:25 inet n - n - 1 postscreen" in master
        assert f"{host}:587 inet n - n - - smtpd" in master
        assert f"{host}:465 inet n - n - - smtpd" in master
    assert "smtpd pass - - n - - smtpd" in master
    assert f"127.0.0.1:{PICKED['reinject']} inet" in master
    listeners = profile.listeners({**PRODUCTION_PORTS, **PICKED})
    public = {(a, p) for n, a, p in listeners if n in PRODUCTION_PORTS}
    assert public == {(a, p) for a in profile.listen for p in PRODUCTION_PORTS.values()}
    assert {a for n, a, _ in listeners if n in LOOPBACK_PORT_NAMES} == {"127.0.0.1"}


def test_production_main_cf(tmp_path: Path) -> None:
    main = rendered(tmp_path, production(tmp_path, mynetworks=("10.1.0.0/16", "2001:db8::/32")))[
        "main.cf"
    ]
    for line in (
        "myhostname = mx1.example.com",
        "inet_protocols = ipv4, ipv6",
        "proxy_interfaces = 192.0.2.10, 2001:db8::10",
        "mynetworks = 10.1.0.0/16 [2001:db8::]/32",
        "smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination",
        "message_size_limit = 26214400",
        "default_transport = smtp",
        "smtp_tls_security_level = dane",
        "smtp_dns_support_level = dnssec",
        "smtp_bind_address = 192.0.2.10",
        "smtp_bind_address6 = 2001:db8::10",
        "smtpd_tls_security_level = may",
        "smtpd_tls_auth_only = yes",
        "postscreen_greet_action = enforce",
        "smtpd_client_connection_count_limit = 20",
    ):
        assert line in main, line
    assert "smtpd_tls_chain_files = " in main and "node.key, " in main


def test_the_test_bed_trusts_no_network_and_speaks_tls_from_its_own_ca(tmp_path: Path) -> None:
    files = rendered(tmp_path, Profile())
    main, dovecot = files["main.cf"], files["dovecot.conf"]
    assert "\nmynetworks = \n" in main
    assert "inet_interfaces = 127.0.0.1" in main and "smtpd_tls_auth_only" not in main
    node_tls = tmp_path / "node" / "tls"
    key, cert = node_tls / "mx.tempusmail.test.key", node_tls / "mx.tempusmail.test.crt"
    assert f"smtpd_tls_chain_files = {key}, {cert}" in main
    assert "ssl = yes" in dovecot and "disable_plaintext_auth = yes" in dovecot
    assert (node_tls / "ca.crt").exists()
    assert "smtpd_tls_wrappermode=yes" in files["master"]
    assert f"submission_host = 127.0.0.1:{PICKED['reinject']}" in dovecot
    assert "postscreen" not in files["master"]


def test_production_dovecot_requires_tls(tmp_path: Path) -> None:
    dovecot = rendered(tmp_path, production(tmp_path))["dovecot.conf"]
    assert "ssl = required" in dovecot and "disable_plaintext_auth = yes" in dovecot
    assert "address = 192.0.2.10, 2001:db8::10\n    port = 993\n    ssl = yes" in dovecot
    assert "ssl = no" not in dovecot and "auth_failure_delay = 0" not in dovecot


def test_a_wildcard_address_listens_everywhere(tmp_path: Path) -> None:
    main_and_master = rendered(tmp_path, production(tmp_path, listen=("0.0.0.0",)))  # noqa: S104
    assert "inet_interfaces = all" in main_and_master["main.cf"]
    assert "smtp_bind_address" not in main_and_master["main.cf"]
    assert "\n25 inet n - n - 1 postscreen" in main_and_master["master"]


@pytest.mark.skipif(not shutil.which("postconf"), reason="needs Postfix's postconf")
def test_postfix_knows_every_production_parameter(tmp_path: Path) -> None:
    folder = tmp_path / "postfix"
    folder.mkdir()
    files = rendered(tmp_path, production(tmp_path))
    (folder / "main.cf").write_text(files["main.cf"])
    (folder / "master.cf").write_text(controller._master_cf(files["master"]))
    result = subprocess.run(
        ["postconf", "-c", str(folder), "-n"], capture_output=True, text=True, check=True
    )
    # postconf names any parameter it does not know or nothing uses ("unused parameter").
    assert "warning" not in result.stderr, result.stderr


# --- the certificate ----------------------------------------------------------------------------


@pytest.mark.skipif(not shutil.which("openssl"), reason="needs openssl")
def test_a_self_signed_certificate_is_made_once_for_the_host_name(tmp_path: Path) -> None:
    node = Profile(name=PRODUCTION, hostname="mx9.example.com", listen=("192.0.2.1",))
    cert, key = tls.certificate(node, tmp_path / "tls")
    subject = subprocess.run(
        ["openssl", "x509", "-in", str(cert), "-noout", "-subject", "-ext", "subjectAltName"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "CN = mx9.example.com" in subject and "DNS:mx9.example.com" in subject
    assert key.stat().st_mode & 0o777 == 0o600
    first = cert.read_bytes()
    assert tls.certificate(node, tmp_path / "tls") == (cert, key)
    assert cert.read_bytes() == first  # kept, not made again
    renamed, _ = tls.self_signed("mx8.example.com", tmp_path / "tls")
    assert renamed.name == "mx8.example.com.crt" and renamed.read_bytes() != first


def test_configured_certificate_files_are_used_or_named_when_missing(tmp_path: Path) -> None:
    profile = production(tmp_path)
    assert tls.certificate(profile, tmp_path / "tls") == (profile.tls_cert, profile.tls_key)
    missing = production(tmp_path, tls_cert=tmp_path / "gone.crt")
    with pytest.raises(tls.CertificateError, match=r"MAILNODE_TLS_CERT: .*gone\.crt"):
        tls.certificate(missing, tmp_path / "tls")


# --- small helpers ---------------------------------------------------------------------------


def test_kernel_addresses_are_read_from_proc_net_tcp_spelling() -> None:
    assert controller._kernel_address("0200007F") == "127.0.0.2"
    assert controller._kernel_address("00000000000000000000000001000000") == "::1"
    sockets = {("0.0.0.0", 25), ("127.0.0.3", 587)}  # noqa: S104
    assert controller._is_listening(sockets, "127.0.0.2", 25)  # the wildcard covers it
    assert controller._is_listening(sockets, "127.0.0.3", 587)
    assert not controller._is_listening(sockets, "127.0.0.2", 587)


@pytest.mark.skipif(not shutil.which("openssl"), reason="needs openssl")
def test_sni_certificates_are_the_complete_pairs_in_the_sni_folder(tmp_path: Path) -> None:
    tls_dir = tmp_path / "node" / "tls"
    ca = tls.testbed_ca(tls_dir)
    cert, key = tls.issue(ca, "mail.customer.test", tls.sni_dir(tls_dir))
    (tls.sni_dir(tls_dir) / "no-key.example.com.crt").write_text("a certificate alone")
    (tls.sni_dir(tls_dir) / "not_a_host.crt").write_text("x")
    (tls.sni_dir(tls_dir) / "not_a_host.key").write_text("x")
    assert tls.sni_certificates(tls_dir) == {"mail.customer.test": (cert, key)}
    verified = subprocess.run(
        ["openssl", "verify", "-CAfile", str(ca[0]), str(cert)], capture_output=True, text=True
    )
    assert verified.returncode == 0, verified.stderr
    files = rendered(tmp_path, Profile())
    assert f"local_name mail.customer.test {{\n  ssl_cert = <{cert}\n" in files["dovecot.conf"]
    assert f"tls_server_sni_maps = cdb:{tls_dir / 'sni_map'}" in files["main.cf"]


@pytest.mark.skipif(not shutil.which("postconf"), reason="needs Postfix's postconf")
def test_postfix_knows_every_test_bed_parameter(tmp_path: Path) -> None:
    folder = tmp_path / "postfix"
    folder.mkdir()
    files = rendered(tmp_path, Profile())
    (folder / "main.cf").write_text(files["main.cf"])
    (folder / "master.cf").write_text(controller._master_cf(files["master"]))
    result = subprocess.run(
        ["postconf", "-c", str(folder), "-n"], capture_output=True, text=True, check=True
    )
    assert "warning" not in result.stderr, result.stderr
