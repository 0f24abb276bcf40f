"""Reject UPDATE and DELETE of audit events in PostgreSQL itself.

The model refuses both already; the trigger covers raw SQL and any code
that bypasses the ORM. One UPDATE is allowed: a foreign key becoming NULL
while nothing else changes, which is what `on_delete=SET_NULL` does when a
team, user or token is deleted.

SQLite gets no trigger: Django's test runner empties tables there with
DELETE, which a trigger would reject. PostgreSQL empties them with TRUNCATE,
which row triggers do not see.
"""

from django.db import migrations

CREATE = """
CREATE FUNCTION audit_event_append_only() RETURNS trigger AS $$
DECLARE
    before audit_auditevent;
    after audit_auditevent;
BEGIN
    IF TG_OP = 'UPDATE' THEN
        before := OLD;
        after := NEW;
        before.team_id := NULL;
        after.team_id := NULL;
        before.actor_id := NULL;
        after.actor_id := NULL;
        before.actor_token_id := NULL;
        after.actor_token_id := NULL;
        IF after IS NOT DISTINCT FROM before
            AND (NEW.team_id IS NULL OR NEW.team_id = OLD.team_id)
            AND (NEW.actor_id IS NULL OR NEW.actor_id = OLD.actor_id)
            AND (NEW.actor_token_id IS NULL OR NEW.actor_token_id = OLD.actor_token_id)
        THEN
            RETURN NEW;
        END IF;
    END IF;
    RAISE EXCEPTION 'audit events are append-only: % rejected', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER audit_event_append_only
    BEFORE UPDATE OR DELETE ON audit_auditevent
    FOR EACH ROW EXECUTE FUNCTION audit_event_append_only();
"""

DROP = """
DROP TRIGGER IF EXISTS audit_event_append_only ON audit_auditevent;
DROP FUNCTION IF EXISTS audit_event_append_only();
"""


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]

    operations = [migrations.RunPython(create, drop)]
