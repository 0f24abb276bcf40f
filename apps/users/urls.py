from django.urls import path

from apps.users import team_views, views

TEAM = "settings/teams/<str:team>"

urlpatterns = [
    path("settings/teams/new", team_views.team_new, name="team-new"),
    path(TEAM, team_views.team_settings, name="team-settings"),
    path(TEAM + "/rename", team_views.team_rename, name="team-rename"),
    path(TEAM + "/access", team_views.team_access, name="team-access"),
    path(TEAM + "/delete", team_views.team_remove, name="team-delete"),
    path(
        TEAM + "/members/<str:username>/role",
        team_views.member_role,
        name="member-role",
    ),
    path(
        TEAM + "/members/<str:username>/remove",
        team_views.member_remove,
        name="member-remove",
    ),
    path(TEAM + "/invitations", team_views.invitation_new, name="invitation-new"),
    path(
        TEAM + "/invitations/<int:invitation_id>/revoke",
        team_views.invitation_revoke,
        name="invitation-revoke",
    ),
    path("invitations/<str:token>", team_views.invitation_open, name="invitation"),
    path("shared", team_views.shared_with_me, name="shared"),
    path("settings/tokens", views.tokens, name="tokens"),
    path(
        "settings/tokens/<int:token_id>/revoke", views.token_revoke, name="token-revoke"
    ),
    path("settings/teams/<str:team>/tokens", views.team_tokens, name="team-tokens"),
    path(
        "settings/teams/<str:team>/tokens/<int:token_id>/revoke",
        views.team_token_revoke,
        name="team-token-revoke",
    ),
]
