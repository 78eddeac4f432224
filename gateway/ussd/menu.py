"""The USSD menu tree, replayed from the `*`-joined inputs: pure, so a session resumes anywhere."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.core.text import fold
from gateway.sms.encoding import is_gsm7, septets

SCREEN = 182  # GSM-7 characters one USSD screen holds
NEXT, BACK = "0", "9"
FOOT_MORE = "\n0 Tiep  9 Quay lai"
FOOT_LAST = "\n9 Quay lai"
WRONG = "Chon sai. "


@dataclass(frozen=True)
class Item:
    key: str
    title: str
    body: str


@dataclass(frozen=True)
class Screen:
    text: str
    end: bool

    def render(self) -> str:
        return ("END " if self.end else "CON ") + self.text


def _clean(text: str) -> str:
    text = fold(text)
    return "".join(c if is_gsm7(c) else "?" for c in text)


def _pages(lines: list[str], head: str) -> list[list[str]]:
    """Numbered lines per page, as many as fit with header and footer; at most 8 (9 and 0 are taken)."""
    pages: list[list[str]] = []
    current: list[str] = []
    for line in lines:
        candidate = [*current, line]
        body = WRONG + head + "\n" + "\n".join(f"{i} {x}" for i, x in enumerate(candidate, 1)) + FOOT_MORE
        if current and (len(candidate) > 8 or septets(body) > SCREEN):
            pages.append(current)
            current = [line]
        else:
            current = candidate
    pages.append(current)
    return pages


def _chunks(text: str) -> list[str]:
    room = SCREEN - len(FOOT_MORE)
    words, chunks, current = text.split(" "), [], ""
    for word in words:
        if current and septets(current + " " + word) > room:
            chunks.append(current)
            current = word
        else:
            current = f"{current} {word}".strip()
    chunks.append(current)
    return chunks


class Menu:
    def __init__(self, commune: str, procedures: list[Item], hamlets: list[str], sms_number: str = "") -> None:
        self.commune = _clean(commune)
        self.procedures = [Item(p.key, _clean(p.title), _clean(p.body)) for p in procedures]
        self.hamlets = [_clean(h) for h in hamlets]
        self.to = f"so {_clean(sms_number)}" if sms_number else "so nhan tin cua xa"

    def main(self, note: str = "") -> Screen:
        text = f"{note}{self.commune} tra loi:\n1 Thu tuc hanh chinh\n2 Nhan tin cua thon\n3 Ngung nhan tin"
        return Screen(text, end=False)

    def walk(self, inputs: list[str]) -> Screen:
        # the state is a stack of (screen kind, page, argument); every input moves it, from the start
        stack: list[tuple[str, int, str]] = [("main", 0, "")]
        note = ""
        for raw in inputs:
            choice = raw.strip()
            kind, page, arg = stack[-1]
            note = ""
            if choice == BACK and len(stack) > 1:
                if page > 0:
                    stack[-1] = (kind, page - 1, arg)
                else:
                    stack.pop()
                continue
            if choice == NEXT and kind != "main" and page + 1 < self._page_count(kind, arg):
                stack[-1] = (kind, page + 1, arg)
                continue
            if kind == "main" and choice == "1":
                stack.append(("procs", 0, ""))
            elif kind == "main" and choice == "2":
                if not self.hamlets:
                    return Screen("Xa chua nhap danh sach thon.", end=True)
                stack.append(("hamlets", 0, ""))
            elif kind == "main" and choice == "3":
                # the aggregator's phoneNumber is not proof: only the number's own SMS changes what it gets
                return Screen(f"De ngung nhan tin cua xa, nhan tin HUY gui {self.to}.", end=True)
            elif kind in ("procs", "hamlets") and choice.isdigit() and choice not in (NEXT, BACK):
                lines = self._lines(kind)
                pages = _pages(lines, self._head(kind))
                offset = sum(len(p) for p in pages[:page])
                index = offset + int(choice) - 1
                if not 0 <= index - offset < len(pages[page]):
                    note = WRONG
                    continue
                if kind == "procs":
                    stack.append(("answer", 0, self.procedures[index].key))
                else:
                    hamlet = self.hamlets[index]
                    return Screen(f"De nhan tin thon {hamlet}, nhan tin: DK {hamlet} gui {self.to}.", end=True)
            else:
                note = WRONG
        return self._render(stack[-1], note)

    def _head(self, kind: str) -> str:
        return "Chon thu tuc:" if kind == "procs" else "Chon thon:"

    def _lines(self, kind: str) -> list[str]:
        return [p.title for p in self.procedures] if kind == "procs" else self.hamlets

    def _page_count(self, kind: str, arg: str) -> int:
        if kind == "answer":
            return len(_chunks(self._item(arg).body))
        return len(_pages(self._lines(kind), self._head(kind)))

    def _item(self, key: str) -> Item:
        return next(p for p in self.procedures if p.key == key)

    def _render(self, state: tuple[str, int, str], note: str) -> Screen:
        kind, page, arg = state
        if kind == "main":
            return self.main(note)
        if kind == "answer":
            chunks = _chunks(self._item(arg).body)
            foot = FOOT_MORE if page + 1 < len(chunks) else FOOT_LAST
            return Screen(chunks[page] + foot, end=False)
        pages = _pages(self._lines(kind), self._head(kind))
        lines = "\n".join(f"{i} {x}" for i, x in enumerate(pages[page], 1))
        foot = FOOT_MORE if page + 1 < len(pages) else FOOT_LAST
        return Screen(f"{note}{self._head(kind)}\n{lines}{foot}", end=False)
