"""One priority scale for SMS and loudspeakers alike: a smaller value goes first."""

from __future__ import annotations

from enum import IntEnum


class Priority(IntEnum):
    URGENT = 0  # an alert SMS; khẩn cấp on the loudspeakers: interrupts what plays
    HIGH = 1  # a reply to a resident; ưu tiên
    NORMAL = 2  # a reminder; thông thường
    BULK = 3


# the names the API and the database use for each medium (Thông tư 39/2020/TT-BTTTT for audio)
SMS = {"alert": Priority.URGENT, "reply": Priority.HIGH, "reminder": Priority.NORMAL, "bulk": Priority.BULK}
AUDIO = {"thuong": Priority.NORMAL, "uu_tien": Priority.HIGH, "khan_cap": Priority.URGENT}
