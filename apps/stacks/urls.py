"""Page routes. Sub-pages of a stack follow `/-/`, which no stack path contains."""

from django.urls import include, path

from apps.stacks import views

STACK = "<str:team>/<path:path>"
REVISION = STACK + "/-/revisions/<int:number>"

urlpatterns = [
    path("", views.home, name="home"),
    path("", include("apps.users.urls")),
    path(
        REVISION + "/attachments/<int:index>/html",
        views.attachment_html,
        name="attachment-html",
    ),
    path(REVISION + "/head", views.revision_make_head, name="revision-head"),
    path(REVISION + "/delete", views.revision_remove, name="revision-delete"),
    path(STACK + "/-/revisions", views.stack_revisions, name="stack-revisions"),
    path(STACK + "/-/settings", views.stack_settings, name="stack-settings"),
    path(STACK + "/-/delete", views.stack_remove, name="stack-delete"),
    path(STACK + "/-/shares", views.stack_share, name="stack-share"),
    path(
        STACK + "/-/shares/<int:share_id>/delete",
        views.stack_unshare,
        name="stack-unshare",
    ),
    path(STACK, views.stack_detail, name="stack"),
    path("<str:team>", views.team_stacks, name="team"),
]
