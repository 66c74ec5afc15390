"""The codec's only error type."""

from __future__ import annotations

from meter2cash.core.errors import InputError


class FrameError(InputError):
    """A DL/T 645 frame or value that cannot be decoded or encoded; the message says where.

    ``offset`` is the byte offset of the problem (in the frame, or in the payload when the
    message says "data byte"); ``raw`` holds the offending bytes when a :class:`FrameReader`
    hands the error out as a value.
    """

    def __init__(
        self,
        problem: str,
        fix: str | None = None,
        *,
        offset: int | None = None,
        raw: bytes = b"",
    ) -> None:
        super().__init__(problem, fix)
        self.offset = offset
        self.raw = raw
