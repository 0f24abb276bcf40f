from django.urls import path

from apps.users import views

urlpatterns = [
    path("settings/tokens", views.tokens, name="tokens"),
    path("settings/tokens/<int:token_id>/revoke", views.token_revoke, name="token-revoke"),
]
