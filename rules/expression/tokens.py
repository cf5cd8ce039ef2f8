"""The tokenizer of the rule expression language.

The language is deliberately small (see ``rules.expression`` for the grammar).
Rejections that can be decided from the characters alone happen here, with
the line and column of the offending character: anything with a double
underscore (``__import__``, ``__class__``), characters that have no meaning
(``:``, ``;``, ``@``, ``{``, backslashes outside strings), unterminated strings,
Python keywords that are not part of the language (``lambda``, ``import``...),
and input longer than ``MAX_EXPRESSION_CHARS``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from rules.exceptions import ExpressionError

__all__ = ["KEYWORDS", "MAX_EXPRESSION_CHARS", "Token", "TokenKind", "tokenize"]

#: An expression longer than this is a data error (a pasted list), not a rule.
MAX_EXPRESSION_CHARS = 2000

KEYWORDS = frozenset({"and", "or", "not", "in", "true", "false", "null"})


class TokenKind(Enum):
    NUMBER = "number"
    STRING = "string"
    NAME = "name"
    KEYWORD = "keyword"
    OP = "operator"
    LPAREN = "'('"
    RPAREN = "')'"
    LBRACKET = "'['"
    RBRACKET = "']'"
    COMMA = "','"
    DOT = "'.'"
    END = "end of expression"


@dataclass(frozen=True, slots=True)
class Token:
    kind: TokenKind
    text: str
    line: int
    column: int
    #: The decoded value of NUMBER and STRING tokens.
    value: float | str | None = None

    def describe(self) -> str:
        return self.kind.value if self.kind is TokenKind.END else repr(self.text)


_TOKEN = re.compile(
    r"""
    (?P<space>[ \t\r\n]+)
  | (?P<number>(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<string>'(?:[^'\\\n]|\\.)*'|"(?:[^"\\\n]|\\.)*")
  | (?P<op>==|!=|<=|>=|<|>|\+|-|\*|/)
  | (?P<punct>[()\[\],.])
    """,
    re.VERBOSE,
)
_PUNCT = {
    "(": TokenKind.LPAREN,
    ")": TokenKind.RPAREN,
    "[": TokenKind.LBRACKET,
    "]": TokenKind.RBRACKET,
    ",": TokenKind.COMMA,
    ".": TokenKind.DOT,
}
_ESCAPES = {"\\": "\\", "'": "'", '"': '"', "n": "\n", "t": "\t"}
# Words a Python (or SQL, or JS) habit produces, each with the fix.
_HINTS = {
    "True": "write `true`",
    "False": "write `false`",
    "None": "write `null` (and test for it with is_missing(x))",
    "lambda": "functions cannot be defined in a rule",
    "import": "nothing can be imported in a rule",
    "is": "use == / != to compare, is_missing(x) to test for a missing value",
    "if": "conditions are written with and / or / not",
    "else": "conditions are written with and / or / not",
    "for": "there are no loops in the language",
    "def": "functions cannot be defined in a rule",
    "class": "classes cannot be defined in a rule",
    "AND": "keywords are lower case: `and`",
    "OR": "keywords are lower case: `or`",
    "NOT": "keywords are lower case: `not`",
    "IN": "keywords are lower case: `in`",
}
_SYMBOL_HINTS = {
    "=": "use == to compare",
    "!": "use `not`, or != to compare",
    "&": "use `and`",
    "|": "use `or`",
    "%": "the operators are + - * /",
    "\\": "backslashes only escape quotes inside strings",
}


def _position(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return line, column


def _decode_string(raw: str, text: str, offset: int) -> str:
    out: list[str] = []
    i = 1
    while i < len(raw) - 1:
        char = raw[i]
        if char == "\\":
            escaped = raw[i + 1]
            if escaped not in _ESCAPES:
                line, column = _position(text, offset + i)
                raise ExpressionError(
                    f"unknown escape '\\{escaped}' in a string", line=line, column=column
                )
            out.append(_ESCAPES[escaped])
            i += 2
        else:
            out.append(char)
            i += 1
    return "".join(out)


def tokenize(text: str) -> list[Token]:
    """The tokens of ``text``, ending with an ``END`` token."""
    if len(text) > MAX_EXPRESSION_CHARS:
        raise ExpressionError(
            f"expression is {len(text)} characters long; the limit is {MAX_EXPRESSION_CHARS}",
            line=1,
            column=1,
        )
    tokens: list[Token] = []
    offset = 0
    while offset < len(text):
        match = _TOKEN.match(text, offset)
        line, column = _position(text, offset)
        if match is None:
            tokens.append(_reject(text, offset, line, column))
            continue  # unreachable: _reject raises
        kind, raw = match.lastgroup, match.group()
        if kind == "number":
            tokens.append(Token(TokenKind.NUMBER, raw, line, column, float(raw)))
        elif kind == "name":
            tokens.append(_word(raw, line, column))
        elif kind == "string":
            value = _decode_string(raw, text, offset)
            tokens.append(Token(TokenKind.STRING, raw, line, column, value))
        elif kind == "op":
            tokens.append(Token(TokenKind.OP, raw, line, column))
        elif kind == "punct":
            tokens.append(Token(_PUNCT[raw], raw, line, column))
        offset = match.end()
    line, column = _position(text, len(text))
    tokens.append(Token(TokenKind.END, "", line, column))
    return tokens


def _word(raw: str, line: int, column: int) -> Token:
    if "__" in raw:
        raise ExpressionError(
            f"names with a double underscore are not allowed: {raw!r}", line=line, column=column
        )
    if raw in _HINTS:
        raise ExpressionError(
            f"{raw!r} is not part of the rule language: {_HINTS[raw]}", line=line, column=column
        )
    kind = TokenKind.KEYWORD if raw in KEYWORDS else TokenKind.NAME
    return Token(kind, raw, line, column)


def _reject(text: str, offset: int, line: int, column: int) -> Token:
    char = text[offset]
    if char in "'\"":
        raise ExpressionError("unterminated string", line=line, column=column)
    hint = _SYMBOL_HINTS.get(char, "")
    suffix = f" ({hint})" if hint else ""
    raise ExpressionError(f"unexpected character {char!r}{suffix}", line=line, column=column)
