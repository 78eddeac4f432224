"""Icecast 2: the server's config (a programme mount and an emergency mount per zone), running it on
loopback (tests, a Pi that serves its own clusters), and reading its listener statistics."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import os
import shutil
import socket
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from xml.etree import ElementTree
from xml.sax.saxutils import escape

from gateway.core.text import fold

log = logging.getLogger(__name__)


def slug(zone: str) -> str:
    """A zone's mount name: 'Nà Phìn' → 'na-phin' (Icecast mounts are plain ASCII paths)."""
    out = "".join(c if c.isalnum() else "-" for c in fold(zone).lower())
    return "-".join(p for p in out.split("-") if p) or "xa"


def mounts(zone: str) -> tuple[str, str]:
    """(what receivers connect to, the always-on programme). Receivers connect to the emergency mount:
    without a source it hands them its fallback, the programme; when a khẩn cấp source connects,
    fallback-override moves them onto it, and when it leaves they fall back to the programme."""
    name = slug(zone)
    return f"/{name}.mp3", f"/{name}-chuong-trinh.mp3"


EMERGENCY_BURST = 16384  # bytes: ~2.7 s at 48 kbit/s, more than the source can have sent before the move


def config_xml(
    port: int,
    zones: list[str],
    *,
    source_password: str,
    admin_password: str,
    folder: Path,
    burst: int = 0,
    host: str = "127.0.0.1",
    change_owner: bool | None = None,
) -> str:
    """An icecast.xml serving `zones`; `burst` bytes sent to a listener on connect (Icecast's default is
    65535: about 8 s of 64 kbit/s MP3 a receiver plays late; 0 keeps a new receiver on time)."""
    mount_xml = []
    for zone in zones:
        listen, programme = mounts(zone)
        mount_xml.append(
            f'<mount type="normal"><mount-name>{escape(listen)}</mount-name>'
            f"<fallback-mount>{escape(programme)}</fallback-mount><fallback-override>1</fallback-override>"
            # listeners moved onto khẩn cấp start from its beginning, not wherever the source had got to
            f"<burst-size>{EMERGENCY_BURST}</burst-size>"
            f"<stream-name>Khẩn cấp {escape(zone)}</stream-name></mount>"
            f'<mount type="normal"><mount-name>{escape(programme)}</mount-name>'
            f"<stream-name>{escape(zone)}</stream-name><burst-size>{burst}</burst-size></mount>"
        )
    owner = ""
    if os.geteuid() == 0 if change_owner is None else change_owner:
        # icecast refuses to run as root: it changes to nobody, who must write its logs
        owner = "<changeowner><user>nobody</user><group>nogroup</group></changeowner>"
    return f"""<icecast>
  <location>Loa</location><admin>loa@localhost</admin><hostname>{host}</hostname>
  <limits><clients>200</clients><sources>{2 * len(zones) + 4}</sources><queue-size>524288</queue-size>
    <client-timeout>30</client-timeout><header-timeout>15</header-timeout><source-timeout>5</source-timeout>
    <burst-on-connect>1</burst-on-connect><burst-size>{burst}</burst-size></limits>
  <authentication><source-password>{escape(source_password)}</source-password>
    <admin-user>admin</admin-user><admin-password>{escape(admin_password)}</admin-password></authentication>
  <listen-socket><port>{port}</port><bind-address>{host}</bind-address></listen-socket>
  {"".join(mount_xml)}
  <fileserve>1</fileserve>
  <paths><basedir>/usr/share/icecast2</basedir><logdir>{folder}</logdir><webroot>/usr/share/icecast2/web</webroot>
    <adminroot>/usr/share/icecast2/admin</adminroot><pidfile>{folder}/icecast.pid</pidfile></paths>
  <logging><accesslog>access.log</accesslog><errorlog>error.log</errorlog><loglevel>3</loglevel></logging>
  <security><chroot>0</chroot>{owner}</security>
</icecast>
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class IcecastServer:
    """Debian's icecast2 on loopback with a generated config: for the tests and the benchmark."""

    folder: Path
    zones: list[str]
    port: int = field(default_factory=free_port)
    source_password: str = "nguon-thu"
    admin_password: str = "quan-tri-thu"
    burst: int = 0
    proc: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        if os.geteuid() != 0:
            self.folder.mkdir(parents=True, exist_ok=True)
        else:
            # icecast runs as nobody, who cannot reach a folder under pytest's (root-only) tmp: its own
            self.folder = Path(tempfile.mkdtemp(prefix="loa-icecast-"))
            shutil.chown(self.folder, "nobody", "nogroup")
        conf = self.folder / "icecast.xml"
        conf.write_text(
            config_xml(self.port, self.zones, source_password=self.source_password,
                       admin_password=self.admin_password, folder=self.folder, burst=self.burst),
            encoding="utf-8",
        )  # fmt: skip
        self.proc = await asyncio.create_subprocess_exec(
            "icecast2", "-c", str(conf), stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
        )
        for _ in range(100):
            if await asyncio.to_thread(_answers, self.url):
                return
            if self.proc.returncode is not None:
                break
            await asyncio.sleep(0.05)
        err = (
            (self.folder / "error.log").read_text(errors="replace")[-500:]
            if (self.folder / "error.log").exists()
            else ""
        )
        raise RuntimeError(f"icecast2 did not start on port {self.port}: {err}")

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.terminate()
            await self.proc.wait()
        self.proc = None
        if os.geteuid() == 0 and self.folder.name.startswith("loa-icecast-"):
            shutil.rmtree(self.folder, ignore_errors=True)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/status-json.xsl", timeout=1):
            return True
    except (OSError, urllib.error.URLError):
        return False


@dataclass(frozen=True)
class Listener:
    mount: str
    ip: str
    agent: str
    seconds: int
    id: str


@dataclass(frozen=True)
class MountStats:
    mount: str
    listeners: int
    bytes_sent: int
    connected: bool


class IcecastStats:
    """The admin interface's statistics (/admin/stats, /admin/listclients), read over HTTP basic auth."""

    def __init__(self, url: str, admin_user: str, admin_password: str, timeout: float = 2.0) -> None:
        self.url = url.rstrip("/")
        token = base64.b64encode(f"{admin_user}:{admin_password}".encode()).decode()
        self.headers = {"Authorization": f"Basic {token}"}
        self.timeout = timeout

    def _get(self, path: str) -> ElementTree.Element:
        req = urllib.request.Request(self.url + path, headers=self.headers)
        with urllib.request.urlopen(req, timeout=self.timeout) as resp:
            return ElementTree.fromstring(resp.read(1_000_000))

    def _mounts(self) -> dict[str, MountStats]:
        root = self._get("/admin/stats")
        out = {}
        for source in root.findall("source"):
            mount = source.get("mount", "")
            out[mount] = MountStats(
                mount, int(source.findtext("listeners") or 0), int(source.findtext("total_bytes_sent") or 0),
                source.find("stream_start") is not None,
            )  # fmt: skip
        return out

    def _listeners(self, mount: str) -> list[Listener]:
        root = self._get(f"/admin/listclients?mount={urllib.parse.quote(mount)}")
        found = []
        for source in root.findall("source"):
            for li in source.findall("listener"):
                found.append(Listener(
                    source.get("mount", mount), li.findtext("IP") or "", (li.findtext("UserAgent") or "")[:200],
                    int(li.findtext("Connected") or 0), li.findtext("ID") or "",
                ))  # fmt: skip
        return found

    async def mounts(self) -> dict[str, MountStats]:
        return await asyncio.to_thread(self._mounts)

    async def listeners(self, mounts: list[str]) -> list[Listener]:
        def read() -> list[Listener]:
            out: list[Listener] = []
            for m in mounts:
                with contextlib.suppress(urllib.error.HTTPError):  # a mount without a source: nobody there
                    out.extend(self._listeners(m))
            return out

        return await asyncio.to_thread(read)


def main(argv: list[str] | None = None) -> None:
    """`python -m station.icecast --source-password … --admin-password … "Nà Phìn" "Khau Phạ"`: an
    icecast.xml for Debian's icecast2 (/etc/icecast2/icecast.xml) with the station's two mounts per hamlet."""
    import argparse

    p = argparse.ArgumentParser(description=main.__doc__)
    p.add_argument("hamlets", nargs="+")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--host", default="0.0.0.0")
    p.add_argument("--source-password", required=True)
    p.add_argument("--admin-password", required=True)
    p.add_argument("--logdir", default="/var/log/icecast2")
    args = p.parse_args(argv)
    print(
        config_xml(
            args.port,
            args.hamlets,
            source_password=args.source_password,
            admin_password=args.admin_password,
            folder=Path(args.logdir),
            host=args.host,
            change_owner=False,
        )
    )  # fmt: skip  (Debian's service runs it as icecast2 already)


if __name__ == "__main__":
    main()
