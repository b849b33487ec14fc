"""Chain the audit trail: position, previous hash and hash on every event, and the chain's head.

Events written before this migration are chained in id order. The append-only trigger is lifted for that
one pass (the migration runs as the table's owner) and restored at once.
"""

from django.db import migrations, models

from accounts.audit import GENESIS, event_hash


def chain_existing(apps, schema_editor):
    AuditEvent = apps.get_model("accounts", "AuditEvent")
    AuditChainHead = apps.get_model("accounts", "AuditChainHead")
    position, previous = 0, GENESIS
    batch = []
    for event in AuditEvent.objects.order_by("id").iterator(chunk_size=5000):
        position += 1
        event.position, event.previous_hash = position, previous
        event.hash = event_hash(event)
        previous = event.hash
        batch.append(event)
        if len(batch) == 5000:
            AuditEvent.objects.bulk_update(batch, ["position", "previous_hash", "hash"])
            batch = []
    AuditEvent.objects.bulk_update(batch, ["position", "previous_hash", "hash"])
    AuditChainHead.objects.create(pk=1, position=position, hash=previous)


def lift_trigger(apps, schema_editor):
    # On SQLite, altering the table rebuilds it and would drop the trigger anyway: restored at the end.
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            "ALTER TABLE accounts_auditevent DISABLE TRIGGER accounts_auditevent_append_only"
        )
    else:
        schema_editor.execute("DROP TRIGGER accounts_auditevent_no_update")


def restore_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            "ALTER TABLE accounts_auditevent ENABLE TRIGGER accounts_auditevent_append_only"
        )
    else:
        schema_editor.execute(
            """CREATE TRIGGER accounts_auditevent_no_update BEFORE UPDATE ON accounts_auditevent
               BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END;"""
        )


class Migration(migrations.Migration):
    dependencies = [("accounts", "0003_role_grant_requests_and_session_generation")]

    operations = [
        migrations.CreateModel(
            name="AuditChainHead",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("position", models.BigIntegerField(default=0)),
                (
                    "hash",
                    models.CharField(
                        default="0000000000000000000000000000000000000000000000000000000000000000",
                        max_length=64,
                    ),
                ),
            ],
            options={"default_permissions": ("view",)},
        ),
        migrations.RunPython(lift_trigger, migrations.RunPython.noop),
        migrations.AddField(
            model_name="auditevent", name="position", field=models.BigIntegerField(null=True, editable=False)
        ),
        migrations.AddField(
            model_name="auditevent",
            name="previous_hash",
            field=models.CharField(default="", editable=False, max_length=64),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="auditevent",
            name="hash",
            field=models.CharField(default="", editable=False, max_length=64),
            preserve_default=False,
        ),
        migrations.RunPython(chain_existing, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="auditevent",
            name="position",
            field=models.BigIntegerField(editable=False, unique=True),
        ),
        migrations.RunPython(restore_trigger, migrations.RunPython.noop),
    ]
