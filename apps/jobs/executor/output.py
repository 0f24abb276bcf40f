"""The log pump: turn a child's raw output into masked log chunks.

The child writes bytes; they may be binary, without newlines, or rewrite a
line with carriage returns as progress bars do. The pump decodes UTF-8 with
replacement characters (NUL bytes become U+FFFD too), keeps of each line only what follows its last
carriage return (what a terminal would show), cuts lines longer than
`MAX_LINE`, masks secret values, and stops storing at the output limit,
after one truncation mark. It counts every byte either way.
"""

from __future__ import annotations

import codecs

from apps.jobs.secrets import Masker

MAX_LINE = 16_384


class OutputPump:
    def __init__(self, *, limit: int, masker: Masker) -> None:
        self.limit = limit
        self.masker = masker
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self.partial = ""
        self.pending: list[str] = []
        self.pending_size = 0
        self.total_bytes = 0
        self.stored_bytes = 0
        self.truncated = False

    def feed(self, data: bytes) -> None:
        self.total_bytes += len(data)
        text = self.decoder.decode(data)
        self._add(text)

    def finish(self) -> None:
        self._add(self.decoder.decode(b"", final=True))
        if self.partial:
            self._line(self.partial)
            self.partial = ""

    def _add(self, text: str) -> None:
        if not text:
            return
        pieces = (self.partial + text).split("\n")
        self.partial = pieces.pop()
        for piece in pieces:
            self._line(piece)
        if "\r" in self.partial:
            self.partial = self.partial.rsplit("\r", 1)[1]
        while len(self.partial) > MAX_LINE:
            self._line(self.partial[:MAX_LINE])
            self.partial = self.partial[MAX_LINE:]

    def _line(self, line: str) -> None:
        # PostgreSQL cannot store NUL in text, and a terminal shows nothing.
        line = line.replace("\x00", "\ufffd")
        if "\r" in line:
            line = line.rstrip("\r").rsplit("\r", 1)[-1]
        for start in range(0, max(len(line), 1), MAX_LINE):
            self._store(line[start : start + MAX_LINE] + "\n")

    def _store(self, line: str) -> None:
        if self.truncated:
            return
        size = len(line.encode("utf-8", "replace"))
        if self.stored_bytes + size > self.limit:
            self.truncated = True
            self.pending.append(
                f"[dstack: output truncated at {self.limit:,} bytes; the rest of "
                "this attempt's output is not kept]\n"
            )
            return
        self.stored_bytes += size
        self.pending.append(self.masker.mask(line))
        self.pending_size += size

    def take(self) -> str:
        """Return the complete lines collected since the last call."""
        text = "".join(self.pending)
        self.pending = []
        self.pending_size = 0
        return text

    def flush_partial(self) -> None:
        """Emit the unfinished line too, such as a prompt without a newline."""
        if self.partial:
            line, self.partial = self.partial, ""
            self._line(line)
