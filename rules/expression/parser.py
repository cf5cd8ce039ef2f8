"""A recursive-descent parser from tokens to the syntax tree.

Grammar, loosest binding first (``not`` binds looser than comparisons, as in
Python, so ``not a == b`` is ``not (a == b)``)::

    expression  := or
    or          := and ("or" and)*
    and         := not ("and" not)*
    not         := "not" not | comparison
    comparison  := sum [ ("==" | "!=" | "<" | "<=" | ">" | ">=") sum
                       | ["not"] "in" container ]            -- never chained
    container   := "[" [literal ("," literal)* [","]] "]" | "list" "(" STRING ")"
    sum         := product (("+" | "-") product)*
    product     := unary (("*" | "/") unary)*
    unary       := "-" unary | primary
    primary     := NUMBER | STRING | "true" | "false" | "null"
                 | NAME | NAME "(" [expression ("," expression)*] ")" | "(" expression ")"

Everything else is rejected with the position of the first token that does
not fit: attribute access (``a.b``), subscripts, calls on anything but a bare
function name, chained comparisons, unbalanced parentheses, trailing tokens,
and nesting deeper than ``MAX_DEPTH`` (every operator of an arithmetic chain
is a level: ``a*b*c`` is ``(a*b)*c``).
"""

from __future__ import annotations

from collections.abc import Callable

from rules.exceptions import ExpressionError
from rules.expression.syntax import (
    Binary,
    Call,
    Compare,
    ListLiteral,
    Literal,
    Logical,
    Membership,
    Name,
    NamedList,
    Node,
    Not,
    Unary,
)
from rules.expression.tokens import Token, TokenKind, tokenize

__all__ = ["MAX_DEPTH", "parse"]

#: Deeper nesting is unreadable and would only test the interpreter's stack.
MAX_DEPTH = 32

_COMPARISONS = frozenset({"==", "!=", "<", "<=", ">", ">="})
_LITERAL_WORDS: dict[str, bool | None] = {"true": True, "false": False, "null": None}
_NAMED_LIST = "list"

_Rule = Callable[[], Node]


def parse(text: str) -> Node:
    """The syntax tree of ``text``; ``ExpressionError`` with a position if it is not one."""
    return _Parser(tokenize(text)).parse()


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self._tokens = tokens
        self._index = 0
        self._depth = 0

    # -- token helpers ------------------------------------------------------------------

    @property
    def _token(self) -> Token:
        return self._tokens[self._index]

    def _advance(self) -> Token:
        token = self._tokens[self._index]
        if token.kind is not TokenKind.END:
            self._index += 1
        return token

    def _at(self, kind: TokenKind, text: str | None = None) -> bool:
        token = self._token
        return token.kind is kind and (text is None or token.text == text)

    def _expect(self, kind: TokenKind, what: str) -> Token:
        if not self._at(kind):
            raise self._error(f"expected {what}, found {self._token.describe()}")
        return self._advance()

    def _error(self, problem: str, token: Token | None = None) -> ExpressionError:
        at = token or self._token
        return ExpressionError(problem, line=at.line, column=at.column)

    def _enter(self) -> None:
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise self._error(
                f"expression nested deeper than {MAX_DEPTH} levels (parentheses, calls, "
                "not, minus signs and each operator of an arithmetic chain count)"
            )

    # -- grammar ------------------------------------------------------------------------

    def parse(self) -> Node:
        if self._at(TokenKind.END):
            raise self._error("empty expression")
        node = self._or()
        if not self._at(TokenKind.END):
            if self._at(TokenKind.RPAREN):
                raise self._error("unbalanced parentheses: ')' without a matching '('")
            raise self._error(f"unexpected {self._token.describe()} after a complete expression")
        return node

    def _or(self) -> Node:
        return self._chain("or", self._and)

    def _and(self) -> Node:
        return self._chain("and", self._not)

    def _chain(self, op: str, operand: _Rule) -> Node:
        first = self._token
        operands = [operand()]
        while self._at(TokenKind.KEYWORD, op):
            self._advance()
            operands.append(operand())
        if len(operands) == 1:
            return operands[0]
        return Logical(op, tuple(operands), first.line, first.column)

    def _not(self) -> Node:
        if self._at(TokenKind.KEYWORD, "not"):
            token = self._advance()
            self._enter()
            operand = self._not()
            self._depth -= 1
            return Not(operand, token.line, token.column)
        return self._comparison()

    def _comparison(self) -> Node:
        left = self._sum()
        token = self._token
        if token.kind is TokenKind.OP and token.text in _COMPARISONS:
            self._advance()
            node: Node = Compare(token.text, left, self._sum(), token.line, token.column)
        elif self._at(TokenKind.KEYWORD, "in"):
            self._advance()
            node = Membership(left, self._container(), False, token.line, token.column)
        elif self._at(TokenKind.KEYWORD, "not") and self._peek_is_in():
            self._advance()
            self._advance()
            node = Membership(left, self._container(), True, token.line, token.column)
        else:
            return left
        after = self._token
        if (after.kind is TokenKind.OP and after.text in _COMPARISONS) or (
            after.kind is TokenKind.KEYWORD and after.text == "in"
        ):
            raise self._error(
                "comparisons do not chain: write `a < b and b < c` instead of `a < b < c`"
            )
        return node

    def _peek_is_in(self) -> bool:
        following = self._tokens[self._index + 1]
        return following.kind is TokenKind.KEYWORD and following.text == "in"

    def _container(self) -> ListLiteral | NamedList:
        token = self._token
        if self._at(TokenKind.LBRACKET):
            return self._list_literal()
        if self._at(TokenKind.NAME, _NAMED_LIST):
            self._advance()
            self._expect(TokenKind.LPAREN, "'(' after list")
            name = self._expect(TokenKind.STRING, "a quoted list name, as in list('blocked_bins')")
            self._expect(TokenKind.RPAREN, "')' after the list name")
            return NamedList(str(name.value), token.line, token.column)
        raise self._error(
            f"expected a list after `in` ([...] or list('name')), found {token.describe()}"
        )

    def _list_literal(self) -> ListLiteral:
        opening = self._advance()
        items: list[Literal] = []
        while not self._at(TokenKind.RBRACKET):
            items.append(self._list_item())
            if self._at(TokenKind.COMMA):
                self._advance()
            elif not self._at(TokenKind.RBRACKET):
                if self._at(TokenKind.END):
                    raise self._error("unbalanced brackets: '[' is never closed", opening)
                raise self._error(f"expected ',' or ']', found {self._token.describe()}")
        self._advance()
        return ListLiteral(tuple(items), opening.line, opening.column)

    def _list_item(self) -> Literal:
        token = self._token
        sign = 1.0
        if token.kind is TokenKind.OP and token.text == "-":
            self._advance()
            sign = -1.0
            if not self._at(TokenKind.NUMBER):
                raise self._error("list items must be literals (numbers, strings, true/false)")
        item = self._advance()
        if item.kind is TokenKind.NUMBER:
            return Literal(sign * float(item.text), token.line, token.column)
        if item.kind is TokenKind.STRING:
            return Literal(item.value, token.line, token.column)
        if item.kind is TokenKind.KEYWORD and item.text in ("true", "false"):
            return Literal(item.text == "true", token.line, token.column)
        raise self._error(
            f"list items must be literals (numbers, strings, true/false), found {item.describe()}",
            item,
        )

    def _sum(self) -> Node:
        return self._arithmetic(("+", "-"), self._product)

    def _product(self) -> Node:
        return self._arithmetic(("*", "/"), self._unary)

    def _arithmetic(self, ops: tuple[str, str], operand: _Rule) -> Node:
        # Each operator of a chain nests the tree one level deeper (``a*b*c`` is
        # ``(a*b)*c``), and compiling recurses once per level: chains count too.
        node, entered = operand(), 0
        while self._token.kind is TokenKind.OP and self._token.text in ops:
            token = self._advance()
            entered += 1
            self._enter()
            node = Binary(token.text, node, operand(), token.line, token.column)
        self._depth -= entered
        return node

    def _unary(self) -> Node:
        if self._at(TokenKind.OP, "-"):
            token = self._advance()
            self._enter()
            operand = self._unary()
            self._depth -= 1
            return Unary(operand, token.line, token.column)
        node = self._primary()
        self._reject_postfix()
        return node

    def _reject_postfix(self) -> None:
        if self._at(TokenKind.DOT):
            raise self._error(
                "attribute access is not allowed: names are flat "
                "(write `country`, not `tx.country`)"
            )
        if self._at(TokenKind.LBRACKET):
            raise self._error("subscripts are not allowed")
        if self._at(TokenKind.LPAREN):
            raise self._error("only a function name can be called, as in abs(x)")

    def _primary(self) -> Node:
        token = self._token
        kind = token.kind
        if kind is TokenKind.NUMBER or kind is TokenKind.STRING:
            self._advance()
            return Literal(token.value, token.line, token.column)
        if kind is TokenKind.KEYWORD and token.text in _LITERAL_WORDS:
            self._advance()
            return Literal(_LITERAL_WORDS[token.text], token.line, token.column)
        if kind is TokenKind.NAME:
            self._advance()
            if self._at(TokenKind.LPAREN):
                return self._call(token)
            return Name(token.text, token.line, token.column)
        if kind is TokenKind.LPAREN:
            return self._parenthesised()
        if kind is TokenKind.LBRACKET:
            raise self._error("a list literal can only appear after `in`")
        if kind is TokenKind.END:
            raise self._error("expression ends too early: an operand is missing")
        if kind is TokenKind.RPAREN:
            raise self._error("expected an expression, found ')'")
        raise self._error(f"expected an expression, found {token.describe()}")

    def _parenthesised(self) -> Node:
        opening = self._advance()
        self._enter()
        node = self._or()
        self._depth -= 1
        if not self._at(TokenKind.RPAREN):
            if self._at(TokenKind.END):
                raise self._error("unbalanced parentheses: '(' is never closed", opening)
            raise self._error(f"expected ')', found {self._token.describe()}")
        self._advance()
        return node

    def _call(self, name: Token) -> Node:
        if name.text == _NAMED_LIST:
            raise self._error("list('name') can only appear after `in` or `not in`", name)
        opening = self._advance()
        self._enter()
        args: list[Node] = []
        while not self._at(TokenKind.RPAREN):
            if self._at(TokenKind.END):
                raise self._error("unbalanced parentheses: '(' is never closed", opening)
            args.append(self._or())
            if self._at(TokenKind.COMMA):
                self._advance()
            elif not self._at(TokenKind.RPAREN):
                if self._at(TokenKind.END):
                    raise self._error("unbalanced parentheses: '(' is never closed", opening)
                raise self._error(f"expected ',' or ')', found {self._token.describe()}")
        self._advance()
        self._depth -= 1
        return Call(name.text, tuple(args), name.line, name.column)
