"""Static files: what exists is served, what does not is 404."""

from __future__ import annotations

from django.test import Client


def test_it_answers_404_for_a_missing_static_file(db):
    response = Client().get("/static/nonexist.css")

    assert response.status_code == 404
    assert "Location" not in response


def test_it_still_sends_signed_out_pages_to_sign_in(db):
    response = Client().get("/rita/sales")

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login")
