"""The lead's score moves out of the wide lead row into LeadRank (see its docstring), with database
triggers that create a lead's LeadRank row and keep its copies of the lead's owner and status.

SQLite drops a table's triggers when Django rebuilds the table for a later schema change, so a
migration that alters leads_lead must end with `rank_triggers_create` again (the tests of
leads.models' LeadRank copies fail otherwise)."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

SCORE_COLUMNS = (
    "score, probability, tier, score_reasons, scored_at, model_version_id, "
    "score_override, score_override_reason, score_override_by_id, priority"
)

# A new lead's row: unscored, at the bottom of the queue. Statement-level with a transition table on
# PostgreSQL, so an import's COPY of a million leads adds their rows in one INSERT ... SELECT.
POSTGRESQL_TRIGGERS = (
    """
    CREATE OR REPLACE FUNCTION leads_rank_insert() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO leads_leadrank (lead_id, owner_id, status, tier, score_reasons, score_override_reason, priority)
        SELECT id, owner_id, status, 'unscored', '[]'::jsonb, '', -1 FROM leads_rank_new_leads;
        RETURN NULL;
    END $$
    """,
    """
    CREATE TRIGGER leads_rank_insert AFTER INSERT ON leads_lead
    REFERENCING NEW TABLE AS leads_rank_new_leads
    FOR EACH STATEMENT EXECUTE FUNCTION leads_rank_insert()
    """,
    """
    CREATE OR REPLACE FUNCTION leads_rank_copy() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE leads_leadrank SET owner_id = NEW.owner_id, status = NEW.status WHERE lead_id = NEW.id;
        RETURN NULL;
    END $$
    """,
    """
    CREATE TRIGGER leads_rank_copy AFTER UPDATE OF owner_id, status ON leads_lead
    FOR EACH ROW WHEN (OLD.owner_id IS DISTINCT FROM NEW.owner_id OR OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION leads_rank_copy()
    """,
)
POSTGRESQL_TRIGGERS_DROP = (
    "DROP TRIGGER IF EXISTS leads_rank_insert ON leads_lead",
    "DROP TRIGGER IF EXISTS leads_rank_copy ON leads_lead",
    "DROP FUNCTION IF EXISTS leads_rank_insert()",
    "DROP FUNCTION IF EXISTS leads_rank_copy()",
)
SQLITE_TRIGGERS = (
    """
    CREATE TRIGGER IF NOT EXISTS leads_rank_insert AFTER INSERT ON leads_lead BEGIN
        INSERT INTO leads_leadrank (lead_id, owner_id, status, tier, score_reasons, score_override_reason, priority)
        VALUES (NEW.id, NEW.owner_id, NEW.status, 'unscored', '[]', '', -1);
    END
    """,
    """
    CREATE TRIGGER IF NOT EXISTS leads_rank_copy AFTER UPDATE OF owner_id, status ON leads_lead
    WHEN OLD.owner_id IS NOT NEW.owner_id OR OLD.status IS NOT NEW.status BEGIN
        UPDATE leads_leadrank SET owner_id = NEW.owner_id, status = NEW.status WHERE lead_id = NEW.id;
    END
    """,
)
SQLITE_TRIGGERS_DROP = ("DROP TRIGGER IF EXISTS leads_rank_insert", "DROP TRIGGER IF EXISTS leads_rank_copy")


def _run(schema_editor, statements) -> None:
    for statement in statements:
        schema_editor.execute(statement)


def rank_triggers_create(apps, schema_editor) -> None:
    postgresql = schema_editor.connection.vendor == "postgresql"
    _run(schema_editor, POSTGRESQL_TRIGGERS if postgresql else SQLITE_TRIGGERS)


def rank_triggers_drop(apps, schema_editor) -> None:
    postgresql = schema_editor.connection.vendor == "postgresql"
    _run(schema_editor, POSTGRESQL_TRIGGERS_DROP if postgresql else SQLITE_TRIGGERS_DROP)


def rank_rows_copy(apps, schema_editor) -> None:
    schema_editor.execute(
        f"INSERT INTO leads_leadrank (lead_id, owner_id, status, {SCORE_COLUMNS}) "
        f"SELECT id, owner_id, status, {SCORE_COLUMNS} FROM leads_lead"
    )


def rank_rows_copy_back(apps, schema_editor) -> None:
    assignments = ", ".join(
        f"{column} = (SELECT r.{column} FROM leads_leadrank r WHERE r.lead_id = leads_lead.id)"
        for column in SCORE_COLUMNS.split(", ")
    )
    schema_editor.execute(f"UPDATE leads_lead SET {assignments} WHERE id IN (SELECT lead_id FROM leads_leadrank)")


class Migration(migrations.Migration):

    dependencies = [
        ('leads', '0017_report_rollups'),
        ('scoring', '0006_score_history_keys_without_constraints'),
    ]

    operations = [
        migrations.CreateModel(
            name='LeadRank',
            fields=[
                ('lead', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, primary_key=True, related_name='rank', serialize=False, to='leads.lead')),
                ('status', models.CharField(choices=[('new', 'New'), ('contacted', 'Contacted'), ('qualified', 'Qualified'), ('converted', 'Converted'), ('lost', 'Lost')], default='new', max_length=16)),
                ('score', models.SmallIntegerField(blank=True, null=True)),
                ('probability', models.FloatField(blank=True, null=True)),
                ('tier', models.CharField(choices=[('hot', 'Hot'), ('warm', 'Warm'), ('cold', 'Cold'), ('unscored', 'Unscored')], default='unscored', max_length=16)),
                ('score_reasons', models.JSONField(blank=True, default=list)),
                ('scored_at', models.DateTimeField(blank=True, null=True)),
                ('score_override', models.SmallIntegerField(blank=True, null=True)),
                ('score_override_reason', models.CharField(blank=True, max_length=255)),
                ('priority', models.SmallIntegerField(default=-1)),
            ],
        ),
        migrations.AddField(
            model_name='leadrank',
            name='model_version',
            field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='scoring.modelversion'),
        ),
        migrations.AddField(
            model_name='leadrank',
            name='owner',
            field=models.ForeignKey(blank=True, db_constraint=False, db_index=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to=settings.AUTH_USER_MODEL),
        ),
        migrations.AddField(
            model_name='leadrank',
            name='score_override_by',
            field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL),
        ),
        migrations.RunPython(rank_rows_copy, rank_rows_copy_back, elidable=False),
        migrations.AddIndex(
            model_name='leadrank',
            index=models.Index(condition=models.Q(('status__in', ['new', 'contacted', 'qualified'])), fields=['owner', '-priority', '-lead'], name='rank_queue_owner_prio'),
        ),
        migrations.AddIndex(
            model_name='leadrank',
            index=models.Index(condition=models.Q(('status__in', ['new', 'contacted', 'qualified'])), fields=['-priority', '-lead'], name='rank_queue_all_prio'),
        ),
        migrations.AddIndex(
            model_name='leadrank',
            index=models.Index(condition=models.Q(('owner__isnull', True), ('status__in', ['new', 'contacted', 'qualified'])), fields=['-priority', '-lead'], name='rank_queue_pool_prio'),
        ),
        migrations.AddIndex(
            model_name='leadrank',
            index=models.Index(fields=['-priority', '-lead'], name='rank_all_prio'),
        ),
        migrations.AddIndex(
            model_name='leadrank',
            index=models.Index(condition=models.Q(('status__in', ['converted', 'lost'])), fields=['status', '-priority', '-lead'], name='rank_closed_prio'),
        ),
        migrations.AddIndex(
            model_name='leadrank',
            index=models.Index(condition=models.Q(('model_version__isnull', False)), fields=['model_version'], name='rank_model_version_set'),
        ),
        migrations.AddIndex(
            model_name='leadrank',
            index=models.Index(condition=models.Q(('score_override_by__isnull', False)), fields=['score_override_by'], name='rank_override_by_set'),
        ),
        migrations.RemoveIndex(
            model_name='lead',
            name='lead_queue_owner_prio',
        ),
        migrations.RemoveIndex(
            model_name='lead',
            name='lead_queue_all_prio',
        ),
        migrations.RemoveIndex(
            model_name='lead',
            name='lead_closed_prio',
        ),
        migrations.RemoveIndex(
            model_name='lead',
            name='lead_all_prio',
        ),
        migrations.RemoveIndex(
            model_name='lead',
            name='lead_model_version_set',
        ),
        migrations.RemoveIndex(
            model_name='lead',
            name='lead_override_by_set',
        ),
        migrations.RemoveField(
            model_name='lead',
            name='model_version',
        ),
        migrations.RemoveField(
            model_name='lead',
            name='priority',
        ),
        migrations.RemoveField(
            model_name='lead',
            name='probability',
        ),
        migrations.RemoveField(
            model_name='lead',
            name='score',
        ),
        migrations.RemoveField(
            model_name='lead',
            name='score_override',
        ),
        migrations.RemoveField(
            model_name='lead',
            name='score_override_by',
        ),
        migrations.RemoveField(
            model_name='lead',
            name='score_override_reason',
        ),
        migrations.RemoveField(
            model_name='lead',
            name='score_reasons',
        ),
        migrations.RemoveField(
            model_name='lead',
            name='scored_at',
        ),
        migrations.RemoveField(
            model_name='lead',
            name='tier',
        ),
        migrations.AlterModelOptions(
            name='lead',
            options={'ordering': ['-id']},
        ),
        migrations.RunPython(rank_triggers_create, rank_triggers_drop, elidable=False),
    ]
