"""Schema operations that change the state everywhere but the database only where it is not
SQLite: there, altering leads_lead's or leads_leadrank's columns rebuilds the table, which fails
on the triggers of migration 0018 that name it (migrations 0019 and 0020 say why skipping is safe)."""

from django.db import migrations


class AlterFieldExceptOnSQLite(migrations.AlterField):
    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor != "sqlite":
            super().database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor != "sqlite":
            super().database_backwards(app_label, schema_editor, from_state, to_state)
