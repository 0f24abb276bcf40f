"""Forms of the account pages that differ from django-allauth's."""

from __future__ import annotations

from typing import Any

from allauth.account.forms import LoginForm


class SignInForm(LoginForm):
    """allauth's sign-in form, which also takes the user name as `username`.

    allauth calls the field `login` because it takes a user name or an email
    address. Django's own sign-in form, which this page replaced, posted
    `username`, and scripts that sign in with it keep working.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        data = kwargs.get("data", args[0] if args else None)
        if data is not None and "login" not in data and "username" in data:
            data = data.copy()
            data["login"] = data["username"]
            if args:
                args = (data, *args[1:])
            else:
                kwargs["data"] = data
        super().__init__(*args, **kwargs)
        self.fields["login"].label = "User name or email"
        if "remember" in self.fields:
            self.fields["remember"].label = "Remember me"
