from django.contrib import admin
from django.urls import include, path

from apps.core import health

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("livez", health.livez, name="livez"),
    path("api/", include("dstack_platform.api_urls")),
    path("admin/", admin.site.urls),
    path("", include("apps.stacks.urls")),
]
