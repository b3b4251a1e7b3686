"""The SOQL subset (see the package docstring): tokenizer, parser, evaluation on records."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from sandbox.salesforce.messages import ApiError
from sandbox.salesforce.sobject import OBJECT, FieldSpec, canonical_field

_TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:[^'\\]|\\.)*')"
    r"|(?P<date>\d{4}-\d{2}-\d{2}(?![\d:T]))"
    r"|(?P<num>-?\d+(?:\.\d+)?)"
    r"|(?P<op>!=|<>|<=|>=|=|<|>)"
    r"|(?P<punct>[(),])"
    r"|(?P<word>[A-Za-z_][A-Za-z0-9_.]*))"
)


@dataclass
class Condition:
    field: FieldSpec
    op: str  # = != < <= > >= LIKE IN NOTIN
    value: Any


@dataclass
class Soql:
    fields: list[FieldSpec]
    count_only: bool
    conditions: list[Condition]
    order_by: FieldSpec | None = None
    descending: bool = False
    nulls_last: bool = False
    limit: int | None = None
    offset: int = 0


def malformed(message: str) -> ApiError:
    return ApiError(400, "MALFORMED_QUERY", message)


def _tokenize(text: str) -> list[tuple[str, str]]:
    tokens, position = [], 0
    text = text.rstrip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if not match or match.end() == position:
            raise malformed(f"unexpected token: '{text[position:].split()[0]}'")
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind)))
        position = match.end()
    return tokens


class _SoqlParser:
    """Recursive-descent parser of the SOQL subset in the package docstring."""

    def __init__(self, text: str) -> None:
        self.tokens = _tokenize(text)
        self.position = 0

    def peek(self) -> tuple[str, str]:
        return self.tokens[self.position] if self.position < len(self.tokens) else ("end", "")

    def take(self) -> tuple[str, str]:
        token = self.peek()
        if token[0] == "end":
            raise malformed("unexpected end of query")
        self.position += 1
        return token

    def keyword(self, *words: str) -> bool:
        kind, value = self.peek()
        if kind == "word" and value.upper() in words:
            self.position += 1
            return True
        return False

    def expect(self, word: str) -> None:
        if not self.keyword(word):
            raise malformed(f"unexpected token: '{self.peek()[1] or 'end of query'}'")

    def expect_punct(self, char: str) -> None:
        if self.take() != ("punct", char):
            raise malformed(f"expecting '{char}'")

    def parse(self) -> tuple[list[str], bool, str, list[tuple[str, str, Any]], dict[str, Any]]:
        self.expect("SELECT")
        names, count_only = self.select_list()
        self.expect("FROM")
        kind, obj = self.take()
        if kind != "word":
            raise malformed(f"unexpected token: '{obj}'")
        conditions = self.where() if self.keyword("WHERE") else []
        tail = self.tail()
        if self.peek()[0] != "end":
            raise malformed(f"unexpected token: '{self.peek()[1]}'")
        return names, count_only, obj, conditions, tail

    def select_list(self) -> tuple[list[str], bool]:
        if self.peek()[1].upper() == "COUNT" and self.tokens[self.position + 1 :][:1] == [
            ("punct", "(")
        ]:
            self.position += 1
            self.expect_punct("(")
            self.expect_punct(")")
            return [], True
        names = []
        while True:
            kind, value = self.take()
            if kind != "word" or value.upper() == "FROM":
                raise malformed(f"unexpected token: '{value}'")
            names.append(value)
            if self.peek() != ("punct", ","):
                return names, False
            self.position += 1

    def where(self) -> list[tuple[str, str, Any]]:
        conditions = [self.condition()]
        while self.keyword("AND"):
            conditions.append(self.condition())
        if self.peek()[0] == "word" and self.peek()[1].upper() in ("OR", "NOT"):
            raise malformed(f"this simulator does not support {self.peek()[1].upper()}")
        return conditions

    def condition(self) -> tuple[str, str, Any]:
        kind, name = self.take()
        if kind != "word":
            raise malformed(f"unexpected token: '{name}'")
        if self.keyword("NOT"):
            self.expect("IN")
            return name, "NOTIN", self.value_list()
        if self.keyword("IN"):
            return name, "IN", self.value_list()
        if self.keyword("LIKE"):
            return name, "LIKE", self.literal()
        kind, op = self.take()
        if kind != "op":
            raise malformed(f"unexpected token: '{op}'")
        return name, "!=" if op == "<>" else op, self.literal()

    def value_list(self) -> list[Any]:
        self.expect_punct("(")
        values = [self.literal()]
        while self.peek() == ("punct", ","):
            self.position += 1
            values.append(self.literal())
        self.expect_punct(")")
        return values

    def literal(self) -> Any:
        kind, value = self.take()
        if kind == "str":
            return re.sub(r"\\(.)", r"\1", value[1:-1])
        if kind == "num":
            return float(value)
        if kind == "date":
            return dt.date.fromisoformat(value).isoformat()
        if kind == "word" and value.lower() in ("true", "false"):
            return value.lower() == "true"
        if kind == "word" and value.lower() == "null":
            return None
        raise malformed(f"unexpected token: '{value}'")

    def tail(self) -> dict[str, Any]:
        tail: dict[str, Any] = {"limit": None, "offset": 0}
        if self.keyword("ORDER"):
            self.expect("BY")
            kind, name = self.take()
            if kind != "word":
                raise malformed(f"unexpected token: '{name}'")
            tail["order_by"] = name
            tail["descending"] = self.keyword("DESC")
            if not tail["descending"]:
                self.keyword("ASC")
            if self.keyword("NULLS"):
                tail["nulls_last"] = self.keyword("LAST")
                if not tail["nulls_last"]:
                    self.expect("FIRST")
            else:
                tail["nulls_last"] = tail["descending"]
        for word in ("LIMIT", "OFFSET"):
            if self.keyword(word):
                kind, value = self.take()
                if kind != "num" or not value.isdigit():
                    raise malformed(f"unexpected token: '{value}'")
                tail[word.lower()] = int(value)
        return tail


def unknown_field(name: str) -> ApiError:
    return ApiError(
        400,
        "INVALID_FIELD",
        f"No such column '{name}' on entity '{OBJECT}'. If you are attempting to use a "
        "custom field, be sure to append the '__c' after the custom field name. Please "
        "reference your WSDL or the describe call for the appropriate names.",
    )


def parse_soql(text: str) -> Soql:
    """Parse, then check the object and the fields, in Salesforce's order of complaints."""
    names, count_only, obj, raw_conditions, tail = _SoqlParser(text).parse()
    if obj.lower() != OBJECT.lower():
        raise ApiError(
            400,
            "INVALID_TYPE",
            f"sObject type '{obj}' is not supported. If you are attempting to use a custom "
            "object, be sure to append the '__c' after the entity name. Please reference "
            "your WSDL or the describe call for the appropriate names.",
        )

    def resolve(name: str) -> FieldSpec:
        spec = canonical_field(name)
        if spec is None:
            raise unknown_field(name)
        return spec

    fields: list[FieldSpec] = []
    for name in names:
        spec = resolve(name)
        if spec not in fields:
            fields.append(spec)
    conditions = [Condition(resolve(n), op, value) for n, op, value in raw_conditions]
    order = resolve(tail["order_by"]) if "order_by" in tail else None
    return Soql(
        fields, count_only, conditions, order, tail.get("descending", False),
        tail.get("nulls_last", False), tail["limit"], tail["offset"],
    )


def _comparable(spec: FieldSpec, value: Any) -> Any:
    if value is None:
        return None
    if spec.is_text or spec.kind == "id":
        return str(value).lower()
    if spec.kind == "double":
        return float(value)
    return value


def _like(value: Any, pattern: Any) -> bool:
    if value is None or pattern is None:
        return False
    regex = "".join(
        ".*" if c == "%" else "." if c == "_" else re.escape(c) for c in str(pattern).lower()
    )
    return re.fullmatch(regex, str(value).lower(), re.DOTALL) is not None


def _matches(record: dict[str, Any], condition: Condition) -> bool:
    spec = condition.field
    left = _comparable(spec, record.get(spec.name))
    op = condition.op
    if op in ("IN", "NOTIN"):
        found = left in {_comparable(spec, v) for v in condition.value}
        return found if op == "IN" else (not found and left is not None)
    if op == "LIKE":
        return _like(left, condition.value)
    right = _comparable(spec, condition.value)
    if op == "=":
        return left == right
    if op == "!=":
        return left != right
    if left is None or right is None:
        return False
    try:
        return bool(
            {"<": left < right, "<=": left <= right, ">": left > right, ">=": left >= right}[op]
        )
    except TypeError:
        return False


def run_soql(query: Soql, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = [r for r in records if all(_matches(r, c) for c in query.conditions)]
    if query.order_by is not None:
        spec = query.order_by
        present = [r for r in rows if r.get(spec.name) is not None]
        missing = [r for r in rows if r.get(spec.name) is None]
        present.sort(key=lambda r: _comparable(spec, r[spec.name]), reverse=query.descending)
        rows = present + missing if query.nulls_last else missing + present
    rows = rows[query.offset :]
    return rows if query.limit is None else rows[: query.limit]
