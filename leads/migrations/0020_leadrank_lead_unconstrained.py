"""LeadRank.lead without a database constraint on PostgreSQL (issue 19): every new lead's rank row
(the insert trigger of migration 0018) queued a deferred check of that constraint, which looked the
lead up again and locked it at commit: 1.4 s of database CPU per 200,000 imported leads, more than
inserting the rank rows themselves (bench/import_bench.py: 1M rows 36.3 s with it, 33.2 s without).

The triggers own the rank row instead, for every way a lead goes: an insert adds it (0018), a
DELETE of leads removes theirs (Django's collector has already deleted them, so this matters for
raw SQL), a TRUNCATE of leads_lead empties leads_leadrank (it no longer follows CASCADE).

SQLite keeps the constraint, as migration 0019 explains: rebuilding the table there fails on
0018's triggers, and its check costs nothing that matters there."""

import django.db.models.deletion
from django.db import migrations, models

from leads.migrations._except_on_sqlite import AlterFieldExceptOnSQLite

POSTGRESQL_TRIGGERS = (
    """
    CREATE OR REPLACE FUNCTION leads_rank_delete() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        DELETE FROM leads_leadrank r USING leads_rank_gone_leads g WHERE r.lead_id = g.id;
        RETURN NULL;
    END $$
    """,
    """
    CREATE TRIGGER leads_rank_delete AFTER DELETE ON leads_lead
    REFERENCING OLD TABLE AS leads_rank_gone_leads
    FOR EACH STATEMENT EXECUTE FUNCTION leads_rank_delete()
    """,
    """
    CREATE OR REPLACE FUNCTION leads_rank_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        -- Not TRUNCATE: a statement that truncates both tables has leads_leadrank in use here.
        DELETE FROM leads_leadrank;
        RETURN NULL;
    END $$
    """,
    """
    CREATE TRIGGER leads_rank_truncate AFTER TRUNCATE ON leads_lead
    FOR EACH STATEMENT EXECUTE FUNCTION leads_rank_truncate()
    """,
)
POSTGRESQL_TRIGGERS_DROP = (
    "DROP TRIGGER IF EXISTS leads_rank_delete ON leads_lead",
    "DROP TRIGGER IF EXISTS leads_rank_truncate ON leads_lead",
    "DROP FUNCTION IF EXISTS leads_rank_delete()",
    "DROP FUNCTION IF EXISTS leads_rank_truncate()",
)


def triggers_create(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        for statement in POSTGRESQL_TRIGGERS:
            schema_editor.execute(statement)


def triggers_drop(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        for statement in POSTGRESQL_TRIGGERS_DROP:
            schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("leads", "0019_leadrank_model_version_unconstrained")]

    operations = [
        AlterFieldExceptOnSQLite(
            model_name="leadrank",
            name="lead",
            field=models.OneToOneField(
                db_constraint=False,
                on_delete=django.db.models.deletion.CASCADE,
                primary_key=True,
                related_name="rank",
                serialize=False,
                to="leads.lead",
            ),
        ),
        migrations.RunPython(triggers_create, triggers_drop),
    ]
