"""Jasmin 0.11.0 with its own redis-server and rabbitmq-server on loopback, for tests: an SMS gateway
nobody here wrote between Loa and the test SMSC (Loa → Jasmin's SMPP server → Jasmin's SMPP client
connector → the npm SMSC)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import textwrap
from pathlib import Path

RABBITMQ = Path("/usr/lib/rabbitmq/bin/rabbitmq-server")
# Jasmin lives in a venv of its own (Twisted and its pins stay out of Loa's): `make test` makes it
JASMIN_VENV = Path(__file__).resolve().parents[2] / ".venv-jasmin"
JASMIND = JASMIN_VENV / "bin" / "jasmind.py"


def jasmin_missing() -> str | None:
    """Why the Jasmin stack cannot start here, or None."""
    if shutil.which("redis-server") is None:
        return "Jasmin needs Debian's redis-server (make test installs it)"
    if not RABBITMQ.exists():
        return "Jasmin needs Debian's rabbitmq-server (make test installs it)"
    if not JASMIND.exists():
        return "Jasmin 0.11.0 is not installed in .venv-jasmin (make test installs it)"
    return None


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


async def _listening(port: int, timeout: float, proc: asyncio.subprocess.Process, what: str) -> None:
    async with asyncio.timeout(timeout):
        while True:
            if proc.returncode is not None:
                raise RuntimeError(f"{what} exited with {proc.returncode}")
            with contextlib.suppress(OSError):
                _, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.close()
                await writer.wait_closed()
                return
            await asyncio.sleep(0.1)


class Jasmin:
    """The running stack. `smpp_port` is where Loa binds (system_id "loa", password "loapw")."""

    def __init__(self, folder: Path, downstream_port: int) -> None:
        self.folder, self.downstream_port = folder, downstream_port
        self.procs: list[asyncio.subprocess.Process] = []
        self._log: int | None = None  # the file descriptor of stack.log, every process's output
        redis, amqp, dist, epmd, smpp, jcli, router, cm, pb = _free_ports(9)
        self.ports = {"redis": redis, "amqp": amqp, "dist": dist, "epmd": epmd, "smpp": smpp, "jcli": jcli,
                      "router": router, "cm": cm, "pb": pb}  # fmt: skip
        self.smpp_port = smpp

    async def start(self) -> None:
        f, p = self.folder, self.ports
        for sub in ("redis", "rabbit/mnesia", "rabbit/log", "jasmin/store", "jasmin/log"):
            (f / sub).mkdir(parents=True, exist_ok=True)
        out = self._log = os.open(f / "stack.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        redis = await asyncio.create_subprocess_exec(
            "redis-server", "--port", str(p["redis"]), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--dir", str(f / "redis"), stdout=out, stderr=out,
        )  # fmt: skip
        self.procs.append(redis)
        (f / "rabbit" / "enabled_plugins").write_text("[].\n")
        env = {
            **os.environ, "HOME": str(f / "rabbit"), "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(p["amqp"]), "RABBITMQ_DIST_PORT": str(p["dist"]),
            "ERL_EPMD_ADDRESS": "127.0.0.1", "ERL_EPMD_PORT": str(p["epmd"]), "RABBITMQ_NODENAME": "rabbit@localhost",
            "RABBITMQ_MNESIA_BASE": str(f / "rabbit" / "mnesia"), "RABBITMQ_LOG_BASE": str(f / "rabbit" / "log"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(f / "rabbit" / "enabled_plugins"),
            "RABBITMQ_CONFIG_FILE": str(f / "rabbit" / "none"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(f / "rabbit" / "none"),
        }  # fmt: skip
        rabbit = await asyncio.create_subprocess_exec(str(RABBITMQ), env=env, stdout=out, stderr=out)
        self.procs.append(rabbit)
        spec = next((JASMIN_VENV / "lib").glob("python3*/site-packages/txamqp/specs/standard/amqp0-9-1.stripped.xml"))
        config = f / "jasmin.cfg"
        config.write_text(textwrap.dedent(f"""\
            [smpp-server]
            bind = 127.0.0.1
            port = {p["smpp"]}
            [smpp-server-pb]
            bind = 127.0.0.1
            port = {p["pb"]}
            [client-management]
            bind = 127.0.0.1
            port = {p["cm"]}
            store_path = {f}/jasmin/store
            [router]
            bind = 127.0.0.1
            port = {p["router"]}
            store_path = {f}/jasmin/store
            [jcli]
            bind = 127.0.0.1
            port = {p["jcli"]}
            authentication = False
            [redis-client]
            host = 127.0.0.1
            port = {p["redis"]}
            [amqp-broker]
            host = 127.0.0.1
            port = {p["amqp"]}
            spec = {spec}
            [dlr]
            dlr_lookup_retry_delay = 1
            """))  # fmt: skip
        await _listening(p["redis"], 10, redis, "redis-server")
        await _listening(p["amqp"], 60, rabbit, "rabbitmq-server")
        jenv = {**os.environ, "ROOT_PATH": str(f / "jasmin"), "LOG_PATH": str(f / "jasmin" / "log")}
        jasmind = await asyncio.create_subprocess_exec(
            str(JASMIN_VENV / "bin" / "python"), str(JASMIND), "-c", str(config),
            # receipts to an SMPP client need both (the lookup and the thrower), in one process here
            "--enable-dlr-lookup", "--enable-dlr-thrower", "--disable-http-api", env=jenv, stdout=out, stderr=out,
        )  # fmt: skip
        self.procs.append(jasmind)
        await _listening(p["jcli"], 30, jasmind, "jasmind")
        await self._provision()
        await _listening(p["smpp"], 10, jasmind, "jasmind's SMPP server")

    async def _provision(self) -> None:
        """Through jCli: a user for Loa, a connector to the SMSC (no throughput cap), default routes."""
        commands = [
            "group -a", "gid loagroup", "ok",
            "user -a", "uid loa1", "username loa", "password loapw", "gid loagroup", "ok",
            "smppccm -a", "cid smsc1", "host 127.0.0.1", f"port {self.downstream_port}", "username jas",
            "password jaspw", "submit_throughput 0", "ok",
            "smppccm -1 smsc1",
            "mtrouter -a", "type DefaultRoute", "connector smppc(smsc1)", "rate 0.00", "ok",
            "morouter -a", "type DefaultRoute", "connector smpps(loa)", "ok",
        ]  # fmt: skip
        reader, writer = await asyncio.open_connection("127.0.0.1", self.ports["jcli"])
        answers = []
        try:
            async with asyncio.timeout(30):
                writer.write(b"\r\n")  # its first prompt comes after a first line
                await reader.readuntil(b"jcli : ")
                for command in commands:
                    writer.write(command.encode() + b"\r\n")
                    await writer.drain()
                    answers.append(await _prompt(reader))
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
        said = "".join(answers)
        for expected in (
            "Successfully added Group", "Successfully added User", "Successfully added connector",
            "Successfully started connector", "Successfully added MTRoute", "Successfully added MORoute",
        ):  # fmt: skip
            if expected not in said:
                raise RuntimeError(f"jCli did not say {expected!r}: {said[-2000:]}")

    async def close(self) -> None:
        for proc in reversed(self.procs):
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.terminate()
        for proc in reversed(self.procs):
            try:
                async with asyncio.timeout(15):
                    await proc.wait()
            except TimeoutError:
                proc.kill()
                await proc.wait()
        # rabbitmq's Erlang VM leaves its epmd (on our port) behind
        with contextlib.suppress(OSError):
            epmd = await asyncio.create_subprocess_exec(
                "epmd", "-port", str(self.ports["epmd"]), "-kill", stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
            )  # fmt: skip
            await epmd.wait()
        if self._log is not None:
            os.close(self._log)
            self._log = None


async def _prompt(reader: asyncio.StreamReader) -> str:
    """Read until jCli's next prompt: "jcli : " or the interactive "> "."""
    got = b""
    while not (got.endswith(b"jcli : ") or got.endswith(b"> ")):
        chunk = await reader.read(1024)
        if not chunk:
            break
        got += chunk
    return got.decode(errors="replace")
