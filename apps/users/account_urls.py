"""Account pages under /accounts/, and the page that approves `dstack login`.

django-allauth's account URLs end in a slash; this site's do not, and it
keeps APPEND_SLASH off. `slashless` re-registers allauth's patterns without
the slash under allauth's own names, so its redirects, emails and templates
link to `/accounts/login`, `/accounts/signup`, `/accounts/password/reset`,
`/accounts/confirm-email/<key>` and so on. The OpenID Connect provider's
URLs (`/accounts/oidc/sso/login/`, and `…/login/callback/`, which is the
redirect URI to register with the provider) keep allauth's slashes.
"""

from __future__ import annotations

from typing import Any

from allauth.account import urls as account_urls
from allauth.account import views as account_views
from allauth.socialaccount import urls as social_urls
from allauth.urls import build_provider_urlpatterns
from django.urls import URLPattern, include, path, re_path

from apps.users import device


def slashless(patterns: list[Any]) -> list[URLPattern]:
    result = []
    for pattern in patterns:
        route = str(pattern.pattern)
        if route.endswith("/$"):
            result.append(
                re_path(route[:-2] + "$", pattern.callback, name=pattern.name)
            )
        else:
            result.append(path(route.rstrip("/"), pattern.callback, name=pattern.name))
    return result


account_patterns = [
    # Django's names, which the templates and LOGIN_URL use.
    path("login", account_views.login, name="login"),
    path("logout", account_views.logout, name="logout"),
    *slashless(account_urls.urlpatterns),
    path("3rdparty/", include(social_urls.urlpatterns)),
    *build_provider_urlpatterns(),
]

urlpatterns = [
    path("accounts/", include(account_patterns)),
    path("auth/device", device.device_page, name="device"),
]
