"""LeadRank.model_version without a database constraint (issue 19): a full rescore gives every
lead a new version, and the constraint's deferred check was one lookup per lead at commit, ~5 s
of database CPU per million leads. Deleting a version still sets the key to null through Django.

PostgreSQL drops the constraint in place. On SQLite, dropping it means rebuilding the table,
which the triggers of migration 0018 name (the rebuild fails on them), and SQLite's check costs
nothing that matters there: the state changes, the table keeps its constraint."""

import django.db.models.deletion
from django.db import migrations, models

from leads.migrations._except_on_sqlite import AlterFieldExceptOnSQLite


class Migration(migrations.Migration):
    dependencies = [
        ("leads", "0018_lead_rank"),
        ("scoring", "0006_score_history_keys_without_constraints"),
    ]

    operations = [
        AlterFieldExceptOnSQLite(
            model_name="leadrank",
            name="model_version",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to="scoring.modelversion",
            ),
        ),
    ]
