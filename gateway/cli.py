"""The `loa` command: run the gateway, run a standalone emulated modem, make tokens, check config."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import logging
import os
import secrets
import shutil
import signal
import sys
from pathlib import Path
from typing import Any

from aiohttp import web

from gateway import config as config_mod
from gateway import service
from gateway.app import create_app, open_store
from gateway.core import commune, phone
from gateway.core.errors import ConfigError, InvalidRequest, LoaError
from gateway.core.keys import STORE
from gateway.sms.keys import OUTBOX
from gateway.testing.emulator import FAMILIES, EmulatedModem, SentMessage

log = logging.getLogger("loa")


def _logging(verbose: bool) -> None:
    # under systemd the journal stamps every line itself: no second time stamp
    stamp = "" if os.environ.get("JOURNAL_STREAM") else "%(asctime)s "
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format=f"{stamp}%(levelname)s %(name)s: %(message)s",
    )


async def _demo_modems(cfg: config_mod.Config) -> tuple[config_mod.Config, list[EmulatedModem]]:
    """Every modem configured as the built-in emulator, started on a pty: the config names its port."""
    started: dict[int, EmulatedModem] = {}
    modems = [cfg.modem, *cfg.modems]
    for i, m in enumerate(modems):
        if m.emulated:
            started[i] = EmulatedModem(m.emulator_family, submit_delay=0.2, auto_report=True)
            await started[i].start()
            log.warning("no modem configured: using the built-in EMULATED modem at %s", started[i].path)
    ported = [dataclasses.replace(m, port=started[i].path) if i in started else m for i, m in enumerate(modems)]
    return dataclasses.replace(cfg, modem=ported[0], modems=tuple(ported[1:])), list(started.values())


async def _serve(cfg: config_mod.Config) -> None:
    cfg, emulators = await _demo_modems(cfg)
    try:
        await _serve_with(cfg, emulators)
    finally:
        for emulator in emulators:
            await emulator.close()


async def _serve_with(cfg: config_mod.Config, emulators: list[EmulatedModem]) -> None:
    app = create_app(cfg, emulated={e.path for e in emulators})
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, cfg.http.host, cfg.http.port)
    await site.start()
    for address in runner.addresses:
        host, port = address[0], address[1]
        print(f"Loa serving on http://{host}:{port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    service.notify("READY=1")
    interval = service.watchdog_interval()
    pinger = None
    if interval is not None:
        pinger = asyncio.create_task(
            service.watchdog(app[STORE], [c.transport for c in app[OUTBOX].channels], interval), name="watchdog"
        )
    await stop.wait()
    service.notify("STOPPING=1")
    if pinger is not None:
        pinger.cancel()
        await asyncio.wait({pinger})
    log.info("stopping: finishing the exchange with the modem, closing the database")
    await runner.cleanup()
    log.info("Loa stopped")


def cmd_run(args: argparse.Namespace) -> int:
    cfg = config_mod.load(args.config)
    log.info("config: %s", cfg.source)
    asyncio.run(_serve(cfg))
    return 0


def cmd_check_config(args: argparse.Namespace) -> int:
    cfg = config_mod.load(args.config)
    print(f"Cấu hình đúng (config OK): {cfg.source}")
    return 0


def cmd_say(args: argparse.Namespace) -> int:
    from audio.render import Renderer

    cfg = config_mod.load(args.config)
    renderer = Renderer(cfg.audio)

    async def render() -> None:
        recipe = renderer.recipe(text=args.text, repeat=args.repeat)
        rendered = await renderer.render(recipe)
        shutil.copy(rendered.wav, args.output)
        print(f"spoken: {rendered.spoken}")
        print(f"{args.output}: {rendered.seconds:.1f} s{' (from the cache)' if rendered.cached else ''}")

    try:
        asyncio.run(render())
    finally:
        renderer.close()
    return 0


def cmd_user_add(args: argparse.Namespace) -> int:
    import getpass
    import json
    import time

    from gateway.core.principal import User
    from gateway.web import accounts

    cfg = config_mod.load(args.config)
    if args.role == "hamlet_head" and not args.hamlet:
        print(
            "loa: trưởng thôn cần --hamlet TÊN, một thôn trong [commune] hamlets (--hamlet is needed)", file=sys.stderr
        )
        return 2
    password = (
        sys.stdin.readline().rstrip("\n")
        if args.password_stdin
        else getpass.getpass("Mật khẩu, ít nhất 8 ký tự (password): ")
    )

    async def add() -> User:
        store = open_store(cfg, shared=True)  # beside a running Loa: the first account is made while it waits
        await store.open()
        try:
            if args.role == "hamlet_head":
                # the config's hamlets, as Loa adds them at start: a first account before the first start
                await store.call(commune.seed_hamlets, cfg.commune.hamlets)
                known = [h.name for h in await store.call(commune.hamlets)]
                try:
                    await store.call(commune.hamlet_id, args.hamlet)
                except InvalidRequest:
                    raise UnknownHamlet(args.hamlet, known, cfg.source) from None
            made = await store.call(
                accounts.add_user, args.username, password, args.role, args.hamlet, time.time(), args.number
            )
            who = f"dòng lệnh ({getpass.getuser()})"
            detail = json.dumps({"username": made.username, "role": made.role}, ensure_ascii=False)
            await store.call(accounts.audit, who, "thêm tài khoản", detail, time.time())
            return made
        finally:
            await store.close()

    try:
        user = asyncio.run(add())
    except UnknownHamlet as e:
        print(f"loa: {e}", file=sys.stderr)
        return 2
    print(f"Đã thêm tài khoản {user.username} ({user.role}) vào {cfg.database.path} (user added)")
    return 0


class UnknownHamlet(Exception):
    """A hamlet head's hamlet that the commune does not have: said with how to add it."""

    def __init__(self, name: str, known: list[str], source: str) -> None:
        where = "config.toml" if source == "built-in defaults" else source
        listed = ", ".join(known) if known else "chưa có thôn nào"
        super().__init__(
            f"xã không có thôn {name!r} (các thôn: {listed}). Thêm thôn vào [commune] hamlets trong {where} "
            "rồi khởi động lại Loa (thôn được thêm lúc khởi động), hoặc ở trang Thôn của bảng điều khiển; "
            "rồi chạy lại lệnh này (unknown hamlet: add it to [commune] hamlets or on the Thôn page)."
        )


def cmd_backup(args: argparse.Namespace) -> int:
    """A checked copy of the database now (Loa may be running), into the daily rotation."""
    import datetime
    from pathlib import Path

    from gateway.core import backup

    cfg = config_mod.load(args.config)
    folder = args.to or cfg.backup.path
    if not folder:
        print("no folder: give --to DIR or set [backup] path", file=sys.stderr)
        return 2
    source = Path(cfg.database.path)
    if not source.exists():
        print(f"no database at {source}", file=sys.stderr)
        return 2
    made = backup.daily(source, Path(folder), datetime.date.today(), cfg.backup)
    print(f"{source} → {made} (integrity ok)")
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    """Put a backup in the database's place; refused while Loa runs; says what differs, carries the
    SMS facts of the replaced database across, asks before anything is dropped; the replaced file is kept."""
    import fcntl
    import time
    from pathlib import Path

    from gateway.core import backup

    cfg = config_mod.load(args.config)
    target = Path(cfg.database.path)
    source = Path(args.file)
    problem = backup.refuse(source, target)
    if problem:
        print(f"Không khôi phục: {problem}", file=sys.stderr)
        return 2
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with open(f"{target}.lock", "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"Loa is running on {target}: stop it first (systemctl stop loa)", file=sys.stderr)
            return 1
        work = target.with_name(target.name + ".restoring")
        try:
            if not _merge_restore(source, target, work, args):
                return 1
            kept = backup.restore(work, target, time.strftime("%Y%m%d-%H%M%S"))
        finally:
            work.unlink(missing_ok=True)
    print(f"{args.file} → {target}" + (f"; the replaced database is kept as {kept}" if kept else ""))
    return 0


def _ask(question: str, default: bool, given: bool | None) -> bool:
    """A yes/no from the person at the terminal; `given` (a flag) answers instead; no terminal: no."""
    if given is not None:
        return given
    if not sys.stdin.isatty():
        return False
    answer = input(f"{question} [{'Y/n' if default else 'y/N'}] ").strip().lower()
    return default if not answer else answer in ("y", "yes", "c", "có", "co")


def _merge_restore(source: Path, target: Path, work: Path, args: argparse.Namespace) -> bool:
    """The backup copied to `work`, what differs from the live database said, its SMS facts carried
    across and, if the person says so, today's accounts. False: the person said no (nothing changed)."""
    import sqlite3

    from gateway.sms import restore as sms_restore
    from gateway.web import restore as web_restore

    shutil.copyfile(source, work)
    if not target.exists():
        return True
    with contextlib.closing(sqlite3.connect(work)) as db:
        db.execute("attach database ? as replaced", [str(target)])
        since = sms_restore.since(db)
        print(f"So với cơ sở dữ liệu đang có (compared with the database it replaces, {target}):")
        for line in since.lines():
            print(line)
        dropped = _dropped(db, set(sms_restore.FACTS) | set(web_restore.ACCOUNTS))
        accounts = web_restore.differences(db)
        for line in accounts:
            print(line)
        if dropped:
            print("Sẽ mất những thay đổi sau bản sao (changes since the backup that the restore drops):")
            for table, n in dropped:
                print(f"  {table}: {n} dòng (rows)")
            if not _ask("Bỏ những thay đổi này? (drop them?)", False, True if args.yes else None):
                print("Không khôi phục: không có gì thay đổi (nothing changed; --yes to drop them)", file=sys.stderr)
                return False
        keep = args.accounts == "today" if args.accounts else None
        if accounts and _ask("Giữ tài khoản, mã API và phiên của hôm nay? (keep today's accounts?)", True,
                             keep if keep is not None else (True if args.yes else None)):  # fmt: skip
            web_restore.keep_today(db)
            print("  giữ tài khoản hôm nay (today's accounts, tokens and sessions kept)")
        elif accounts and keep is None and not args.yes and not sys.stdin.isatty():
            print("Không khôi phục: tài khoản khác nhau (accounts differ: --accounts today|backup)", file=sys.stderr)
            return False
        carried = sms_restore.carry(db)
        db.commit()
        db.execute("detach database replaced")
        print(f"  mang sang từ cơ sở dữ liệu cũ (carried across): {', '.join(carried)}")
    return True


def _dropped(db: Any, carried: set[str]) -> list[tuple[str, int]]:
    """Tables whose rows in the replaced database the backup lacks (changes since the backup)."""
    import sqlite3

    found = []
    names = [r[0] for r in db.execute("select name from replaced.sqlite_master where type='table'")]
    for table in names:
        if table in carried or table.startswith(("sqlite_", "_")):
            continue
        try:
            ours = {r[1] for r in db.execute(f'pragma main.table_info("{table}")')}
            cols = ", ".join(f'"{r[1]}"' for r in db.execute(f'pragma replaced.table_info("{table}")') if r[1] in ours)
            if not cols:
                continue
            n = int(db.execute(f'select count(*) from (select {cols} from replaced."{table}"'
                               f' except select {cols} from main."{table}")').fetchone()[0])  # fmt: skip
        except sqlite3.Error:
            continue
        if n:
            found.append((table, n))
    return found


def cmd_doctor(args: argparse.Namespace) -> int:
    """Every check the person keeping the Pi would make; exit 1 when any fails."""
    from gateway import doctor

    cfg = config_mod.load(args.config)
    checks = asyncio.run(doctor.run(cfg, toggle_relay=args.relay))
    for check in checks:
        print(check.line())
    failed = sum(c.status == "FAIL" for c in checks)
    warned = sum(c.status == "WARN" for c in checks)
    print(f"\n{failed} lỗi, {warned} cảnh báo ({failed} failed, {warned} warnings)")
    return 1 if failed else 0


def cmd_modems(args: argparse.Namespace) -> int:
    """List the serial ports a modem may be on, ask each, and print the config line to use."""
    import glob

    from gateway.sms.at import at_port, pick, probe
    from gateway.sms.hilink import find_hilink

    ports = args.ports or [
        *sorted(glob.glob("/dev/serial/by-id/*")),
        *sorted(glob.glob("/dev/ttyUSB*")),
        *sorted(glob.glob("/dev/ttyACM*")),
    ]
    # a HiLink dongle has no serial port at all: its web API at 192.168.8.1 answers instead
    dongle = asyncio.run(find_hilink(args.hilink, 2.0))
    if dongle is not None:
        print(f"OK {dongle['url']}: HiLink {dongle['model']} (không có cổng AT: Loa dùng giao diện web của nó)")
        print(f'\nDùng trong config.toml:\n[modem]\nkind = "hilink"\nurl = "{dongle["url"]}"')
    if not ports:
        if dongle is not None:
            return 0
        print("Không thấy cổng nào (no serial ports). Cắm modem; nếu nó hiện ra như ổ CD-ROM, cài usb-modeswitch.")
        return 1

    async def ask() -> str | None:
        answered: list[tuple[str, dict[str, str | None]]] = []
        for port in ports:
            try:
                async with asyncio.timeout(20):
                    found = await probe(port)
            except (OSError, LoaError, TimeoutError) as e:
                print(f"  {port}: không mở được hoặc không trả lời AT ({getattr(e, 'message', e) or type(e).__name__})")
                continue
            print(f"OK {port}: {(found['manufacturer'] or '?').strip()} {(found['model'] or '?').strip()}, "
                  f"SIM {found['sim']}, {(found.get('generation') or '?').upper()}")  # fmt: skip
            if found.get("coverage"):
                print(f"   {found['coverage']}")
            known = at_port(found["manufacturer"], found["model"])
            if known and (found["model"] or "") not in {(f["model"] or "") for _, f in answered}:
                print(f"   cổng AT của {(found['model'] or '').strip()} là {known[1]} (USB interface {known[0]}), "
                      "không nhất thiết là cổng đầu tiên (the AT port)")  # fmt: skip
            answered.append((port, found))
        return pick(answered)

    first = asyncio.run(ask())
    if first is None:
        print("Không cổng nào trả lời AT (no port answers AT). Thử cổng khác của cùng modem, hoặc cài usb-modeswitch.")
        return 1
    print(f'\nDùng trong config.toml (in config.toml):\n[modem]\nport = "{first}"')
    return 0


def cmd_token(args: argparse.Namespace) -> int:
    print(secrets.token_urlsafe(24))
    return 0


EMULATOR_HELP = """Type as a phone:
  sms <number> <text>     the number sends <text> to the gateway
  report <ref> [status]   delivery report for a sent part (status 0 = delivered)
  sent                    list what the gateway sent
  vanish | back           pull the modem out / plug it back in
  silent on|off           the modem stops / starts answering
  fail <number> <code>    +CMS ERROR <code> for every SMS to <number>
  ring <number>           <number> calls (a missed call, "gọi nháy"): RING until the gateway hangs up
  quit"""


async def _emulate(args: argparse.Namespace) -> None:
    emulator = EmulatedModem(
        args.family,
        submit_delay=args.submit_delay,
        command_delay=args.command_delay,
        auto_report=args.auto_report,
        link_dir=args.link_dir,
    )
    await emulator.start()

    def show(message: SentMessage) -> None:
        print(f"← to {message.number} ({len(message.references)} part(s)): {message.text}", flush=True)

    emulator.on_sent = show
    print(f"Emulated {emulator.family.model} modem at: {emulator.path}", flush=True)
    print(EMULATOR_HELP, flush=True)
    loop = asyncio.get_running_loop()
    try:
        while True:
            line = await loop.run_in_executor(None, sys.stdin.readline)
            if not line:
                if args.stdin_eof_quits:
                    break
                await asyncio.Event().wait()
            words = line.strip().split(" ", 2)
            try:
                if words[0] == "sms" and len(words) == 3:
                    # the network shows the sender in international form
                    emulator.deliver(phone.normalise(words[1]), words[2])
                    print(f"→ from {phone.normalise(words[1])}: {words[2]}", flush=True)
                elif words[0] == "report" and len(words) >= 2:
                    emulator.report(int(words[1]), status=int(words[2]) if len(words) > 2 else 0)
                elif words[0] == "ring" and len(words) == 2:
                    emulator.ring(phone.normalise(words[1]))
                    print(f"☎ {phone.normalise(words[1])} gọi tới", flush=True)
                elif words[0] == "sent":
                    for m in emulator.messages():
                        print(f"  {m.number} refs {m.references}: {m.text}")
                elif words[0] == "vanish":
                    await emulator.vanish()
                elif words[0] == "back":
                    await emulator.come_back()
                elif words[0] == "silent" and len(words) == 2:
                    emulator.faults.silent = words[1] == "on"
                elif words[0] == "fail" and len(words) == 3:
                    emulator.faults.fail_numbers[words[1]] = int(words[2])
                elif words[0] == "quit":
                    break
                elif words[0]:
                    print(EMULATOR_HELP)
            except (ValueError, StopIteration, LoaError) as e:
                print(f"? {e}")
    finally:
        await emulator.close()


def cmd_emulator(args: argparse.Namespace) -> int:
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_emulate(args))
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="loa", description="Loa: SMS and loudspeaker gateway for a commune")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging (every AT line)")
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="serve the gateway (emulated modem when none is configured)")
    run.add_argument("--config", help="config file (default: $LOA_CONFIG, else ./config.toml)")
    run.set_defaults(fn=cmd_run)
    check = sub.add_parser("check-config", help="load the config and report the first error")
    check.add_argument("--config")
    check.set_defaults(fn=cmd_check_config)
    say = sub.add_parser("say", help="render an announcement to a WAV file (chime, speech × repeat, chime)")
    say.add_argument("text")
    say.add_argument("-o", "--output", required=True, help="the WAV file to write")
    say.add_argument("--repeat", type=int, default=None, help="readings (default: [audio] repeat)")
    say.add_argument("--config")
    say.set_defaults(fn=cmd_say)
    user = sub.add_parser("user", help="accounts of the console").add_subparsers(dest="user_command", required=True)
    add = user.add_parser(
        "add",
        help="create an account (the first admin, for instance)",
        description="Create an account of the console. Roles: admin (quản trị: everything, accounts and the "
        "audit log included), official (cán bộ xã: messages, loudspeakers, alerts, residents' questions, "
        "the knowledge base), hamlet_head (trưởng thôn: sends to and sees only their own hamlet, and "
        "confirms alerts). A hamlet head needs --hamlet, written as in [commune] hamlets (with or without "
        "diacritics). Without --role the account is an admin (the first account must be one); give --role "
        "for every other. Example: loa user add lomai --role hamlet_head --hamlet 'Nà Phìn' --number 0912345678",
    )
    add.add_argument("username", help="letters, digits, dots and underscores; unique whatever the case")
    add.add_argument(
        "--role",
        choices=["admin", "official", "hamlet_head"],
        default="admin",
        help="the account's role (default: admin)",
    )
    add.add_argument("--hamlet", help="the hamlet of a hamlet head")
    add.add_argument("--number", help="the person's own phone: a hamlet head's confirms alerts from the console")
    add.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    add.add_argument("--config")
    add.set_defaults(fn=cmd_user_add)
    doc = sub.add_parser("doctor", help="check config, database, disk, backups, clock, modem, sound, relay")
    doc.add_argument("--relay", action="store_true", help="also switch the amplifier relay on for a second")
    doc.add_argument("--config")
    doc.set_defaults(fn=cmd_doctor)
    back = sub.add_parser("backup", help="copy the database now (while Loa runs), checked, into the rotation")
    back.add_argument("--to", help="the folder (default: [backup] path)")
    back.add_argument("--config")
    back.set_defaults(fn=cmd_backup)
    rest = sub.add_parser("restore", help="put a backup in the database's place (Loa stopped)")
    rest.add_argument("file", help="a backup, e.g. /media/loa-backup/loa-2026-11-27.sqlite3")
    rest.add_argument("--yes", action="store_true", help="drop the changes since the backup without asking")
    rest.add_argument(
        "--accounts",
        choices=["today", "backup"],
        help="keep today's accounts, tokens and sessions, or the backup's (default: ask; --yes: today)",
    )
    rest.add_argument("--config")
    rest.set_defaults(fn=cmd_restore)
    mod = sub.add_parser("modems", help="find the port a modem answers AT on, and print the config line")
    mod.add_argument("ports", nargs="*", help="ports to probe (default: /dev/serial/by-id/*, ttyUSB*, ttyACM*)")
    mod.add_argument("--hilink", default="http://192.168.8.1/", help="where a HiLink dongle's web API would answer")
    mod.set_defaults(fn=cmd_modems)
    tok = sub.add_parser("token", help="print a new random API token for [api] tokens")
    tok.set_defaults(fn=cmd_token)
    emu = sub.add_parser("emulator", help="run an emulated modem on a pty and play the phone")
    emu.add_argument("--family", choices=sorted(FAMILIES), default="ec25", help="which modem to behave as")
    emu.add_argument("--submit-delay", type=float, default=0.2, help="seconds per AT+CMGS")
    emu.add_argument("--command-delay", type=float, default=0.0, help="seconds per command")
    emu.add_argument("--auto-report", action="store_true", help="report every part delivered")
    emu.add_argument("--link-dir", help="folder for the stable symlink to the pty")
    emu.add_argument("--stdin-eof-quits", action="store_true", help=argparse.SUPPRESS)
    emu.set_defaults(fn=cmd_emulator)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    _logging(args.verbose)
    try:
        return int(args.fn(args))
    except ConfigError as e:
        print(f"loa: {e.message}", file=sys.stderr)
        return 2
    except LoaError as e:
        print(f"loa: {e.message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
