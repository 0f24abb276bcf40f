"""Shared test plugins for every test folder of the repository.

pytest only lends a conftest's fixtures to the folders beneath it, so the
fixtures that apps/*/tests, tests/ and client/tests share are registered
here. tests/conftest.py lists them.
"""

pytest_plugins = ["tests.s3server", "tests.cast", "tests.pushing", "tests.database"]
