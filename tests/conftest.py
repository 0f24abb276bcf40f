"""Fixtures shared by every test of the repository.

They are defined in the modules below and registered by the root
`conftest.py`, so apps/*/tests, tests/ and client/tests all see them. Their
names are stable: other test folders rely on them.

Storage (tests/s3server.py):
    s3_server            the SeaweedFS process of this run (session scope):
                         `.endpoint_url`, `.client()` (boto3), `.object_keys(bucket)`,
                         `.environment(bucket)` (DSTACK_S3_* for subprocesses)
    s3_bucket            the bucket of this run (session scope)
    s3_storage           settings.STORAGE on that bucket, presigned transfers;
                         the default of every test that uses the database
    s3_stream_storage    the same bucket, transfers streamed through the server
    filesystem_storage   a fresh folder under tmp_path
    any_storage          parametrised over the three

The cast (tests/cast.py):
    owner (alice), admin (bob), member (carol), viewer (dave): the roles of
    team `acme`; outsider (eve) on her own team; `acme` itself.
    owner_api, admin_api, member_api, viewer_api, outsider_api,
    anonymous_api, readonly_api, other_team_token_api, make_api(user, **options)

Pushing (tests/pushing.py):
    push(client, team, path, *objects) with `Obj(data, params, ...)`, and the
    pieces it is made of: open_revision, upload_parts, commit_revision,
    transfer_put, transfer_get.

Database (tests/database.py): each pytest process gets its own test
database, so that concurrent runs on one PostgreSQL server do not collide.
"""
