"""A tiny IMAP4rev1 server for tests: enough of RFC 3501 for a bounce-mailbox reader, and nothing more.

It answers CAPABILITY, LOGIN, SELECT, UID SEARCH (ALL / UNSEEN), UID FETCH (BODY[] / BODY.PEEK[]), UID
STORE (+FLAGS), NOOP, CLOSE and LOGOUT over plain TCP on loopback, in a thread, and keeps its mail in
memory. Real clients (the standard library's `imaplib`) talk to it unchanged.
"""

from __future__ import annotations

import asyncio
import re
import threading
from dataclasses import dataclass, field
from types import TracebackType


@dataclass(kw_only=True)
class StoredMail:
    uid: int
    raw: bytes
    flags: set[str] = field(default_factory=set)


class ImapServer:
    def __init__(self, *, user: str = "bounces", password: str = "secret", folder: str = "INBOX") -> None:  # noqa: S107 - a test server
        self.user, self.password, self.folder = user, password, folder
        self.mails: list[StoredMail] = []
        self.logins = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.base_events.Server | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    def add(self, raw: bytes) -> int:
        uid = (self.mails[-1].uid + 1) if self.mails else 1
        self.mails.append(StoredMail(uid=uid, raw=raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")))
        return uid

    def seen(self) -> list[int]:
        return [m.uid for m in self.mails if "\\Seen" in m.flags]

    # --- lifecycle ------------------------------------------------------------------------------------
    def start(self) -> tuple[str, int]:
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            self._server = loop.run_until_complete(asyncio.start_server(self._session, "127.0.0.1", 0))
            self.port = int(self._server.sockets[0].getsockname()[1])
            ready.set()
            loop.run_forever()
            self._server.close()
            loop.run_until_complete(self._server.wait_closed())
            loop.close()

        self._thread = threading.Thread(target=run, name="imap-test-server", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the IMAP test server did not start")
        return "127.0.0.1", self.port

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)

    def __enter__(self) -> ImapServer:
        self.start()
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    # --- the protocol ---------------------------------------------------------------------------------
    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        authed = selected = False

        def send(line: str | bytes) -> None:
            writer.write((line.encode() if isinstance(line, str) else line) + b"\r\n")

        send("* OK [CAPABILITY IMAP4rev1] epistola test IMAP ready")
        try:
            while line := await reader.readline():
                text = line.decode("utf-8", "replace").rstrip("\r\n")
                tag, _, rest = text.partition(" ")
                command, _, args = rest.partition(" ")
                command = command.upper()
                if command == "UID":
                    command, _, args = args.partition(" ")
                    command = "UID " + command.upper()
                if command == "CAPABILITY":
                    send("* CAPABILITY IMAP4rev1")
                    send(f"{tag} OK CAPABILITY completed")
                elif command == "NOOP":
                    send(f"{tag} OK NOOP completed")
                elif command == "LOGIN":
                    parts = [p.strip('"') for p in args.split(" ", 1)]
                    if parts == [self.user, self.password]:
                        authed = True
                        self.logins += 1
                        send(f"{tag} OK LOGIN completed")
                    else:
                        send(f"{tag} NO [AUTHENTICATIONFAILED] invalid credentials")
                elif command == "LOGOUT":
                    send("* BYE logging out")
                    send(f"{tag} OK LOGOUT completed")
                    break
                elif not authed:
                    send(f"{tag} NO not authenticated")
                elif command in ("SELECT", "EXAMINE"):
                    if args.strip('"') != self.folder:
                        send(f"{tag} NO no such mailbox")
                        continue
                    selected = True
                    send(f"* {len(self.mails)} EXISTS")
                    send("* 0 RECENT")
                    send("* OK [UIDVALIDITY 1] UIDs valid")
                    send("* FLAGS (\\Seen \\Deleted)")
                    send(f"{tag} OK [READ-WRITE] SELECT completed")
                elif not selected:
                    send(f"{tag} NO no mailbox selected")
                elif command == "CLOSE":
                    selected = False
                    send(f"{tag} OK CLOSE completed")
                elif command == "UID SEARCH":
                    unseen = "UNSEEN" in args.upper()
                    found = [str(m.uid) for m in self.mails if not unseen or "\\Seen" not in m.flags]
                    send("* SEARCH" + "".join(f" {u}" for u in found))
                    send(f"{tag} OK SEARCH completed")
                elif command == "UID FETCH":
                    wanted, _, items = args.partition(" ")
                    peek = "PEEK" in items.upper()
                    for seq, mail in enumerate(self.mails, start=1):
                        if mail.uid in self._uids(wanted):
                            if not peek:
                                mail.flags.add("\\Seen")
                            send(
                                f"* {seq} FETCH (UID {mail.uid} BODY[] {{{len(mail.raw)}}}".encode()
                                + b"\r\n"
                                + mail.raw
                                + b")"
                            )
                    send(f"{tag} OK FETCH completed")
                elif command == "UID STORE":
                    wanted, _, change = args.partition(" ")
                    flags = set(re.findall(r"\\\w+", change))
                    for seq, mail in enumerate(self.mails, start=1):
                        if mail.uid in self._uids(wanted):
                            if change.upper().startswith("-FLAGS"):
                                mail.flags -= flags
                            else:
                                mail.flags |= flags
                            send(f"* {seq} FETCH (UID {mail.uid} FLAGS ({' '.join(sorted(mail.flags))}))")
                    send(f"{tag} OK STORE completed")
                else:
                    send(f"{tag} BAD unknown command")
                await writer.drain()
        finally:
            writer.close()

    def _uids(self, spec: str) -> set[int]:
        out: set[int] = set()
        last = self.mails[-1].uid if self.mails else 0
        for part in spec.split(","):
            if ":" in part:
                low, high = part.split(":", 1)
                out.update(range(int(low), (last if high == "*" else int(high)) + 1))
            elif part.isdigit():
                out.add(int(part))
        return out
