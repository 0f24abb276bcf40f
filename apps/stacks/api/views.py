"""The stacks API: list, read, push, commit, download, change and delete."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from django.conf import settings
from django.db.models import Count, Q
from django.http import HttpResponseRedirect
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from apps.artifacts import services as artifacts
from apps.artifacts import tables
from apps.artifacts.api.serializers import recheck_data
from apps.artifacts.models import Upload, UploadState
from apps.core import metrics
from apps.core.api import ApiView, actor_of, paginate, positive_int
from apps.core.errors import InvalidInput, NotFound, PayloadTooLarge, PermissionDenied
from apps.core.names import validate_stack_path
from apps.stacks import selectors, services
from apps.stacks.api.serializers import (
    attachment_data,
    revision_data,
    stack_data,
    stack_page_url,
    stack_summary,
)
from apps.stacks.models import Attachment, RevisionState, Stack
from apps.users.selectors import team_get, team_get_for_member, team_get_for_write

OBJECT = OpenApiTypes.OBJECT


def _path(path: str) -> str:
    # An unknown sub-resource such as `a/b/-/nope` lands here: it is not a path.
    if "/-/" in f"/{path}/":
        raise NotFound("no such endpoint")
    return validate_stack_path(path)


def _is_member(actor: Any, stack: Stack) -> bool:
    return actor.role_in(stack.team) is not None


def _check_body_size(request: Request) -> None:
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > settings.INLINE_LIMIT:
        raise PayloadTooLarge(
            f"the request body is {length} bytes; at most {settings.INLINE_LIMIT} may go "
            "inline, so send larger objects without data and upload them",
            field="body",
        )


class StackListView(ApiView):
    @extend_schema(responses=OBJECT, summary="List a team's stacks")
    def get(self, request: Request, team: str) -> Response:
        actor = actor_of(request)
        team_obj = team_get(team)
        query = request.query_params.get("q", "")
        if "\x00" in query:
            raise InvalidInput("q must not contain NUL bytes", field="q")
        stacks = selectors.stacks_for_read(actor, team_obj, query=query)
        stacks = stacks.annotate(
            revision_count=Count(
                "revisions", filter=Q(revisions__state=RevisionState.COMMITTED)
            )
        ).select_related("team")
        page = paginate(request, stacks, lambda stack: stack)
        if not page["results"] and not actor.role_in(team_obj) and page["count"] == 0:
            # Nothing visible in a team the caller does not belong to: the same
            # answer as for a team that does not exist.
            team_get_for_member(actor, team)

        heads = [stack.head_id for stack in page["results"]]
        kinds: dict[int, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
        for row in (
            Attachment.objects.filter(revision_id__in=heads)
            .values("revision_id", "media_type", "application")
            .distinct()
        ):
            kinds[row["revision_id"]]["media_types"].add(row["media_type"])
            if row["application"]:
                kinds[row["revision_id"]]["applications"].add(row["application"])

        results = []
        for stack in page["results"]:
            item = stack_summary(stack)
            item["revisions"] = stack.revision_count
            item["media_types"] = sorted(kinds[stack.head_id]["media_types"])
            item["applications"] = sorted(kinds[stack.head_id]["applications"])
            results.append(item)
        page["results"] = results
        return Response(page)


class StackView(ApiView):
    @extend_schema(responses=OBJECT, summary="Read a stack with its head revision")
    def get(self, request: Request, team: str, path: str) -> Response:
        actor = actor_of(request)
        stack = selectors.stack_get_for_read(actor, team, _path(path))
        attachments = (
            list(selectors.attachments_for_read(stack.head)) if stack.head else None
        )
        if stack.head is not None:
            stack.head.author  # noqa: B018 - one query, not one per use
        return Response(
            stack_data(stack, attachments, with_client=_is_member(actor, stack))
        )

    @extend_schema(
        request=OBJECT, responses=OBJECT, summary="Change access, head or retention"
    )
    def patch(self, request: Request, team: str, path: str) -> Response:
        actor = actor_of(request)
        stack = selectors.stack_get_for_write(actor, team, _path(path))
        stack = services.stack_update(actor=actor, stack=stack, body=request.data)
        stack = selectors.stack_get_for_read(actor, team, stack.path)
        attachments = (
            list(selectors.attachments_for_read(stack.head)) if stack.head else None
        )
        return Response(stack_data(stack, attachments))

    @extend_schema(responses={204: None}, summary="Delete a stack")
    def delete(self, request: Request, team: str, path: str) -> Response:
        actor = actor_of(request)
        stack = selectors.stack_get_for_write(actor, team, _path(path))
        services.stack_delete(actor=actor, stack=stack)
        return Response(status=204)


class RevisionListView(ApiView):
    @extend_schema(responses=OBJECT, summary="List a stack's revisions")
    def get(self, request: Request, team: str, path: str) -> Response:
        actor = actor_of(request)
        stack = selectors.stack_get_for_read(actor, team, _path(path))
        member = _is_member(actor, stack)
        return Response(
            paginate(
                request,
                selectors.revisions_for_read(stack),
                lambda revision: revision_data(revision, with_client=member),
            )
        )

    @extend_schema(request=OBJECT, responses={201: OBJECT}, summary="Open a push")
    def post(self, request: Request, team: str, path: str) -> Response:
        actor = actor_of(request)
        self.require_user()
        _check_body_size(request)
        path = _path(path)
        try:
            team_obj = team_get_for_write(actor, team)
        except NotFound:
            # Not a member: only an editor through a share pushes, and only
            # to the stack that was shared.
            shared = selectors.stack_get_for_push_by_share(actor, team, path)
            if shared is None:
                # A reader through a share, or of a public stack, may know the
                # stack exists: for them it is read-only, not missing.
                selectors.stack_get_for_read(actor, team, path)
                raise PermissionDenied(
                    f"stack {team}/{path} is read-only for you", field="stack"
                ) from None
            team_obj = shared.team
        else:
            if Stack.objects.filter(team=team_obj, path=path).exists():
                selectors.stack_get_for_push(actor, team, path)

        opened = services.revision_open(
            actor=actor, team=team_obj, path=path, body=request.data
        )
        revision = opened.revision
        commit_url = (
            f"{settings.PUBLIC_URL}/api/teams/{team}/stacks/{path}"
            f"/-/revisions/{revision.number}/commit"
        )
        return Response(
            {
                "number": revision.number,
                "state": revision.state,
                "commit_url": commit_url,
                "attachments": opened.attachments,
            },
            status=201,
        )


class RevisionView(ApiView):
    @extend_schema(responses=OBJECT, summary="Read a revision with its attachments")
    def get(self, request: Request, team: str, path: str, number: int) -> Response:
        actor = actor_of(request)
        stack = selectors.stack_get_for_read(actor, team, _path(path))
        revision = selectors.revision_get_for_read(stack, number)
        attachments = list(selectors.attachments_for_read(revision))
        return Response(
            revision_data(revision, attachments, with_client=_is_member(actor, stack))
        )

    @extend_schema(responses={204: None}, summary="Delete a revision")
    def delete(self, request: Request, team: str, path: str, number: int) -> Response:
        actor = actor_of(request)
        stack = selectors.stack_get_for_write(actor, team, _path(path))
        revision = selectors.revision_get_for_read(stack, number)
        services.revision_delete(actor=actor, stack=stack, revision=revision)
        return Response(status=204)


class CommitView(ApiView):
    @extend_schema(request=OBJECT, responses=OBJECT, summary="Commit a push")
    def post(self, request: Request, team: str, path: str, number: int) -> Response:
        actor = actor_of(request)
        stack = selectors.stack_get_for_push(actor, team, _path(path))
        revision = services.revision_commit(
            actor=actor, stack=stack, number=number, body=request.data
        )
        return Response(
            {
                "number": revision.number,
                "state": revision.state,
                "url": stack_page_url(stack),
            }
        )


def _attachment(
    request: Request, team: str, path: str, number: int, index: int
) -> Attachment:
    stack = selectors.stack_get_for_read(actor_of(request), team, _path(path))
    revision = selectors.revision_get_for_read(stack, number)
    return selectors.attachment_get_for_read(revision, index)


def _format(request: Request, attachment: Attachment) -> str | None:
    fmt = request.query_params.get("format") or None
    if fmt is None:
        return None
    if fmt != "csv":
        raise InvalidInput("format must be csv", field="format")
    if not tables.is_table(attachment.media_type):
        raise InvalidInput("only tables can be downloaded as csv", field="format")
    return fmt


def _through_server(request: Request) -> bool:
    """Tell whether the caller wants the bytes from this server's origin.

    Pages read JSON and text attachments with `fetch()`, which a presigned
    URL on the store's origin would only allow with a CORS rule on the
    bucket; `?through=server` streams them from here instead.
    """
    value = request.query_params.get("through")
    if value is None:
        return False
    if value != "server":
        raise InvalidInput("through must be server", field="through")
    return True


def _download_url(
    attachment: Attachment, fmt: str | None, *, through_server: bool = False
) -> str:
    filename = attachment.filename or None
    media_type = attachment.media_type
    if fmt == "csv":
        stem = (
            attachment.filename.rsplit(".", 1)[0] if attachment.filename else ""
        ) or "table"
        filename, media_type = f"{stem}.csv", "text/csv"
    metrics.attachment_pulled(size=attachment.size)
    return artifacts.download_url(
        blob=attachment.blob,
        filename=filename,
        media_type=media_type,
        fmt=fmt,
        source_media_type=attachment.media_type,
        through_server=through_server,
    )


class AttachmentView(ApiView):
    @extend_schema(responses=OBJECT, summary="Read an attachment with a download URL")
    def get(
        self, request: Request, team: str, path: str, number: int, index: int
    ) -> Response:
        attachment = _attachment(request, team, path, number, index)
        data = attachment_data(attachment)
        data["download_url"] = _download_url(
            attachment,
            _format(request, attachment),
            through_server=_through_server(request),
        )
        return Response(data)


class AttachmentDownloadView(ApiView):
    @extend_schema(responses={302: None}, summary="Redirect to an attachment's bytes")
    def get(
        self, request: Request, team: str, path: str, number: int, index: int
    ) -> Any:
        attachment = _attachment(request, team, path, number, index)
        return HttpResponseRedirect(
            _download_url(
                attachment,
                _format(request, attachment),
                through_server=_through_server(request),
            )
        )


class AttachmentVerifyView(ApiView):
    @extend_schema(
        request=None,
        responses=OBJECT,
        summary="Report that an attachment's bytes failed their sha256",
    )
    def post(
        self, request: Request, team: str, path: str, number: int, index: int
    ) -> Response:
        attachment = _attachment(request, team, path, number, index)
        label = f"{attachment.revision.stack} revision {number} attachment {index}"
        recheck = artifacts.blob_recheck(
            actor=actor_of(request), blob=attachment.blob, label=label
        )
        return Response(recheck_data(recheck))


class AttachmentTableView(ApiView):
    @extend_schema(responses=OBJECT, summary="Read a page of a table attachment")
    def get(
        self, request: Request, team: str, path: str, number: int, index: int
    ) -> Response:
        attachment = _attachment(request, team, path, number, index)
        if not tables.is_table(attachment.media_type):
            raise InvalidInput("this attachment is not a table", field="attachment")
        page = positive_int(request.query_params.get("page"), field="page", default=1)
        size = positive_int(
            request.query_params.get("page_size"),
            field="page_size",
            default=50,
            maximum=1000,
        )
        return Response(
            tables.table_page(
                attachment.blob, attachment.media_type, page=page, page_size=size
            )
        )


class UploadView(ApiView):
    @extend_schema(
        responses=OBJECT, summary="Read an upload again, with fresh part URLs"
    )
    def get(self, request: Request, team: str, upload_id: str) -> Response:
        actor = actor_of(request)
        team_obj = team_get_for_write(actor, team)
        upload = (
            Upload.objects.select_related("blob")
            .filter(team=team_obj, pk=upload_id)
            .first()
        )
        if upload is None:
            raise NotFound(f"upload {upload_id} not found", field="upload")
        if upload.state != UploadState.OPEN:
            # Completed by another push of the same bytes, or aborted: the
            # client stops sending parts and commits, or pushes again.
            return Response(
                {
                    "id": str(upload.pk),
                    "state": upload.state,
                    "part_size": upload.part_size,
                    "parts": [],
                }
            )
        return Response(artifacts.upload_describe(upload))
