"""A private authoritative DNS server for live tests: Debian's NSD on a loopback address.

The test writes the zones (zone(): a domain's MX and A records, or any records); the server
answers for them on port 53 of its own 127.x.y.z address, because the system resolver (and so
Postfix) can only ask port 53 (resolv.conf has no port). Several test runs side by side each
take another address. A mail node is pointed at it with Profile(resolver=server.address).

    with DnsServer({"a.test": mail_zone("a.test", "127.0.0.2")}) as dns:
        ...
"""

from __future__ import annotations

import random
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

NSD = "/usr/sbin/nsd"
START_TIMEOUT = 10.0


def available() -> bool:
    return Path(NSD).exists()


def mail_zone(domain: str, mx_address: str, *, mx_host: str | None = None) -> list[str]:
    """Records of a domain whose mail goes to mx_host (default mx.<domain>) at mx_address."""
    host = mx_host or f"mx.{domain}"
    lines = [f"{domain}. MX 10 {host}."]
    if host.endswith(f".{domain}"):
        lines.append(f"{host}. A {mx_address}")
    return lines


class DnsServer:
    def __init__(self, zones: dict[str, list[str]], address: str | None = None) -> None:
        self.zones = zones
        self.address = address or _free_address()
        self.dir = Path(tempfile.mkdtemp(prefix="tm-dns-"))
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> DnsServer:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> None:
        self._write()
        self.proc = subprocess.Popen(
            [NSD, "-d", "-c", str(self.dir / "nsd.conf")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + START_TIMEOUT
        while not self._answers():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                log = (self.dir / "nsd.log").read_text(errors="replace")
                self.stop()
                raise RuntimeError(f"nsd did not start on {self.address}:53\n{log}")
            time.sleep(0.05)

    def set_zone(self, domain: str, records: list[str]) -> None:
        """Add or replace a zone while running. A new zone needs NSD's configuration changed,
        so the files are rewritten and the server restarted (about 2 s, NSD's start)."""
        self.zones[domain] = records
        self.stop(keep_files=True)
        self.start()

    def stop(self, *, keep_files: bool = False) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None
        if not keep_files:
            shutil.rmtree(self.dir, ignore_errors=True)

    def query(self, name: str, rtype: str = "MX") -> bytes:
        """The raw answer of one UDP query (enough for a test to see the server answers)."""
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(2)
            sock.sendto(_question(name, rtype), (self.address, 53))
            return sock.recv(4096)

    # ----- files ---------------------------------------------------------------------------

    def _write(self) -> None:
        self.dir.mkdir(exist_ok=True)
        zones = []
        for domain, records in self.zones.items():
            (self.dir / f"{domain}.zone").write_text(_zone_text(domain, records))
            zones.append(f"zone:\n  name: {domain}\n  zonefile: {domain}.zone\n")
        # Runs as root in the foreground without chroot or privilege drop: a test process.
        config = f"""server:
  ip-address: {self.address}
  port: 53
  do-ip6: no
  username: ""
  chroot: ""
  zonesdir: "{self.dir}"
  pidfile: "{self.dir}/nsd.pid"
  database: ""
  zonelistfile: "{self.dir}/zone.list"
  xfrdfile: "{self.dir}/xfrd.state"
  xfrdir: "{self.dir}"
  logfile: "{self.dir}/nsd.log"
  server-count: 1
  verbosity: 1
  hide-version: yes
remote-control:
  control-enable: no
""" + "".join(zones)
        (self.dir / "nsd.conf").write_text(config)

    def _answers(self) -> bool:
        try:
            return len(self.query(next(iter(self.zones)), "SOA")) > 12
        except (OSError, StopIteration):
            return False


def _zone_text(domain: str, records: list[str]) -> str:
    serial = int(time.time())
    head = [
        f"$ORIGIN {domain}.",
        "$TTL 60",
        f"@ SOA ns.{domain}. hostmaster.{domain}. {serial} 3600 600 86400 60",
        f"@ NS ns.{domain}.",
        f"ns.{domain}. A 127.0.0.1",
    ]
    return "\n".join([*head, *records]) + "\n"


def _question(name: str, rtype: str) -> bytes:
    types = {"A": 1, "NS": 2, "SOA": 6, "MX": 15, "TXT": 16, "AAAA": 28, "TLSA": 52}
    header = random.getrandbits(16).to_bytes(2, "big") + bytes([1, 0, 0, 1, 0, 0, 0, 0, 0, 0])
    labels = b"".join(bytes([len(p)]) + p.encode() for p in name.rstrip(".").split("."))
    return header + labels + b"\0" + types[rtype].to_bytes(2, "big") + b"\0\x01"


def _free_address() -> str:
    """A 127.53.x.y nobody listens on at port 53 (UDP and TCP), for this test run."""
    for _ in range(50):
        address = f"127.53.{random.randint(0, 255)}.{random.randint(1, 254)}"
        if all(_bindable(address, kind) for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM)):
            return address
    raise RuntimeError("no free 127.53.x.y address for the DNS server")


def _bindable(address: str, kind: int) -> bool:
    with socket.socket(socket.AF_INET, kind) as sock:
        try:
            sock.bind((address, 53))
        except OSError:
            return False
    return True
