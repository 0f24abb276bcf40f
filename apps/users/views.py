"""Account pages: the signed-in user's API tokens, and the tokens that reach a team."""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.core.errors import InvalidInput, NotFound
from apps.stacks.views import header_context, page
from apps.users import selectors, services
from apps.users.actors import Actor
from apps.users.models import TokenScope
from apps.users.team_tokens import (
    team_get_for_manager,
    token_revoke_for_team,
    tokens_reaching_team,
)

EXPIRY_CHOICES = [
    ("", "Never"),
    ("7", "In 7 days"),
    ("30", "In 30 days"),
    ("90", "In 90 days"),
    ("365", "In a year"),
]


class TokenForm(forms.Form):
    name = forms.CharField(max_length=100, strip=True)
    scope = forms.ChoiceField(choices=TokenScope.choices, initial=TokenScope.WRITE)
    team = forms.ChoiceField(required=False)
    expires = forms.ChoiceField(choices=EXPIRY_CHOICES, required=False)

    def __init__(self, *args: object, team_names: list[str], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fields["team"].choices = [("", "All my teams")] + [
            (n, n) for n in team_names
        ]


def _tokens_page(
    request: HttpRequest,
    actor: Actor,
    form: TokenForm,
    *,
    created: object = None,
    secret: str | None = None,
    status: int = 200,
) -> HttpResponse:
    assert actor.user is not None
    context = {
        "tokens": selectors.tokens_for_user(actor.user),
        "form": form,
        "created": created,
        "secret": secret,
        "server_url": request.build_absolute_uri("/api"),
        **header_context(actor, None),
    }
    return render(request, "users/tokens.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def tokens(request: HttpRequest) -> HttpResponse:
    """List the user's tokens and create one; a new secret is shown on this response only."""
    actor = Actor.from_request(request)
    team_names = [team.name for team, _ in selectors.teams_for_actor(actor)]
    if request.method == "GET":
        return _tokens_page(request, actor, TokenForm(team_names=team_names))

    form = TokenForm(request.POST, team_names=team_names)
    if not form.is_valid():
        return _tokens_page(request, actor, form, status=400)
    team = None
    if form.cleaned_data["team"]:
        team = selectors.team_get_for_member(actor, form.cleaned_data["team"])
    expires_at = None
    if form.cleaned_data["expires"]:
        expires_at = timezone.now() + timedelta(days=int(form.cleaned_data["expires"]))

    assert actor.user is not None
    try:
        token, secret = services.token_create(
            user=actor.user,
            name=form.cleaned_data["name"],
            scope=form.cleaned_data["scope"],
            team=team,
            expires_at=expires_at,
        )
    except InvalidInput as error:
        form.add_error(
            error.field if error.field in form.fields else None, error.message
        )
        return _tokens_page(request, actor, form, status=400)
    # The secret is not stored: it is shown on this response and never again,
    # so this page is rendered rather than redirected to.
    response = _tokens_page(
        request, actor, TokenForm(team_names=team_names), created=token, secret=secret
    )
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_POST
def token_revoke(request: HttpRequest, token_id: int) -> HttpResponse:
    assert request.user.is_authenticated
    try:
        token = services.token_revoke(user=request.user, token_id=token_id)  # type: ignore[arg-type]
    except NotFound:
        raise Http404("token not found") from None
    messages.success(request, f"Token {token.name} was revoked.")
    return HttpResponseRedirect(reverse("tokens"))


@login_required
@require_GET
@page
def team_tokens(request: HttpRequest, team: str) -> HttpResponse:
    """List the active tokens that reach a team, for its owners and admins."""
    actor = Actor.from_request(request)
    found = team_get_for_manager(actor, team)
    context = {
        "team": found,
        "tokens": list(tokens_reaching_team(found)),
        **header_context(actor, found),
    }
    return render(request, "users/team_tokens.html", context)


@login_required
@require_POST
@page
def team_token_revoke(request: HttpRequest, team: str, token_id: int) -> HttpResponse:
    actor = Actor.from_request(request)
    found = team_get_for_manager(actor, team)
    token = token_revoke_for_team(actor=actor, team=found, token_id=token_id)
    messages.success(
        request, f"Token {token.name} of {token.user.username} was revoked."
    )
    return HttpResponseRedirect(reverse("team-tokens", args=[found.name]))
