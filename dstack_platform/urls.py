from django.contrib import admin
from django.urls import include, path

from apps.core import health
from apps.core.views import metrics_view
from apps.users import links

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("livez", health.livez, name="livez"),
    path("metrics", metrics_view, name="metrics"),
    path("accounts/link/<str:token>", links.sign_in_with_link, name="sign-in-link"),
    path("api/", include("dstack_platform.api_urls")),
    # Site pages that are not team pages live under "/-/", a segment that no
    # team name can take, so the admin user may be called "admin".
    path("-/admin/", admin.site.urls),
    path("", include("apps.users.account_urls")),
    path("", include("apps.audit.urls")),
    # Before the stack routes, whose `<team>/<path>` would match `/-/reports`.
    path("", include("apps.reports.urls")),
    # Before the stack pages, whose `<team>/<path>` would match these too.
    path("", include("apps.jobs.urls")),
    # Before the stack pages, whose `team/path` pattern matches any address.
    path("", include("apps.registry.urls")),
    path("", include("apps.stacks.urls")),
]
