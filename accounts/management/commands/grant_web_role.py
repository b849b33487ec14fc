"""Give the role the web app and workers connect as exactly what they need, run as the tables' owner after
every `migrate` (docs/deployment.md). The audit trail is INSERT and SELECT only for that role; the chain's
head may be read and moved on but not emptied. Only the owner can alter a table, disable its triggers or
truncate it, and setting session_replication_role needs a superuser, so the app's role can do none of them."""

from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from psycopg2 import sql


class Command(BaseCommand):
    help = "Grant the web app's PostgreSQL role what it needs, with the audit trail append-only."

    def add_arguments(self, parser):
        parser.add_argument("role", help="the PostgreSQL role the web app and workers connect as")

    def handle(self, *args, role, **options):
        if connection.vendor != "postgresql":
            raise CommandError("Roles are a PostgreSQL matter; the embedded SQLite demo has none.")
        name = sql.Identifier(role)
        statements = [
            sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(
                sql.Identifier(connection.settings_dict["NAME"]), name
            ),
            sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(name),
            sql.SQL("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {}").format(name),
            sql.SQL("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {}").format(name),
            sql.SQL(
                "REVOKE UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON accounts_auditevent FROM {}"
            ).format(name),
            sql.SQL("REVOKE DELETE, TRUNCATE, REFERENCES, TRIGGER ON accounts_auditchainhead FROM {}").format(
                name
            ),
        ]
        with connection.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement)
        self.stdout.write(f"{role} may use every table; the audit trail only by INSERT and SELECT.")
