"""How `seatctl token add` and `token list` print: the new token alone (for `$(...)`), and
the tokens as a table (never the tokens themselves)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple, TextIO

from seatctl.cli.output import aligned
from seatctl.core.errors import SeatctlError
from seatctl.core.model import Token
from seatctl.wire import dumps, printable, token_object


class NewToken(NamedTuple):
    """`token add`: the token itself, printed this once (as text: alone, for `$(...)`)."""

    token: str
    record: Token

    @property
    def committed(self) -> bool:
        return True  # the token is stored: printed or not

    def write_text(self, out: TextIO, colour: bool) -> None:
        out.write(self.token + "\n")

    def write_json(self, out: TextIO) -> None:
        out.write(dumps(self.fields()) + "\n")

    def fields(self) -> dict[str, Any]:
        return {**token_object(self.record), "token": self.token}

    def error(self) -> SeatctlError | None:
        return None


class TokenList(NamedTuple):
    tokens: Sequence[Token]

    @property
    def committed(self) -> bool:
        return False

    def write_text(self, out: TextIO, colour: bool) -> None:
        rows = [("ID", "USER", "ROLE", "CREATED", "EXPIRES", "LAST USED")]
        for token in self.tokens:
            shown = token_object(token)
            rows.append(
                (
                    str(token.id),
                    printable(token.user),
                    token.role.value,
                    shown["created"],
                    shown["expires"] or "never",
                    shown["last_used"] or "never",
                )
            )
        out.write(aligned(rows) + "\n")

    def write_json(self, out: TextIO) -> None:
        out.write(dumps([token_object(t) for t in self.tokens]) + "\n")

    def fields(self) -> dict[str, Any]:
        return {"tokens": [token_object(t) for t in self.tokens]}

    def error(self) -> SeatctlError | None:
        return None
