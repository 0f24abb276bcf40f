"""Registry pages, under `/{team}/-/models`: `-` is never a stack path segment."""

from django.urls import path

from apps.registry import views

MODEL = "<str:team>/-/models/<str:name>"
VERSION = MODEL + "/versions/<int:version>"

urlpatterns = [
    path("<str:team>/-/models", views.team_models, name="models"),
    path(MODEL + "/compare", views.model_compare, name="model-compare"),
    path(MODEL + "/aliases", views.alias_move, name="model-alias-move"),
    path(
        MODEL + "/aliases/<str:alias>/delete",
        views.alias_remove,
        name="model-alias-delete",
    ),
    path(MODEL + "/settings", views.model_settings, name="model-settings"),
    path(MODEL + "/shares", views.model_share, name="model-share"),
    path(
        MODEL + "/shares/<int:share_id>/delete",
        views.model_unshare,
        name="model-unshare",
    ),
    path(MODEL + "/delete", views.model_remove, name="model-delete"),
    path(VERSION + "/delete", views.version_remove, name="model-version-delete"),
    path(VERSION, views.version_detail, name="model-version"),
    path(MODEL, views.model_detail, name="model"),
]
