"""The access matrix: every route of the API and the pages, for every caller.

`test_every_route_has_an_entry` walks the URL configuration, so a new
route without an entry in `CASES` fails until someone writes down who may
call it. Each case is one route and one method, and sometimes a variant
such as a stack's access level. Its expectations are a dict of caller to
outcome, built by the rule functions below from each caller's standing in
team `acme`:

- owner, admin, member, viewer: alice, bob, carol and dave with those roles;
- outsider: eve, signed in, of no team but her own;
- anonymous: no credentials;
- other_team_token: alice's token limited to her personal team;
- readonly_token: alice's read-only token;
- revoked_token, expired_token: alice's tokens that no longer work;
- share_viewer, share_editor: ivan and judy, signed in, of no team but
  their own, whom model `churn` is shared with as a viewer and as an
  editor. Only the model cases, and the pages that list what is shared,
  name them; to everything else they are outsiders.

The rules: bad or missing credentials get 401 with `WWW-Authenticate:
Bearer` on the API, and a redirect to sign in on pages. An object the caller
may not see is a 404, never a 403. A caller who sees an object but may not
change it gets 403. Pages use sessions only, so a token is anonymous there.
A 5xx is never expected, so it always fails.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib.messages import ERROR, get_messages
from django.urls import resolve

from tests.access.conftest import (
    CALLERS,
    PENDING,
    SESSION_USERS,
    SHARE_CALLERS,
    World,
)
from tests.access.urlconf import walked_routes
from tests.pushing import Obj

# A page's redirect to the sign-in page, and a form's redirect back to where
# it was posted from with an error message, which is how the team settings
# forms reject a change.
LOGIN = "302 to sign-in"
REFUSED = "302 with an error message"

Outcome = int | str
Expect = dict[str, Outcome]

BAD_CREDENTIALS = ("anonymous", "revoked_token", "expired_token")
# The role in acme each caller acts with. The outsider and the token
# limited to alice's personal team have none.
ROLE = {
    "owner": "owner",
    "admin": "admin",
    "member": "member",
    "viewer": "viewer",
    "readonly_token": "owner",
}
EVERY_ROLE = frozenset({"owner", "admin", "member", "viewer"})
WRITERS = frozenset({"owner", "admin", "member"})
MANAGERS = frozenset({"owner", "admin"})
OWNERS = frozenset({"owner"})


# -- rules --------------------------------------------------------------------


def everyone(ok: Outcome) -> Expect:
    return dict.fromkeys(CALLERS, ok)


def _allowed(caller: str, roles: frozenset[str], write: bool) -> bool:
    read_only = caller == "readonly_token" and write
    return ROLE[caller] in roles and not read_only


def api_team(
    ok: Outcome, roles: frozenset[str] = EVERY_ROLE, *, write: bool = False
) -> Expect:
    """Return the outcomes for an object of acme, which `roles` may use.

    With `write`, a read-only token gets 403 whatever its user's role.
    """
    expect: Expect = {}
    for caller in CALLERS:
        if caller in BAD_CREDENTIALS:
            expect[caller] = 401
        elif caller not in ROLE:
            expect[caller] = 404
        else:
            expect[caller] = ok if _allowed(caller, roles, write) else 403
    return expect


def api_signed_in(ok: Outcome) -> Expect:
    return {caller: 401 if caller in BAD_CREDENTIALS else ok for caller in CALLERS}


def api_public(ok: Outcome) -> Expect:
    """Return the outcomes for a public object: a broken token still fails."""
    return {**api_signed_in(ok), "anonymous": ok}


def api_internal(ok: Outcome) -> Expect:
    return {**api_signed_in(ok), "other_team_token": 404}


def api_public_write(ok: Outcome) -> Expect:
    """Return the outcomes for a change to a public stack, which anyone can read."""
    expect = api_team(ok, WRITERS, write=True)
    return {**expect, "outsider": 403, "other_team_token": 403}


def page_signed_in(ok: Outcome) -> Expect:
    return {caller: ok if caller in SESSION_USERS else LOGIN for caller in CALLERS}


def page_team(
    ok: Outcome,
    roles: frozenset[str] = EVERY_ROLE,
    *,
    write: bool = False,
    refused: Outcome = 403,
) -> Expect:
    """Return the outcomes for a page of an object of acme: `ok` for `roles`."""
    expect = page_signed_in(ok)
    for caller in SESSION_USERS:
        if caller not in ROLE:
            expect[caller] = 404
        elif not _allowed(caller, roles, write):
            expect[caller] = refused
    return expect


def page_public_write(ok: Outcome) -> Expect:
    expect = page_team(ok, WRITERS, write=True)
    return {**expect, "outsider": 403}


def shared(expect: Expect, *, viewer: Outcome, editor: Outcome) -> Expect:
    """Add the outcomes of ivan and judy, whom model `churn` is shared with."""
    return {**expect, "share_viewer": viewer, "share_editor": editor}


def unshared(expect: Expect) -> Expect:
    """Add ivan and judy as outsiders, for an object not shared with them."""
    return shared(expect, viewer=expect["outsider"], editor=expect["outsider"])


def model_edit(expect: Expect, ok: Outcome) -> Expect:
    """Add ivan's 403 and judy's `ok`: an editor share allows this on `churn`."""
    return shared(expect, viewer=403, editor=ok)


def model_manage(expect: Expect) -> Expect:
    """Add 403 for ivan and judy: this stays with acme's members, share or not."""
    return shared(expect, viewer=403, editor=403)


# -- the table ------------------------------------------------------------------

S = "sales/by-region"
PUBLIC = "open/public"
INTERNAL = "open/internal"
STACKS = {"": S, "public": PUBLIC, "internal": INTERNAL}
API_READ = {"": api_team, "public": api_public, "internal": api_internal}
PAGE_READ = {"": page_team, "public": everyone, "internal": page_signed_in}


@dataclass(frozen=True)
class Case:
    """One route and one method: the URL, the body, and each caller's outcome.

    `url` is a `str.format` template, filled from `World.values()`. A
    callable `body` is called with the world.
    """

    name: str
    method: str
    url: str
    expect: Expect
    body: Any = None
    content_type: str | None = None
    variant: str = ""

    @property
    def id(self) -> str:
        label = f"{self.name}[{self.variant}]" if self.variant else self.name
        return f"{label}-{self.method.upper()}"


def api_stack(
    name: str, suffix: str, ok: Outcome = 200, method: str = "get"
) -> list[Case]:
    """Return the cases of a read of one stack URL, at each access level."""
    return [
        Case(
            name,
            method,
            f"/api/teams/acme/stacks/{path}{suffix}",
            API_READ[level](ok),
            variant=level,
        )
        for level, path in STACKS.items()
    ]


def page_stack(name: str, suffix: str) -> list[Case]:
    return [
        Case(name, "get", f"/acme/{path}{suffix}", PAGE_READ[level](200), variant=level)
        for level, path in STACKS.items()
    ]


def _push_body(world: World) -> dict[str, Any]:
    return {"attachments": [Obj(b"new bytes", inline=True).announce()]}


API = "/api/teams/acme"
STACK = f"{API}/stacks/{S}"
REVISION = f"{STACK}/-/revisions/1"
ATTACHMENT = f"{REVISION}/attachments/0"
SETTINGS = "/settings/teams/acme"
JOB = f"{API}/jobs/nightly"
JOB_PAGE = "/acme/-/jobs/nightly"
PAGE = f"/acme/{S}"
REPORT = API + "/reports/{report}"
REPORT_PAGE = "/acme/-/reports/{report}"
REPORTS = {"": "{report}", "public": "{public_report}", "internal": "{internal_report}"}


def api_report(name: str, suffix: str) -> list[Case]:
    """Return the cases of a read of one report URL, at each access level."""
    return [
        Case(
            name,
            "get",
            f"{API}/reports/{report}{suffix}",
            API_READ[level](200),
            variant=level,
        )
        for level, report in REPORTS.items()
    ]


def page_report(name: str, suffix: str) -> list[Case]:
    return [
        Case(
            name,
            "get",
            f"/acme/-/reports/{report}{suffix}",
            PAGE_READ[level](200),
            variant=level,
        )
        for level, report in REPORTS.items()
    ]


MODEL = f"{API}/models/churn"
OPEN_MODEL = f"{API}/models/open-model"
MODEL_PAGE = "/acme/-/models/churn"
OPEN_MODEL_PAGE = "/acme/-/models/open-model"
EMPTY_MODEL = f"{API}/models/retired"
EMPTY_MODEL_PAGE = "/acme/-/models/retired"


def _model_push_body(world: World) -> dict[str, Any]:
    return {
        "flavor": "files",
        "files": [
            {
                "path": "model.bin",
                "size": 3,
                "sha256": hashlib.sha256(b"new").hexdigest(),
                "data": "bmV3",
            }
        ],
    }


def api_model(
    name: str, suffix: str, ok: Outcome = 200, method: str = "get"
) -> list[Case]:
    """Return the cases of a read of one model URL, private and public."""
    return [
        Case(
            name,
            method,
            f"{MODEL}{suffix}",
            shared(api_team(ok), viewer=ok, editor=ok),
        ),
        Case(
            name,
            method,
            f"{OPEN_MODEL}{suffix}",
            unshared(api_public(ok)),
            variant="public",
        ),
    ]


def page_model(name: str, suffix: str) -> list[Case]:
    return [
        Case(
            name,
            "get",
            f"{MODEL_PAGE}{suffix}",
            shared(page_team(200), viewer=200, editor=200),
        ),
        Case(
            name,
            "get",
            f"{OPEN_MODEL_PAGE}{suffix}",
            unshared(everyone(200)),
            variant="public",
        ),
    ]


# Outsiders list a team's public and internal models, as its stacks. Ivan
# and judy read `churn` through their shares. Judy, the editor, also pushes,
# moves aliases and edits the text. Only acme's writers change access,
# delete or share.
REGISTRY_API_CASES = [
    Case("api-models", "get", f"{API}/models", unshared(api_public(200))),
    *api_model("api-model", ""),
    Case(
        "api-model",
        "patch",
        MODEL,
        model_edit(api_team(200, WRITERS, write=True), 200),
        body={"description": "new"},
    ),
    Case(
        "api-model",
        "patch",
        MODEL,
        model_manage(api_team(200, WRITERS, write=True)),
        body={"access": "internal"},
        variant="access",
    ),
    Case(
        "api-model",
        "patch",
        OPEN_MODEL,
        unshared(api_public_write(200)),
        body={"tags": {"stage": "beta"}},
        variant="public",
    ),
    Case(
        "api-model", "delete", MODEL, model_manage(api_team(204, WRITERS, write=True))
    ),
    Case(
        "api-model",
        "delete",
        OPEN_MODEL,
        unshared(api_public_write(204)),
        variant="public",
    ),
    *api_model("api-model-versions", "/versions"),
    Case(
        "api-model-versions",
        "post",
        f"{MODEL}/versions",
        model_edit(api_team(201, WRITERS, write=True), 201),
        body=_model_push_body,
    ),
    # A push to a public model: those who read it may not push to it.
    Case(
        "api-model-versions",
        "post",
        f"{OPEN_MODEL}/versions",
        unshared(api_public_write(201)),
        body=_model_push_body,
        variant="public",
    ),
    Case(
        "api-model-commit",
        "post",
        MODEL + "/pushes/{model_push}/commit",
        model_edit(api_team(200, WRITERS, write=True), 200),
        body={},
    ),
    *api_model("api-model-version", "/versions/1"),
    Case(
        "api-model-version",
        "patch",
        f"{MODEL}/versions/1",
        model_edit(api_team(200, WRITERS, write=True), 200),
        body={"tags": {"checked": "yes"}},
    ),
    Case(
        "api-model-version",
        "delete",
        f"{MODEL}/versions/1",
        model_manage(api_team(204, WRITERS, write=True)),
    ),
    Case(
        "api-model-version",
        "delete",
        f"{OPEN_MODEL}/versions/1",
        unshared(api_public_write(204)),
        variant="public",
    ),
    *api_model("api-model-file", "/versions/1/files/0"),
    *api_model("api-model-download", "/versions/1/files/0/download", 302),
    # Reporting a file whose download failed its sha256 is a read: whoever
    # may read the file may ask the server to re-read it.
    *api_model("api-model-file-verify", "/versions/1/files/0/verify", method="post"),
    *api_model("api-model-aliases", "/aliases"),
    *api_model("api-model-alias", "/aliases/latest"),
    Case(
        "api-model-alias",
        "get",
        f"{MODEL}/aliases/production",
        shared(api_team(200), viewer=200, editor=200),
        variant="named",
    ),
    Case(
        "api-model-alias",
        "put",
        f"{MODEL}/aliases/production",
        model_edit(api_team(200, WRITERS, write=True), 200),
        body={"version": 2},
    ),
    Case(
        "api-model-alias",
        "put",
        f"{OPEN_MODEL}/aliases/production",
        unshared(api_public_write(200)),
        body={"version": 1},
        variant="public",
    ),
    Case(
        "api-model-alias",
        "delete",
        f"{MODEL}/aliases/production",
        model_manage(api_team(204, WRITERS, write=True)),
    ),
    # Members see who a model is shared with; the people it is shared with
    # read the model but not its shares.
    Case(
        "api-model-shares",
        "get",
        f"{MODEL}/shares",
        model_manage(api_team(200)),
    ),
    Case(
        "api-model-shares",
        "get",
        f"{OPEN_MODEL}/shares",
        unshared({**api_team(200), "outsider": 403, "other_team_token": 403}),
        variant="public",
    ),
    Case(
        "api-model-shares",
        "post",
        f"{MODEL}/shares",
        model_manage(api_team(201, WRITERS, write=True)),
        body={"username": "frank", "role": "editor"},
    ),
    Case(
        "api-model-shares",
        "post",
        f"{OPEN_MODEL}/shares",
        unshared(api_public_write(201)),
        body={"username": "frank", "role": "viewer"},
        variant="public",
    ),
    Case(
        "api-model-share",
        "patch",
        MODEL + "/shares/{model_share}",
        model_manage(api_team(200, WRITERS, write=True)),
        body={"role": "editor"},
    ),
    Case(
        "api-model-share",
        "delete",
        MODEL + "/shares/{model_share}",
        model_manage(api_team(204, WRITERS, write=True)),
    ),
    # A model whose versions were all deleted reads as usual. Its latest
    # version is a 404 for readers too, and the boundaries stay the same.
    Case("api-model", "get", EMPTY_MODEL, api_team(200), variant="empty"),
    Case(
        "api-model-versions",
        "get",
        f"{EMPTY_MODEL}/versions",
        api_team(200),
        variant="empty",
    ),
    Case(
        "api-model-alias",
        "get",
        f"{EMPTY_MODEL}/aliases/latest",
        api_team(404),
        variant="empty",
    ),
    Case(
        "api-model-alias",
        "put",
        f"{EMPTY_MODEL}/aliases/production",
        api_team(400, WRITERS, write=True),
        body={"version": 1},
        variant="empty",
    ),
]

REGISTRY_PAGE_CASES = [
    # Anyone reads acme's models page, which lists what they may read.
    Case("models", "get", "/acme/-/models", unshared(everyone(200))),
    *page_model("model", ""),
    *page_model("model-version", "/versions/1"),
    *page_model("model-compare", "/compare"),
    Case("model", "get", EMPTY_MODEL_PAGE, page_team(200), variant="empty"),
    Case(
        "model-compare",
        "get",
        f"{EMPTY_MODEL_PAGE}/compare",
        page_team(200),
        variant="empty",
    ),
    Case(
        "model-alias-move",
        "post",
        f"{MODEL_PAGE}/aliases",
        model_edit(page_team(302, WRITERS, write=True), 302),
        body={"alias": "staging", "version": "2"},
    ),
    Case(
        "model-alias-move",
        "post",
        f"{OPEN_MODEL_PAGE}/aliases",
        unshared(page_public_write(302)),
        body={"alias": "staging", "version": "1"},
        variant="public",
    ),
    Case(
        "model-alias-delete",
        "post",
        f"{MODEL_PAGE}/aliases/production/delete",
        model_manage(page_team(302, WRITERS, write=True)),
    ),
    Case(
        "model-settings",
        "post",
        f"{MODEL_PAGE}/settings",
        model_manage(page_team(302, WRITERS, write=True)),
        body={"description": "new", "access": "private"},
    ),
    # The form an editor through a share gets has no access field.
    Case(
        "model-settings",
        "post",
        f"{MODEL_PAGE}/settings",
        model_edit(page_team(302, WRITERS, write=True), 302),
        body={"description": "new"},
        variant="description",
    ),
    Case(
        "model-share",
        "post",
        f"{MODEL_PAGE}/shares",
        model_manage(page_team(302, WRITERS, write=True)),
        body={"recipient": "frank", "role": "editor"},
    ),
    Case(
        "model-unshare",
        "post",
        MODEL_PAGE + "/shares/{model_share}/delete",
        model_manage(page_team(302, WRITERS, write=True)),
    ),
    Case(
        "model-delete",
        "post",
        f"{MODEL_PAGE}/delete",
        model_manage(page_team(302, WRITERS, write=True)),
        body={"confirm": "churn"},
    ),
    Case(
        "model-delete",
        "post",
        f"{OPEN_MODEL_PAGE}/delete",
        unshared(page_public_write(302)),
        body={"confirm": "open-model"},
        variant="public",
    ),
    Case(
        "model-version-delete",
        "post",
        f"{MODEL_PAGE}/versions/1/delete",
        model_manage(page_team(302, WRITERS, write=True)),
    ),
]

API_CASES = [
    Case("api-schema", "get", "/api/schema", api_public(200)),
    Case("api-docs", "get", "/api/docs", api_public(200)),
    Case("api-user", "get", "/api/user", api_signed_in(200)),
    # `dstack login` starts without credentials, so these two read none.
    Case("api-device", "post", "/api/auth/device", everyone(200), body={}),
    Case(
        "api-device-token",
        "post",
        "/api/auth/device/token",
        everyone(400),
        body=lambda world: {"device_code": world.device_code},
    ),
    # A token limited to one team manages no tokens, which reach other teams.
    Case(
        "api-tokens",
        "get",
        "/api/tokens",
        {**api_signed_in(200), "other_team_token": 403},
    ),
    # Tokens are created in the browser: no token mints another.
    Case("api-tokens", "post", "/api/tokens", api_signed_in(403), body={"name": "x"}),
    # Alice's spare token: her other tokens revoke it, unless read-only or
    # limited to one team. Anyone else's token finds no such token.
    Case(
        "api-token",
        "delete",
        "/api/tokens/{token}",
        {
            **api_signed_in(404),
            "owner": 204,
            "other_team_token": 403,
            "readonly_token": 403,
        },
    ),
    Case("api-team-audit", "get", f"{API}/audit", api_team(200, MANAGERS)),
    Case("api-team-tokens", "get", f"{API}/tokens", api_team(200, MANAGERS)),
    Case(
        "api-team-token",
        "delete",
        API + "/tokens/{member_token}",
        api_team(204, MANAGERS, write=True),
    ),
    # Only owners revoke the tokens of owners, such as alice's spare one.
    Case(
        "api-team-token",
        "delete",
        API + "/tokens/{token}",
        api_team(204, OWNERS, write=True),
        variant="owner-token",
    ),
    Case("api-teams", "get", "/api/teams", api_signed_in(200)),
    Case(
        "api-teams",
        "post",
        "/api/teams",
        {**api_signed_in(201), "readonly_token": 403, "other_team_token": 403},
        body={"name": "labs"},
    ),
    Case("api-team", "get", API, api_team(200)),
    Case(
        "api-team",
        "patch",
        API,
        api_team(200, MANAGERS, write=True),
        body={"default_access": "internal"},
    ),
    Case("api-team", "delete", API, api_team(204, OWNERS, write=True)),
    Case("api-members", "get", f"{API}/members", api_team(200)),
    Case(
        "api-member",
        "patch",
        f"{API}/members/carol",
        api_team(200, MANAGERS, write=True),
        body={"role": "viewer"},
    ),
    # Carol is the member: removing herself is leaving.
    Case(
        "api-member",
        "delete",
        f"{API}/members/carol",
        {**api_team(204, MANAGERS, write=True), "member": 204},
    ),
    Case("api-invitations", "get", f"{API}/invitations", api_team(200, MANAGERS)),
    Case(
        "api-invitations",
        "post",
        f"{API}/invitations",
        api_team(201, MANAGERS, write=True),
        body={"email": "heidi@example.com", "role": "viewer"},
    ),
    Case(
        "api-invitation",
        "delete",
        API + "/invitations/{invitation}",
        api_team(204, MANAGERS, write=True),
    ),
    # The invitation is eve's: other accounts see it through the link but
    # may not accept it.
    Case(
        "api-invitation-accept",
        "post",
        "/api/invitations/{secret}/accept",
        {**api_signed_in(403), "outsider": 200},
    ),
    Case("api-shared", "get", "/api/shared", unshared(api_signed_in(200))),
    # Outsiders list a team's public and internal stacks, anonymous callers
    # its public ones; apps/stacks/tests/test_access.py checks which.
    Case("api-stacks", "get", f"{API}/stacks", api_public(200)),
    Case(
        "api-upload",
        "get",
        API + "/uploads/{upload}",
        api_team(200, WRITERS, write=True),
    ),
    *api_stack("api-download", "/-/revisions/1/attachments/0/download", 302),
    *api_stack("api-table", "/-/revisions/1/attachments/0/table"),
    # Reporting an attachment whose download failed its sha256 is a read.
    *api_stack(
        "api-attachment-verify",
        "/-/revisions/1/attachments/0/verify",
        method="post",
    ),
    *api_stack("api-attachment", "/-/revisions/1/attachments/0"),
    Case(
        "api-commit",
        "post",
        f"{STACK}/-/revisions/3/commit",
        api_team(200, WRITERS, write=True),
        body=lambda world: world.commit_body,
    ),
    *api_stack("api-revision", "/-/revisions/1"),
    Case("api-revision", "delete", REVISION, api_team(204, WRITERS, write=True)),
    Case(
        "api-revision",
        "delete",
        f"{API}/stacks/{PUBLIC}/-/revisions/1",
        api_public_write(204),
        variant="public",
    ),
    *api_stack("api-revisions", "/-/revisions"),
    Case(
        "api-revisions",
        "post",
        f"{STACK}/-/revisions",
        api_team(201, WRITERS, write=True),
        body=_push_body,
    ),
    # A push into a public stack: those who read it may not push to it.
    Case(
        "api-revisions",
        "post",
        f"{API}/stacks/{PUBLIC}/-/revisions",
        api_public_write(201),
        body=_push_body,
        variant="public",
    ),
    Case("api-shares", "get", f"{STACK}/-/shares", api_team(200)),
    # Only members see who a stack is shared with, even a public one.
    Case(
        "api-shares",
        "get",
        f"{API}/stacks/{PUBLIC}/-/shares",
        {**api_team(200), "outsider": 403, "other_team_token": 403},
        variant="public",
    ),
    Case(
        "api-shares",
        "post",
        f"{STACK}/-/shares",
        api_team(200, WRITERS, write=True),
        body={"username": "frank", "role": "editor"},
    ),
    Case(
        "api-share",
        "delete",
        STACK + "/-/shares/{share}",
        api_team(204, WRITERS, write=True),
    ),
    *api_stack("api-stack", ""),
    Case(
        "api-stack",
        "patch",
        STACK,
        api_team(200, WRITERS, write=True),
        body={"head": 1},
    ),
    Case("api-stack", "delete", STACK, api_team(204, WRITERS, write=True)),
    Case(
        "api-stack",
        "patch",
        f"{API}/stacks/{PUBLIC}",
        api_public_write(200),
        body={"access": "private"},
        variant="public",
    ),
    Case(
        "api-stack",
        "delete",
        f"{API}/stacks/{PUBLIC}",
        api_public_write(204),
        variant="public",
    ),
    *REGISTRY_API_CASES,
    # Transfer URLs are signed: the URL is the credential, and an
    # Authorization header, even a broken one, is not read.
    Case(
        "transfer-part",
        "put",
        "{part}",
        everyone(200),
        body=PENDING,
        content_type="application/octet-stream",
    ),
    Case("transfer-blob", "get", "{blob}", everyone(200)),
    # Outsiders list a team's public and internal reports, anonymous callers
    # its public ones; apps/reports/tests/test_access.py checks which.
    Case("api-reports", "get", f"{API}/reports", api_public(200)),
    Case(
        "api-reports",
        "post",
        f"{API}/reports",
        api_team(201, WRITERS, write=True),
        body={"title": "New report"},
    ),
    *api_report("api-report", ""),
    Case(
        "api-report",
        "patch",
        REPORT,
        api_team(200, WRITERS, write=True),
        body={"title": "Renamed"},
    ),
    # Readers of a public report may not edit it.
    Case(
        "api-report",
        "patch",
        API + "/reports/{public_report}",
        api_public_write(200),
        body={"title": "Renamed"},
        variant="public",
    ),
    Case("api-report", "delete", REPORT, api_team(204, WRITERS, write=True)),
    Case(
        "api-report",
        "delete",
        API + "/reports/{public_report}",
        api_public_write(204),
        variant="public",
    ),
    Case(
        "api-report-cards",
        "post",
        f"{REPORT}/cards",
        api_team(201, WRITERS, write=True),
        body={"stack": S},
    ),
    Case(
        "api-report-card-order",
        "put",
        f"{REPORT}/cards/order",
        api_team(200, WRITERS, write=True),
        body=lambda world: {"order": world.report_cards[::-1]},
    ),
    Case(
        "api-report-card",
        "patch",
        REPORT + "/cards/{card}",
        api_team(200, WRITERS, write=True),
        body={"width": "half"},
    ),
    Case(
        "api-report-card",
        "delete",
        REPORT + "/cards/{card}",
        api_team(204, WRITERS, write=True),
    ),
    Case("api-report-shares", "get", f"{REPORT}/shares", api_team(200)),
    # Only members see who a report is shared with, even a public one.
    Case(
        "api-report-shares",
        "get",
        API + "/reports/{public_report}/shares",
        {**api_team(200), "outsider": 403, "other_team_token": 403},
        variant="public",
    ),
    # Frank has a share already, so this changes its role.
    Case(
        "api-report-shares",
        "post",
        f"{REPORT}/shares",
        api_team(200, WRITERS, write=True),
        body={"username": "frank", "role": "editor"},
    ),
    Case(
        "api-report-share",
        "delete",
        REPORT + "/shares/{report_share}",
        api_team(204, WRITERS, write=True),
    ),
    *api_report("api-report-export", "/export"),
    Case("api-jobs", "get", f"{API}/jobs", api_team(200)),
    Case(
        "api-jobs",
        "post",
        f"{API}/jobs",
        api_team(201, WRITERS, write=True),
        body={"name": "hourly", "code": "print(2)"},
    ),
    Case("api-job", "get", f"{JOB}", api_team(200)),
    Case(
        "api-job",
        "patch",
        f"{JOB}",
        api_team(200, WRITERS, write=True),
        body={"description": "changed"},
    ),
    Case("api-job", "delete", f"{JOB}", api_team(204, WRITERS, write=True)),
    Case("api-job-pause", "post", f"{JOB}/pause", api_team(200, WRITERS, write=True)),
    Case("api-job-resume", "post", f"{JOB}/resume", api_team(200, WRITERS, write=True)),
    Case("api-job-runs", "get", f"{JOB}/runs", api_team(200)),
    Case("api-job-runs", "post", f"{JOB}/runs", api_team(201, WRITERS, write=True)),
    Case("api-job-latest-run", "get", f"{JOB}/runs/latest", api_team(200)),
    Case("api-run", "get", "/api/runs/{run}", api_team(200)),
    Case(
        "api-run-cancel",
        "post",
        "/api/runs/{active_run}/cancel",
        api_team(200, WRITERS, write=True),
    ),
    Case("api-run-events", "get", "/api/runs/{run}/events", api_team(200)),
    Case("api-run-log", "get", "/api/runs/{run}/log", api_team(200)),
    Case(
        "api-schedule-preview",
        "get",
        "/api/schedule-preview",
        api_signed_in(200),
        body={"cron": "0 6 * * 1-5", "timezone": "Europe/Berlin"},
    ),
    Case("api-not-found", "get", "/api/nothing/here", everyone(404)),
]

# allauth's pages: the sign-in, sign-up and password reset pages are for
# anyone; the account's own pages need a session. Their bodies are wrong on
# purpose (a bad password, a code that does not exist), so that no caller
# changes anything, yet each form is submitted.
ACCOUNT_CASES = [
    Case(
        "login",
        "get",
        "/accounts/login",
        {**everyone(200), **dict.fromkeys(SESSION_USERS, 302)},
    ),
    Case(
        "login",
        "post",
        "/accounts/login",
        {**everyone(200), **dict.fromkeys(SESSION_USERS, 302)},
        body={"login": "alice", "password": "wrong"},
    ),
    Case("logout", "get", "/accounts/logout", page_signed_in(200)),
    # Signing out lands on the sign-in page, so everyone ends up there.
    Case("logout", "post", "/accounts/logout", everyone(LOGIN)),
    Case("account_inactive", "get", "/accounts/inactive", everyone(200)),
    Case(
        "account_signup",
        "get",
        "/accounts/signup",
        {**everyone(200), **dict.fromkeys(SESSION_USERS, 302)},
    ),
    Case(
        "account_signup",
        "post",
        "/accounts/signup",
        {**everyone(200), **dict.fromkeys(SESSION_USERS, 302)},
        body={"username": "alice", "email": "x", "password1": "a", "password2": "b"},
    ),
    Case(
        "account_reauthenticate", "get", "/accounts/reauthenticate", page_signed_in(200)
    ),
    # No code was sent, so allauth steps back to the page before.
    Case(
        "account_request_reauthentication_code",
        "get",
        "/accounts/reauthenticate/code",
        page_signed_in(302),
    ),
    Case(
        "account_confirm_reauthentication_code",
        "get",
        "/accounts/reauthenticate/code/confirm",
        page_signed_in(302),
    ),
    Case("account_email", "get", "/accounts/email", page_signed_in(200)),
    Case(
        "account_email_verification_sent",
        "get",
        "/accounts/confirm-email",
        everyone(200),
    ),
    Case(
        "account_change_password",
        "get",
        "/accounts/password/change",
        page_signed_in(200),
    ),
    Case(
        "account_change_password",
        "post",
        "/accounts/password/change",
        page_signed_in(200),
        body={"oldpassword": "wrong", "password1": "x", "password2": "y"},
    ),
    # Users with a password are sent on to the change page.
    Case("account_set_password", "get", "/accounts/password/set", page_signed_in(302)),
    Case("account_reset_password", "get", "/accounts/password/reset", everyone(200)),
    Case(
        "account_reset_password",
        "post",
        "/accounts/password/reset",
        everyone(302),
        body={"email": "nobody@example.com"},
    ),
    # Without a code sent, both end on the sign-in page or the home page.
    Case(
        "account_confirm_login_code",
        "get",
        "/accounts/login/code/confirm",
        {**everyone(LOGIN), **dict.fromkeys(SESSION_USERS, 302)},
    ),
    Case(
        "account_confirm_email", "get", "/accounts/confirm-email/nokey", everyone(200)
    ),
    Case(
        "account_confirm_email", "post", "/accounts/confirm-email/nokey", everyone(404)
    ),
    Case(
        "account_reset_password_from_key_done",
        "get",
        "/accounts/password/reset/key/done",
        everyone(200),
    ),
    Case(
        "account_reset_password_from_key",
        "get",
        "/accounts/password/reset/key/1-nokey",
        everyone(200),
    ),
    Case(
        "account_reset_password_done",
        "get",
        "/accounts/password/reset/done",
        everyone(200),
    ),
    Case(
        "socialaccount_login_cancelled",
        "get",
        "/accounts/3rdparty/login/cancelled/",
        everyone(200),
    ),
    # allauth renders its sign-in error page with status 401.
    Case(
        "socialaccount_login_error",
        "get",
        "/accounts/3rdparty/login/error/",
        everyone(401),
    ),
    # Without a sign-in in progress at the provider, back to sign-in.
    Case("socialaccount_signup", "get", "/accounts/3rdparty/signup/", everyone(LOGIN)),
    Case(
        "socialaccount_connections", "get", "/accounts/3rdparty/", page_signed_in(200)
    ),
    # No OpenID Connect provider is configured in the tests.
    Case("openid_connect_login", "get", "/accounts/oidc/oidc/login/", everyone(404)),
]

PAGE_CASES = [
    Case("healthz", "get", "/healthz", everyone(200)),
    Case("livez", "get", "/livez", everyone(200)),
    # Site-wide figures: the metrics token or staff only, and nobody in the
    # cast is staff; apps/core/tests/test_metrics.py checks who may read them.
    Case(
        "metrics",
        "get",
        "/metrics",
        {**everyone(403), **dict.fromkeys(BAD_CREDENTIALS, 401)},
    ),
    # A sign-in link signs in its own user, frank, whoever opens it.
    Case("sign-in-link", "get", "/accounts/link/{link}", everyone(302)),
    Case("device", "get", "/auth/device", page_signed_in(200)),
    Case(
        "device",
        "post",
        "/auth/device",
        page_signed_in(200),
        body=lambda world: {
            "code": world.user_code,
            "scope": "read",
            "decision": "approve",
        },
    ),
    Case("home", "get", "/", page_signed_in(302)),
    Case("team-new", "get", "/settings/teams/new", page_signed_in(200)),
    Case(
        "team-new",
        "post",
        "/settings/teams/new",
        page_signed_in(302),
        body={"name": "labs"},
    ),
    Case("team-settings", "get", SETTINGS, page_team(200)),
    Case(
        "team-rename",
        "post",
        f"{SETTINGS}/rename",
        page_team(302, OWNERS, refused=REFUSED),
        body={"name": "acme-corp"},
    ),
    Case(
        "team-access",
        "post",
        f"{SETTINGS}/access",
        page_team(302, MANAGERS, refused=REFUSED),
        body={"default_access": "internal"},
    ),
    Case(
        "team-delete",
        "post",
        f"{SETTINGS}/delete",
        page_team(302, OWNERS, refused=REFUSED),
        body={"confirm": "acme"},
    ),
    Case(
        "member-role",
        "post",
        f"{SETTINGS}/members/carol/role",
        page_team(302, MANAGERS, refused=REFUSED),
        body={"role": "viewer"},
    ),
    Case(
        "member-remove",
        "post",
        f"{SETTINGS}/members/carol/remove",
        {**page_team(302, MANAGERS, refused=REFUSED), "member": 302},
    ),
    Case(
        "invitation-new",
        "post",
        f"{SETTINGS}/invitations",
        page_team(302, MANAGERS, refused=REFUSED),
        body={"email": "heidi@example.com", "role": "viewer"},
    ),
    Case(
        "invitation-revoke",
        "post",
        SETTINGS + "/invitations/{invitation}/revoke",
        page_team(302, MANAGERS, refused=REFUSED),
    ),
    Case("team-audit", "get", f"{SETTINGS}/audit", page_team(200, MANAGERS)),
    # Nobody in the cast is staff; apps/audit/tests check the staff's view.
    Case("staff-audit", "get", "/-/audit", page_signed_in(403)),
    Case("team-tokens", "get", f"{SETTINGS}/tokens", page_team(200, MANAGERS)),
    Case(
        "team-token-revoke",
        "post",
        SETTINGS + "/tokens/{member_token}/revoke",
        page_team(302, MANAGERS),
    ),
    Case(
        "team-token-revoke",
        "post",
        SETTINGS + "/tokens/{token}/revoke",
        page_team(302, OWNERS),
        variant="owner-token",
    ),
    # Anyone with the link reads eve's invitation; only eve accepts it.
    Case("invitation", "get", "/invitations/{secret}", everyone(200)),
    Case(
        "invitation",
        "post",
        "/invitations/{secret}",
        {**everyone(200), **dict.fromkeys(SESSION_USERS, REFUSED), "outsider": 302},
    ),
    Case("shared", "get", "/shared", unshared(page_signed_in(200))),
    Case("tokens", "get", "/settings/tokens", page_signed_in(200)),
    Case(
        "tokens",
        "post",
        "/settings/tokens",
        page_signed_in(200),
        body={"name": "new", "scope": "read"},
    ),
    # Alice's spare token: nobody else finds it.
    Case(
        "token-revoke",
        "post",
        "/settings/tokens/{token}/revoke",
        {**page_signed_in(404), "owner": 302},
    ),
    *page_stack("attachment-html", "/-/revisions/1/attachments/1/html"),
    Case(
        "revision-head",
        "post",
        f"{PAGE}/-/revisions/1/head",
        page_team(302, WRITERS, write=True),
    ),
    Case(
        "revision-delete",
        "post",
        f"{PAGE}/-/revisions/1/delete",
        page_team(302, WRITERS, write=True),
    ),
    *page_stack("stack-revisions", "/-/revisions"),
    Case(
        "stack-settings",
        "get",
        f"{PAGE}/-/settings",
        page_team(200, WRITERS, write=True),
    ),
    Case(
        "stack-settings",
        "get",
        f"/acme/{PUBLIC}/-/settings",
        page_public_write(200),
        variant="public",
    ),
    Case(
        "stack-settings",
        "post",
        f"{PAGE}/-/settings",
        page_team(302, WRITERS, write=True),
        body={"access": "internal", "retention": ""},
    ),
    Case(
        "stack-delete",
        "post",
        f"{PAGE}/-/delete",
        page_team(302, WRITERS, write=True),
        body={"confirm": S},
    ),
    Case(
        "stack-delete",
        "post",
        f"/acme/{PUBLIC}/-/delete",
        page_public_write(302),
        body={"confirm": PUBLIC},
        variant="public",
    ),
    Case(
        "stack-share",
        "post",
        f"{PAGE}/-/shares",
        page_team(302, WRITERS, write=True),
        body={"recipient": "frank", "role": "editor"},
    ),
    Case(
        "stack-unshare",
        "post",
        PAGE + "/-/shares/{share}/delete",
        page_team(302, WRITERS, write=True),
    ),
    # Anyone reads acme's reports page, which lists what they may read.
    Case("reports", "get", "/acme/-/reports", everyone(200)),
    Case(
        "reports",
        "post",
        "/acme/-/reports",
        page_team(302, WRITERS, write=True),
        body={"title": "New report"},
    ),
    *page_report("report", ""),
    Case(
        "report-settings",
        "get",
        f"{REPORT_PAGE}/settings",
        page_team(200, WRITERS, write=True),
    ),
    Case(
        "report-settings",
        "get",
        "/acme/-/reports/{public_report}/settings",
        page_public_write(200),
        variant="public",
    ),
    Case(
        "report-settings",
        "post",
        f"{REPORT_PAGE}/settings",
        page_team(302, WRITERS, write=True),
        body={"access": "internal"},
    ),
    Case(
        "report-share",
        "post",
        f"{REPORT_PAGE}/shares",
        page_team(302, WRITERS, write=True),
        body={"recipient": "frank", "role": "editor"},
    ),
    Case(
        "report-unshare",
        "post",
        REPORT_PAGE + "/shares/{report_share}/delete",
        page_team(302, WRITERS, write=True),
    ),
    Case(
        "report-delete",
        "post",
        f"{REPORT_PAGE}/delete",
        page_team(302, WRITERS, write=True),
        body={"confirm": "private review"},
    ),
    Case("job-list", "get", "/acme/-/jobs", page_team(200)),
    Case("job-new", "get", "/acme/-/jobs/new", page_team(200, WRITERS, write=True)),
    Case(
        "job-new",
        "post",
        "/acme/-/jobs/new",
        page_team(302, WRITERS, write=True),
        body={"name": "weekly", "source": "inline", "code": "print(3)"},
    ),
    Case("job-detail", "get", JOB_PAGE, page_team(200)),
    Case("job-edit", "get", f"{JOB_PAGE}/edit", page_team(200, WRITERS, write=True)),
    Case(
        "job-edit",
        "post",
        f"{JOB_PAGE}/edit",
        page_team(302, WRITERS, write=True),
        body={"name": "nightly", "source": "inline", "code": "print(4)"},
    ),
    Case("job-run-now", "post", f"{JOB_PAGE}/run", page_team(302, WRITERS, write=True)),
    Case("job-pause", "post", f"{JOB_PAGE}/pause", page_team(302, WRITERS, write=True)),
    Case(
        "job-delete",
        "post",
        f"{JOB_PAGE}/delete",
        page_team(302, WRITERS, write=True),
        body={"confirm": "nightly"},
    ),
    Case("job-run", "get", "/acme/-/runs/{run}", page_team(200)),
    Case(
        "job-run-cancel",
        "post",
        "/acme/-/runs/{active_run}/cancel",
        page_team(302, WRITERS, write=True),
    ),
    *REGISTRY_PAGE_CASES,
    *page_stack("stack", ""),
    # Anyone reads acme's page, which lists what they may read.
    Case("team", "get", "/acme", everyone(200)),
    # Alice's personal team has nothing for anyone else to see.
    Case(
        "team",
        "get",
        "/alice",
        {**page_team(200), **dict.fromkeys(("admin", "member", "viewer"), 404)},
        variant="personal",
    ),
]

CASES = API_CASES + ACCOUNT_CASES + PAGE_CASES

# Values that fill the URL templates for resolving, without a database.
PLACEHOLDERS = {
    "upload": "00000000-0000-0000-0000-000000000000",
    "part": "/api/transfers/parts/t",
    "blob": "/api/transfers/blobs/t",
    "share": 1,
    "model_share": 1,
    "invitation": 1,
    "secret": "s",
    "token": 1,
    "member_token": 1,
    "link": "l",
    "report": 1,
    "public_report": 2,
    "internal_report": 3,
    "card": 1,
    "report_share": 1,
    "run": 1,
    "active_run": 2,
    "model_push": "00000000-0000-0000-0000-000000000000",
}


# -- checks ---------------------------------------------------------------------


def observe(response: Any) -> Outcome:
    """Return the outcome of a response, as the tables write it."""
    if response.status_code == 302:
        if response["Location"].startswith("/accounts/login"):
            return LOGIN
        if any(
            message.level >= ERROR for message in get_messages(response.wsgi_request)
        ):
            return REFUSED
    return int(response.status_code)


def send(client: Any, case: Case, world: World) -> Any:
    url = case.url.format(**world.values())
    body = case.body(world) if callable(case.body) else case.body
    if case.content_type is not None:
        return getattr(client, case.method)(url, body, content_type=case.content_type)
    if case.url.startswith("/api/"):
        return getattr(client, case.method)(url, body, format="json")
    if body is None:
        return getattr(client, case.method)(url)
    return getattr(client, case.method)(url, body)


def _excerpt(response: Any) -> str:
    if response.streaming:
        return "(a streamed body)"
    return repr(response.content[:300])


def test_every_route_has_an_entry() -> None:
    covered = {resolve(case.url.format(**PLACEHOLDERS)).route for case in CASES}

    missing = [
        f"{found.route} (name {found.name!r})"
        for found in walked_routes()
        if found.route not in covered
    ]

    assert missing == [], "no entry in CASES for:\n" + "\n".join(missing)


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_each_case_reaches_the_route_it_names(case: Case) -> None:
    match = resolve(case.url.format(**PLACEHOLDERS))

    assert match.url_name == case.name, f"{case.url} resolves to {match.route}"
    assert set(case.expect) - set(SHARE_CALLERS) == set(CALLERS), case.id
    assert set(case.expect) & set(SHARE_CALLERS) in (set(), set(SHARE_CALLERS))


MATRIX = [
    pytest.param(case, caller, id=f"{case.id}-{caller}")
    for case in CASES
    for caller in case.expect
]


@pytest.mark.parametrize(("case", "caller_name"), MATRIX)
def test_access(
    case: Case, caller_name: str, world: World, caller: Callable[..., Any]
) -> None:
    client = caller(caller_name, api=case.url.startswith(("/api/", "{part}", "{blob}")))

    response = send(client, case, world)

    where = (
        f"{case.method.upper()} {case.url.format(**world.values())} as {caller_name}"
    )
    assert response.status_code < 500, f"{where}: {response.status_code}"
    assert observe(response) == case.expect[caller_name], (
        f"{where}: {_excerpt(response)}"
    )
    if response.status_code == 401 and case.url.startswith("/api/"):
        challenge = response.get("WWW-Authenticate", "")
        assert challenge.startswith("Bearer"), (
            f"{where}: WWW-Authenticate {challenge!r}"
        )
    if response.status_code in (403, 404) and case.url.startswith("/api/"):
        code = response.json()["error"]["code"]
        assert (
            code == {403: "permission_denied", 404: "not_found"}[response.status_code]
        ), where
