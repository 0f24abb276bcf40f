"""Team pages: create a team, its settings and members, invitations, shares.

Every form posts to a small view that calls one service and redirects back,
with the service's error as a flash message. Team lookups go through
`apps.users.selectors`, so a team the viewer does not belong to is a 404.
"""

from __future__ import annotations

from urllib.parse import quote, urlencode

from allauth.account.adapter import get_adapter
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.core.errors import DstackError
from apps.stacks.views import header_context, page
from apps.users import selectors, services
from apps.users.actors import Actor
from apps.users.models import Access, Role


def _settings_url(team: str) -> str:
    return reverse("team-settings", args=[team])


def _run(request: HttpRequest, action, success: str) -> bool:  # type: ignore[no-untyped-def]
    """Call `action`; flash its error or `success`, and tell whether it worked."""
    try:
        action()
    except DstackError as error:
        if error.status == 404:
            raise
        messages.error(request, error.message)
        return False
    messages.success(request, success)
    return True


@login_required
@require_http_methods(["GET", "POST"])
def team_new(request: HttpRequest) -> HttpResponse:
    actor = Actor.from_request(request)
    name = request.POST.get("name", "")
    error = None
    if request.method == "POST":
        try:
            team = services.team_create(actor=actor, name=name)
        except DstackError as failure:
            error = failure.message
        else:
            messages.success(request, f"Team {team.name} was created.")
            return HttpResponseRedirect(_settings_url(team.name))
    context = {"name": name, "error": error, **header_context(actor, None)}
    return render(request, "users/team_new.html", context, status=400 if error else 200)


@login_required
@require_GET
@page
def team_settings(request: HttpRequest, team: str) -> HttpResponse:
    """Show a team's settings; owners and admins see the forms that change it."""
    actor = Actor.from_request(request)
    team_obj = selectors.team_get_for_member(actor, team)
    role = actor.role_in(team_obj)
    is_manager = role in services.MANAGER_ROLES
    context = {
        "team": team_obj,
        "role": role,
        "is_owner": role == Role.OWNER,
        "is_manager": is_manager,
        "members": selectors.members_of(team_obj),
        "invitations": selectors.invitations_pending(team_obj) if is_manager else [],
        "roles": Role.values,
        "access_levels": Access.values,
        **header_context(actor, team_obj),
    }
    return render(request, "users/team_settings.html", context)


def _team_post(request: HttpRequest, team: str):  # type: ignore[no-untyped-def]
    actor = Actor.from_request(request)
    return actor, selectors.team_get_for_member(actor, team)


@login_required
@require_POST
@page
def team_rename(request: HttpRequest, team: str) -> HttpResponse:
    actor, team_obj = _team_post(request, team)
    name = request.POST.get("name", "")
    if _run(
        request,
        lambda: services.team_rename(actor=actor, team=team_obj, name=name),
        "The team was renamed.",
    ):
        return HttpResponseRedirect(_settings_url(team_obj.name))
    return HttpResponseRedirect(_settings_url(team))


@login_required
@require_POST
@page
def team_access(request: HttpRequest, team: str) -> HttpResponse:
    actor, team_obj = _team_post(request, team)
    access = request.POST.get("default_access", "")
    _run(
        request,
        lambda: services.team_set_default_access(
            actor=actor, team=team_obj, access=access
        ),
        f"New stacks of {team} start as {access}.",
    )
    return HttpResponseRedirect(_settings_url(team))


@login_required
@require_POST
@page
def team_remove(request: HttpRequest, team: str) -> HttpResponse:
    actor, team_obj = _team_post(request, team)
    if request.POST.get("confirm") != team_obj.name:
        messages.error(request, "Type the team's name to confirm the deletion.")
        return HttpResponseRedirect(_settings_url(team))
    if _run(
        request,
        lambda: services.team_delete(actor=actor, team=team_obj),
        f"Team {team} was deleted.",
    ):
        return HttpResponseRedirect("/")
    return HttpResponseRedirect(_settings_url(team))


@login_required
@require_POST
@page
def member_role(request: HttpRequest, team: str, username: str) -> HttpResponse:
    actor, team_obj = _team_post(request, team)
    role = request.POST.get("role", "")
    _run(
        request,
        lambda: services.membership_change_role(
            actor=actor, team=team_obj, username=username, role=role
        ),
        f"{username} is now {role}.",
    )
    return HttpResponseRedirect(_settings_url(team))


@login_required
@require_POST
@page
def member_remove(request: HttpRequest, team: str, username: str) -> HttpResponse:
    actor, team_obj = _team_post(request, team)
    leaving = username == request.user.get_username()
    if _run(
        request,
        lambda: services.membership_remove(
            actor=actor, team=team_obj, username=username
        ),
        f"You left {team}." if leaving else f"{username} was removed from {team}.",
    ):
        if leaving:
            return HttpResponseRedirect("/")
    return HttpResponseRedirect(_settings_url(team))


@login_required
@require_POST
@page
def invitation_new(request: HttpRequest, team: str) -> HttpResponse:
    actor, team_obj = _team_post(request, team)
    email = request.POST.get("email", "")
    role = request.POST.get("role", "")
    _run(
        request,
        lambda: services.invitation_create(
            actor=actor, team=team_obj, email=email, role=role
        ),
        f"An invitation was sent to {email.strip()}.",
    )
    return HttpResponseRedirect(_settings_url(team))


@login_required
@require_POST
@page
def invitation_revoke(
    request: HttpRequest, team: str, invitation_id: int
) -> HttpResponse:
    actor, team_obj = _team_post(request, team)
    _run(
        request,
        lambda: services.invitation_revoke(
            actor=actor, team=team_obj, invitation_id=invitation_id
        ),
        "The invitation was revoked.",
    )
    return HttpResponseRedirect(_settings_url(team))


@require_http_methods(["GET", "POST"])
def invitation_open(request: HttpRequest, token: str) -> HttpResponse:
    """Show an invitation; a signed-in visitor accepts it, others sign in first."""
    actor = Actor.from_request(request)
    try:
        invitation = services.invitation_get_for_secret(token)
    except DstackError:
        context = {"invitation": None, **header_context(actor, None)}
        return render(request, "users/invitation.html", context, status=404)

    if request.method == "POST" and actor.is_authenticated:
        try:
            accepted = services.invitation_accept(actor=actor, secret=token)
        except DstackError as error:
            messages.error(request, error.message)
            return HttpResponseRedirect(request.path)
        if accepted.share is not None:
            messages.success(request, "The share is yours now.")
            return HttpResponseRedirect(reverse("shared"))
        messages.success(request, f"You joined {accepted.team.name}.")
        return HttpResponseRedirect(f"/{accepted.team.name}")

    next_url = quote(request.path)
    signup_query = urlencode(
        {"next": request.path, "email": invitation.email}, safe="/"
    )
    if not actor.is_authenticated:
        # The link reached this visitor through the invited address, so
        # allauth may treat a sign-up with that address as verified.
        get_adapter(request).stash_verified_email(request, invitation.email)
    context = {
        "invitation": invitation,
        "login_url": f"{reverse('login')}?next={next_url}",
        "signup_url": f"/accounts/signup?{signup_query}",
        **header_context(actor, None),
    }
    return render(request, "users/invitation.html", context)


@login_required
@require_GET
def shared_with_me(request: HttpRequest) -> HttpResponse:
    from apps.registry.selectors import models_shared_with
    from apps.reports.selectors import reports_shared_with
    from apps.stacks.selectors import stacks_shared_with

    actor = Actor.from_request(request)
    context = {
        "stacks": list(stacks_shared_with(actor)),
        "reports": list(reports_shared_with(actor)),
        "models": list(models_shared_with(actor)),
        **header_context(actor, None),
    }
    return render(request, "users/shared.html", context)
