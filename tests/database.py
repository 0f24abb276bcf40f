"""The test database: one per pytest process.

Several people and CI jobs run the suite against the same PostgreSQL server.
pytest-django drops and recreates `test_<name>` at the start of a run, so two
runs with one name would delete each other's database; the process id keeps
them apart.
"""

from __future__ import annotations

import os
from typing import Any

import pytest


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix: Any) -> None:
    from django.conf import settings

    database = settings.DATABASES["default"]
    if database["ENGINE"] != "django.db.backends.postgresql":
        return
    test = database.setdefault("TEST", {})
    test["NAME"] = f"{test.get('NAME') or 'test_' + database['NAME']}_{os.getpid()}"
