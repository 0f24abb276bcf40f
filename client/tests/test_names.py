from __future__ import annotations

import pytest

from dstack._names import normalize_params, params_key, parse_stack


def test_it_puts_a_relative_name_in_the_default_team():
    assert parse_stack("sales/by-region", "alice") == ("alice", "sales/by-region")


def test_it_reads_the_team_after_a_leading_slash():
    assert parse_stack("/acme/sales/by-region", "alice") == ("acme", "sales/by-region")


def test_it_allows_dots_underscores_and_nesting():
    assert parse_stack("a_b/c.d/e-f", "alice") == ("alice", "a_b/c.d/e-f")


@pytest.mark.parametrize(
    ("stack", "problem"),
    [
        ("ab", "3 to 255 characters"),
        ("x" * 256, "3 to 255 characters"),
        ("sales by region", "only A-Z"),
        ("sales//region", "empty segment"),
        ("sales/", "empty segment"),
        ("sales/../x", "'.' and '..' segments"),
        ("./sales", "'.' and '..' segments"),
        ("sales/-/x", "'-' segment"),
        ("/acme", "needs a path"),
        ("/Acme/sales", "invalid team name 'Acme'"),
        ("/a/sales", "invalid team name 'a'"),
        ("/-acme/sales", "starting with a letter or digit"),
        ("/api/sales", "reserved"),
        ("/" + "a" * 41 + "/sales", "2 to 40 characters"),
    ],
)
def test_it_rejects_invalid_names(stack, problem):
    with pytest.raises(
        ValueError, match=problem.replace(".", r"\.").replace("(", r"\(")
    ):
        parse_stack(stack, "alice")


def test_it_rejects_a_relative_name_without_team():
    with pytest.raises(ValueError, match="names no team"):
        parse_stack("sales", None)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_it_rejects_non_finite_params(value):
    with pytest.raises(ValueError, match="finite"):
        normalize_params({"x": value})


@pytest.mark.parametrize("value", [None, [1], {"a": 1}, b"x"])
def test_it_rejects_params_of_other_types(value):
    with pytest.raises(ValueError, match="params take"):
        normalize_params({"x": value})


def test_it_rejects_non_string_param_names():
    with pytest.raises(ValueError, match="param names"):
        normalize_params({1: "x"})


def test_keyword_params_override_the_mapping():
    assert normalize_params({"a": 1, "b": 2}, {"b": 3}) == {"a": 1, "b": 3}


def test_params_key_ignores_order():
    assert params_key({"a": 1, "b": "x"}) == params_key({"b": "x", "a": 1})


def test_params_key_tells_true_from_one():
    assert params_key({"a": True}) != params_key({"a": 1})


def test_params_key_equates_int_and_float():
    assert params_key({"a": 1}) == params_key({"a": 1.0})
