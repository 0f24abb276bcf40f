"""Database expressions of the registry's reads."""

from __future__ import annotations

from typing import Any

from django.db import NotSupportedError
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import F, FloatField, Func, Value
from django.db.models.sql.compiler import SQLCompiler


class ObjectKeyNumber(Func):
    """The number under one key of a JSON object column, or NULL without the key.

    Django's key transforms (`compile_json_path` in Django 5.2) read a key of
    digits, such as "1" or "-1", as a list position, so PostgreSQL finds
    nothing in an object and SQLite rejects the path `$[-1]`. This expression
    sends the key as a bound parameter that both databases compare with the
    object's keys as text, so every key a push stores can be found, quotes
    and dots included.
    """

    output_field = FloatField()
    templates = {
        # jsonb_extract_path_text takes each path element as text, so it
        # reads "1" as the key "1" of an object.
        "postgresql": (
            "CAST(jsonb_extract_path_text({column}, {key}) AS double precision)"
        ),
        # A JSON path cannot name every key in SQLite, because a quoted label
        # ends at the first double quote. json_each compares whole keys.
        "sqlite": (
            "(SELECT CAST(value AS REAL) FROM json_each({column}) WHERE key = {key})"
        ),
    }

    def __init__(self, column: str, key: str) -> None:
        super().__init__(F(column), Value(key))

    def as_sql(  # type: ignore[override]
        self,
        compiler: SQLCompiler,
        connection: BaseDatabaseWrapper,
        **extra_context: Any,
    ) -> tuple[str, list[Any]]:
        template = self.templates.get(connection.vendor)
        if template is None:
            raise NotSupportedError(
                f"ObjectKeyNumber supports PostgreSQL and SQLite, not "
                f"{connection.vendor}"
            )
        column_expression, key_expression = self.get_source_expressions()
        column_sql, column_params = compiler.compile(column_expression)
        key_sql, key_params = compiler.compile(key_expression)
        sql = template.format(column=column_sql, key=key_sql)
        return sql, [*column_params, *key_params]
