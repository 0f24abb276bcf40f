"""The admin console's pages for users, teams and tokens (Django admin at /-/admin/).

Staff change things here through the same services as everyone else where
one exists, so the changes land in the audit log. Secrets and digests are
never shown.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.db import transaction
from django.db.models import Count, IntegerField, OuterRef, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce
from django.http import HttpRequest

from apps.artifacts.models import Blob
from apps.artifacts.quota import format_bytes
from apps.audit.services import audit_record
from apps.users.links import sign_in_link_create
from apps.users.models import ApiToken, Invitation, Membership, Share, Team, User
from apps.users.team_tokens import token_revoke_by_staff


class MembershipOfUserInline(admin.TabularInline):
    model = Membership
    fk_name = "user"
    extra = 0
    fields = ["team", "role", "created_at"]
    readonly_fields = ["team", "role", "created_at"]
    can_delete = False
    verbose_name_plural = "teams"

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    list_display = [
        "username",
        "email",
        "is_active",
        "is_staff",
        "team_count",
        "last_login",
    ]
    list_filter = ["is_active", "is_staff"]
    inlines = [MembershipOfUserInline]
    actions = [
        "deactivate",
        "activate",
        "make_staff",
        "remove_staff",
        "create_sign_in_link",
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[User]:
        return super().get_queryset(request).annotate(team_total=Count("memberships"))

    @admin.display(description="teams", ordering="team_total")
    def team_count(self, user: User) -> int:
        return getattr(user, "team_total", 0)

    def _set(
        self, request: HttpRequest, users: QuerySet[User], action: str, **fields: bool
    ) -> None:
        with transaction.atomic():
            changed = 0
            # The changelist's queryset is annotated (GROUP BY), which
            # FOR UPDATE does not allow: lock the rows by primary key.
            locked = User.objects.filter(
                pk__in=list(users.values_list("pk", flat=True))
            )
            for user in locked.select_for_update():
                if all(getattr(user, name) == value for name, value in fields.items()):
                    continue
                for name, value in fields.items():
                    setattr(user, name, value)
                user.save(update_fields=list(fields))
                audit_record(action=action, actor=request.user, target=user, team=None)
                changed += 1
        self.message_user(request, f"{changed} user(s) changed.", messages.SUCCESS)

    @admin.action(description="Deactivate: block sign-in and every token")
    def deactivate(self, request: HttpRequest, users: QuerySet[User]) -> None:
        self._set(
            request,
            users.exclude(pk=request.user.pk),
            "user.deactivated",
            is_active=False,
        )

    @admin.action(description="Activate")
    def activate(self, request: HttpRequest, users: QuerySet[User]) -> None:
        self._set(request, users, "user.activated", is_active=True)

    @admin.action(description="Make staff, with full access to this console")
    def make_staff(self, request: HttpRequest, users: QuerySet[User]) -> None:
        self._set(request, users, "user.made_staff", is_staff=True, is_superuser=True)

    @admin.action(description="Remove from staff")
    def remove_staff(self, request: HttpRequest, users: QuerySet[User]) -> None:
        self._set(
            request,
            users.exclude(pk=request.user.pk),
            "user.removed_from_staff",
            is_staff=False,
            is_superuser=False,
        )

    @admin.action(description="Create a one-time sign-in link (to reset a password)")
    def create_sign_in_link(self, request: HttpRequest, users: QuerySet[User]) -> None:
        # The person signs in with the link and sets a new password on the
        # password change page. This works without any mail set up.
        for user in users.filter(is_active=True):
            token = sign_in_link_create(user=user)
            url = request.build_absolute_uri(f"/accounts/link/{token}")
            audit_record(
                action="user.sign_in_link_created", actor=request.user, target=user
            )
            self.message_user(
                request, f"Sign-in link for {user.username}: {url}", messages.WARNING
            )


class MembershipInline(admin.TabularInline):
    model = Membership
    fk_name = "team"
    extra = 0
    fields = ["user", "role", "created_at"]
    readonly_fields = ["user", "created_at"]
    # Roles change through the team pages, which keep the last owner and
    # record the change. Here they are shown only.
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "member_count",
        "stack_count",
        "storage_used",
        "quota",
        "created_at",
    ]
    search_fields = ["name"]
    fields = ["name", "personal_for", "default_access", "storage_quota", "created_at"]
    readonly_fields = ["name", "personal_for", "default_access", "created_at"]
    inlines = [MembershipInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Team]:
        # Subqueries rather than joins: joining members, stacks and blobs at
        # once would multiply the rows and the sums.
        def total(queryset: QuerySet[Any], expression: Any) -> Subquery:
            values = queryset.order_by().values("team_id").annotate(value=expression)
            return Coalesce(
                Subquery(values.values("value")[:1], output_field=IntegerField()), 0
            )

        from apps.stacks.models import Stack

        own = {"team_id": OuterRef("pk")}
        return (
            super()
            .get_queryset(request)
            .annotate(
                members=total(Membership.objects.filter(**own), Count("pk")),
                stacks_total=total(Stack.objects.filter(**own), Count("pk")),
                bytes_used=total(Blob.objects.filter(**own), Sum("size")),
            )
        )

    @admin.display(description="members", ordering="members")
    def member_count(self, team: Team) -> int:
        return getattr(team, "members", 0)

    @admin.display(description="stacks", ordering="stacks_total")
    def stack_count(self, team: Team) -> int:
        return getattr(team, "stacks_total", 0)

    @admin.display(description="storage used", ordering="bytes_used")
    def storage_used(self, team: Team) -> str:
        return format_bytes(getattr(team, "bytes_used", 0))

    @admin.display(description="storage quota", ordering="storage_quota")
    def quota(self, team: Team) -> str:
        return (
            "none" if team.storage_quota is None else format_bytes(team.storage_quota)
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Teams are created on the team pages, which make the creator owner.
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Deleting a team must free its storage, which the team pages do.
        return False

    def save_model(
        self, request: HttpRequest, obj: Team, form: Any, change: bool
    ) -> None:
        if "storage_quota" not in form.changed_data:
            return
        old = form.initial.get("storage_quota")
        with transaction.atomic():
            obj.save(update_fields=["storage_quota"])
            audit_record(
                action="team.quota_changed",
                actor=request.user,
                team=obj,
                target=obj,
                details={"from": old, "to": obj.storage_quota},
            )


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "prefix",
        "user",
        "scope",
        "team",
        "created_at",
        "expires_at",
        "last_used_at",
        "last_used_ip",
        "revoked_at",
    ]
    list_filter = ["scope", ("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "prefix", "user__username"]
    list_select_related = ["user", "team"]
    fields = [
        "name",
        "prefix",
        "user",
        "scope",
        "team",
        "created_at",
        "expires_at",
        "last_used_at",
        "last_used_ip",
        "revoked_at",
    ]
    readonly_fields = fields
    actions = ["revoke"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        # A token's secret is shown once, to its user, on the tokens page.
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Revoked, not deleted, so the audit log keeps pointing at it.
        return False

    @admin.action(description="Revoke the selected tokens")
    def revoke(self, request: HttpRequest, tokens: QuerySet[ApiToken]) -> None:
        revoked = 0
        for token in tokens.select_related("user", "team"):
            revoked += token_revoke_by_staff(staff=request.user, token=token)  # type: ignore[arg-type]
        self.message_user(request, f"{revoked} token(s) revoked.", messages.SUCCESS)


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Invitation)
class InvitationAdmin(ReadOnlyAdmin):
    list_display = [
        "email",
        "team",
        "role",
        "invited_by",
        "created_at",
        "expires_at",
        "accepted_at",
        "revoked_at",
    ]
    list_select_related = ["team", "invited_by"]
    search_fields = ["email", "team__name"]
    # Never the digest of the link's secret.
    fields = [
        "email",
        "team",
        "role",
        "share",
        "invited_by",
        "created_at",
        "expires_at",
        "accepted_at",
        "accepted_by",
        "revoked_at",
    ]


@admin.register(Share)
class ShareAdmin(ReadOnlyAdmin):
    list_display = [
        "target_type",
        "target_id",
        "team",
        "user",
        "email",
        "role",
        "created_at",
    ]
    list_select_related = ["team", "user"]
    search_fields = ["team__name", "user__username", "email"]
