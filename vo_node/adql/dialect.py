"""Stage 1, parse: ADQL 2.1 text to a sqlglot syntax tree, through a dialect of our own.

The tokenizer knows only ADQL's keywords and operators (plus a few SQL words, so that their
misuse can be named in a clear message rather than a bare syntax error); the parser knows only
ADQL's function syntax, so every call other than the aggregates and CAST arrives as an
``Anonymous`` node for the allowlist to judge. Lexical rules sqlglot is lenient about
(identifier and number shapes, ``::``, ``;``, ``$``, block comments) are checked on the token
stream before parsing. Must not import Flask or psycopg.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import ClassVar, TypeVar

from sqlglot import exp, parser, tokens
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import ParseError, TokenError
from sqlglot.tokens import Token, TokenType

from vo_node.adql.errors import AdqlError

# The words the grammar itself needs, and SQL words kept as keywords only so that the
# allowlist can reject what they build with a message naming them (INTO, FOR UPDATE, ...).
_KEYWORDS = {
    "<=", ">=", "<>", "!=", "||",
    "ALL", "AND", "AS", "ASC", "BETWEEN", "CASE", "CROSS", "DESC", "DISTINCT", "ELSE", "END",
    "EXCEPT", "EXISTS", "FALSE", "FOR", "FROM", "FULL", "GROUP BY", "HAVING", "ILIKE", "IN",
    "INNER", "INTERSECT", "INTO", "IS", "JOIN", "LATERAL", "LEFT", "LIKE", "LIMIT", "NATURAL",
    "NOT", "NULL", "OFFSET", "ON", "OR", "ORDER BY", "OUTER", "OVER", "RECURSIVE", "RIGHT",
    "SELECT", "THEN", "TRUE", "UNION", "USING", "VALUES", "WHEN", "WHERE", "WINDOW", "WITH",
    # the ADQL types CAST converts to (ADQL 2.1, "CAST")
    "SMALLINT", "INTEGER", "BIGINT", "REAL", "DOUBLE PRECISION", "CHAR", "VARCHAR", "TIMESTAMP",
}  # fmt: skip

# Token types that may appear in ADQL at all; anything else is refused before parsing.
_ADQL_TOKENS = frozenset(
    {
        TokenType.L_PAREN, TokenType.R_PAREN, TokenType.COMMA, TokenType.DOT, TokenType.DASH,
        TokenType.PLUS, TokenType.STAR, TokenType.SLASH, TokenType.EQ, TokenType.NEQ,
        TokenType.GT, TokenType.GTE, TokenType.LT, TokenType.LTE, TokenType.DPIPE,
        TokenType.AMP, TokenType.PIPE, TokenType.CARET, TokenType.TILDE, TokenType.STRING,
        TokenType.NUMBER, TokenType.HEX_STRING, TokenType.VAR, TokenType.IDENTIFIER,
        TokenType.TOP,
    }
    | {tokens.Tokenizer.KEYWORDS[k] for k in _KEYWORDS}
)  # fmt: skip

_SYMBOL_ADVICE = {
    ";": "';' is not ADQL: send exactly one query, without a terminating semicolon",
    ":": "':' is not ADQL (for a type conversion, write CAST(x AS type))",
    "%": "'%' is not an ADQL operator (the remainder is MOD(x, y))",
    "!": "'!' is not an ADQL operator (use NOT, or != for inequality)",
    "[": "'[' is not ADQL",
    "]": "']' is not ADQL",
    "{": "'{' is not ADQL",
    "}": "'}' is not ADQL",
    "?": "'?' is not ADQL (there are no query parameters)",
    "@": "'@' is not ADQL",
    "#": "'#' is not ADQL (bitwise exclusive or is written ^)",
    "\\": "'\\' is not ADQL",
}

# Tokens that cannot follow a comma: sqlglot forgives "x IN (1, 2,)" and "SELECT x, FROM".
_NOT_AFTER_COMMA = frozenset(
    {
        TokenType.R_PAREN, TokenType.COMMA, TokenType.FROM, TokenType.WHERE, TokenType.GROUP_BY,
        TokenType.HAVING, TokenType.ORDER_BY, TokenType.OFFSET, TokenType.UNION,
        TokenType.EXCEPT, TokenType.INTERSECT, TokenType.ON, TokenType.USING,
    }
)  # fmt: skip

_E = TypeVar("_E")

_REGULAR_IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")
_NUMBER = re.compile(r"(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\Z")
_HEX = re.compile(r"[0-9A-Fa-f]+\Z")


class AdqlTokenizer(tokens.Tokenizer):
    """ADQL's lexical structure: '' and "" quoting, -- comments only, 0x hexadecimals."""

    KEYWORDS: ClassVar[dict[str, TokenType]] = {
        **{k: v for k, v in tokens.Tokenizer.KEYWORDS.items() if k in _KEYWORDS},
        "TOP": TokenType.TOP,
    }
    QUOTES: ClassVar[list[tuple[str, str] | str]] = ["'"]
    IDENTIFIERS: ClassVar[list[str | tuple[str, str]]] = ['"']
    STRING_ESCAPES: ClassVar[list[str]] = ["'"]
    HEX_STRINGS: ClassVar[list[str | tuple[str, str]]] = [("0x", ""), ("0X", "")]
    # Only '--' starts a comment; '/*' stays two operator tokens and fails to parse.
    COMMENTS: ClassVar[list[str | tuple[str, str]]] = ["--"]
    COMMANDS: ClassVar[set[TokenType]] = set()
    COMMAND_PREFIX_TOKENS: ClassVar[set[TokenType]] = set()


def _keep(mapping: dict, keys: set) -> dict:
    return {k: v for k, v in mapping.items() if k in keys}


def _at(token: Token | None, node: _E) -> _E:
    """``node``, remembering that it starts at ``token``."""
    if isinstance(node, exp.Expr) and token is not None:
        node.update_positions(token)
    return node


def _positioned(parse_clause: Callable) -> Callable:
    """Wrap a clause parser so the clause node records where its keyword is (sqlglot keeps
    positions only on names and literals), for error messages about the clause itself."""

    def parse(self: parser.Parser) -> tuple[str, object]:
        """The wrapped clause parser, positioning what it returns."""
        token = self._curr
        key, found = parse_clause(self)
        for node in found if isinstance(found, list) else [found]:
            if isinstance(node, exp.Expr) and token is not None:
                node.update_positions(token)
        return key, found

    return parse


class AdqlParser(parser.Parser):
    """sqlglot's parser cut down to ADQL: functions other than the aggregates and CAST stay
    ``Anonymous``, and no operator beyond ADQL's is recognised."""

    FUNCTIONS: ClassVar[dict] = _keep(
        parser.Parser.FUNCTIONS, {"COUNT", "SUM", "AVG", "MIN", "MAX"}
    )
    FUNCTION_PARSERS: ClassVar[dict] = _keep(parser.Parser.FUNCTION_PARSERS, {"CAST"})
    NO_PAREN_FUNCTIONS: ClassVar[dict] = {}
    NO_PAREN_FUNCTION_PARSERS: ClassVar[dict] = _keep(
        parser.Parser.NO_PAREN_FUNCTION_PARSERS, {"CASE"}
    )
    RANGE_PARSERS: ClassVar[dict] = _keep(
        parser.Parser.RANGE_PARSERS,
        {TokenType.BETWEEN, TokenType.IN, TokenType.IS, TokenType.LIKE, TokenType.ILIKE},
    )
    COLUMN_OPERATORS: ClassVar[dict] = {TokenType.DOT: None}
    FACTOR: ClassVar[dict] = {TokenType.SLASH: exp.Div, TokenType.STAR: exp.Mul}
    TERM: ClassVar[dict] = {TokenType.DASH: exp.Sub, TokenType.PLUS: exp.Add}
    EQUALITY: ClassVar[dict] = {TokenType.EQ: exp.EQ, TokenType.NEQ: exp.NEQ}
    ASSIGNMENT: ClassVar[dict] = {}
    STATEMENT_PARSERS: ClassVar[dict] = {}
    QUERY_MODIFIER_PARSERS: ClassVar[dict] = {
        k: _positioned(v)
        for k, v in _keep(
            parser.Parser.QUERY_MODIFIER_PARSERS,
            {
                TokenType.WHERE, TokenType.GROUP_BY, TokenType.HAVING, TokenType.ORDER_BY,
                TokenType.OFFSET, TokenType.LIMIT, TokenType.FOR, TokenType.WINDOW,
            },
        ).items()
    }  # fmt: skip
    QUERY_MODIFIER_TOKENS: ClassVar[set] = set(QUERY_MODIFIER_PARSERS)

    PRIMARY_PARSERS: ClassVar[dict] = {
        **_keep(
            parser.Parser.PRIMARY_PARSERS,
            set(parser.Parser.STRING_PARSERS) | set(parser.Parser.NUMERIC_PARSERS)
            | {TokenType.STAR},
        ),
        TokenType.NULL: lambda self, token: exp.Null().update_positions(token),
        TokenType.TRUE: lambda self, token: exp.Boolean(this=True).update_positions(token),
        TokenType.FALSE: lambda self, token: exp.Boolean(this=False).update_positions(token),
    }  # fmt: skip

    # Where the keyword of these constructs is, for messages about them.
    def _parse_into(self) -> exp.Into | None:
        return _at(self._curr, super()._parse_into())

    def _parse_with(self, skip_with_token: bool = False) -> exp.With | None:
        return _at(self._curr, super()._parse_with(skip_with_token))

    def _parse_lateral(self) -> exp.Lateral | None:
        return _at(self._curr, super()._parse_lateral())

    def _parse_select_query(self, *args: object, **kwargs: object) -> exp.Expr | None:
        token = self._curr
        query = super()._parse_select_query(*args, **kwargs)  # type: ignore[arg-type]
        if isinstance(query, exp.Select) and token is not None and not query._meta:
            query.update_positions(token)
        return query

    def _parse_is(self, this: exp.Expr | None) -> exp.Expr | None:
        return _at(self._prev, super()._parse_is(this))

    def _parse_cast(self, strict: bool, safe: bool | None = None) -> exp.Expr:
        name = self._tokens[self._index - 2] if self._index >= 2 else None
        return _at(name, super()._parse_cast(strict, safe))


class Adql(Dialect):
    """The ADQL 2.1 dialect: regular identifiers fold case, "delimited" ones keep it."""

    Tokenizer = AdqlTokenizer
    Parser = AdqlParser


_DIALECT = Adql()


def parse(adql: str) -> exp.Expr:
    """One ADQL query as a syntax tree; any lexical or grammatical problem is an
    :class:`AdqlError` naming line and column."""
    if "\x00" in adql:
        raise AdqlError("the query contains a NUL character")
    try:
        found = _DIALECT.tokenize(adql)
    except TokenError as error:
        raise _token_error(adql, error) from None
    _check_tokens(adql, found)
    try:
        statements = _DIALECT.parser().parse(found, adql)
    except ParseError as error:
        raise _parse_error(error) from None
    present = [s for s in statements if s is not None]
    if len(present) != 1:
        raise AdqlError("the query is empty" if not present else "more than one statement")
    return _join_string_literals(present[0])


def _join_string_literals(tree: exp.Expr) -> exp.Expr:
    """SQL-92 reads 'ab' 'cd' (literals separated by white space) as one literal 'abcd';
    sqlglot parses it as a concatenation, which is folded back here."""
    for node in list(tree.find_all(exp.Concat)):
        parts = node.expressions
        if parts and all(isinstance(p, exp.Literal) and p.is_string for p in parts):
            joined = exp.Literal.string("".join(p.this for p in parts))
            joined.update_positions(parts[0])
            if node is tree:
                return joined
            node.replace(joined)
    return tree


def _check_tokens(adql: str, found: list[Token]) -> None:
    """Lexical rules of ADQL 2.1 (characters, identifiers, literals) that sqlglot's
    tokenizer does not enforce."""
    if not found:
        raise AdqlError("the query is empty")
    for index, token in enumerate(found):
        kind, text = token.token_type, token.text
        line, column = token.line, _start_column(adql, token)
        if kind == TokenType.VAR and not _REGULAR_IDENTIFIER.match(text):
            bad = next((c for c in text if not (c.isascii() and (c.isalnum() or c == "_"))), "")
            if bad and bad in _SYMBOL_ADVICE:
                raise AdqlError(_SYMBOL_ADVICE[bad], line, column)
            raise AdqlError(
                f"'{text}' is not a regular identifier (letters, digits and underscores, "
                'starting with a letter); write other names as delimited identifiers ("...")',
                line,
                column,
            )
        if kind == TokenType.NUMBER and not _NUMBER.match(text):
            raise AdqlError(f"'{text}' is not an ADQL number", line, column)
        if kind == TokenType.HEX_STRING and not _HEX.match(text):
            raise AdqlError(f"'0x{text}' is not a hexadecimal number", line, column)
        if kind == TokenType.IDENTIFIER and not text:
            raise AdqlError("an empty delimited identifier", line, column)
        if kind not in _ADQL_TOKENS:
            if text == ":" and index + 1 < len(found) and found[index + 1].text == ":":
                raise AdqlError("'::' casts are not ADQL; write CAST(x AS type)", line, column)
            raise AdqlError(_SYMBOL_ADVICE.get(text, f"'{text}' is not ADQL"), line, column)
        following = found[index + 1] if index + 1 < len(found) else None
        if kind == TokenType.VAR and text.upper() == "NULLS" and _text(following) in _ENDS:
            raise AdqlError("NULLS FIRST / NULLS LAST is not ADQL", line, column)
        if kind == TokenType.DOT and following is not None:
            adjacent = following.start == token.end + 1
            if following.token_type == TokenType.DOT:
                raise AdqlError("'..' is not ADQL (an empty name part)", line, column)
            if adjacent and following.token_type == TokenType.NUMBER:
                before = found[index - 1] if index else None
                glued = before is not None and before.end + 1 == token.start
                if not _NUMBER.match("." + following.text) or (
                    glued and before is not None and before.token_type == TokenType.NUMBER
                ):
                    raise AdqlError("malformed number", line, column)
        if kind == TokenType.COMMA and (
            following is None or following.token_type in _NOT_AFTER_COMMA
        ):
            raise AdqlError("a comma must be followed by another item", line, column)
        if (
            kind == TokenType.SLASH
            and following is not None
            and following.text == "*"
            and following.start == token.end + 1
        ):
            raise AdqlError("'/*' comments are not ADQL; comments start with --", line, column)


_ENDS = frozenset({"FIRST", "LAST"})


def _text(token: Token | None) -> str:
    return token.text.upper() if token is not None else ""


def _start_column(adql: str, token: Token) -> int:
    """The 1-based column of the token's first character in its line."""
    start = token.start
    return start - (adql.rfind("\n", 0, start) + 1) + 1


def _token_error(adql: str, error: TokenError) -> AdqlError:
    message = str(error)
    cause = error.__cause__
    match = re.search(r"Missing (.) from (\d+):(\d+)", f"{message} {cause}")
    if match:
        quote = match.group(1)
        what = "string literal" if quote == "'" else "delimited identifier"
        return AdqlError(f"unterminated {what} (missing closing {quote})", int(match.group(2)))
    start = error.start if isinstance(error.start, int) else None
    if start is not None:
        line = adql.count("\n", 0, start) + 1
        return AdqlError("cannot read the query here", line, start - adql.rfind("\n", 0, start))
    return AdqlError("cannot read the query")


def _parse_error(error: ParseError) -> AdqlError:
    details = error.errors[0] if error.errors else {}
    description = str(details.get("description") or "syntax error")
    highlight = str(details.get("highlight") or "").strip()
    line = details.get("line")
    column = details.get("col")
    if isinstance(column, int) and highlight:
        column = max(1, column - len(highlight) + 1)
    message = f"syntax error near '{highlight}': {description}" if highlight else description
    return AdqlError(
        message,
        line if isinstance(line, int) else None,
        column if isinstance(column, int) else None,
    )
