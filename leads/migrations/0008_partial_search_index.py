"""The queue's trigram search index covers only leads with a name, email or company.

A lead with none of the three can never match a search, and imported files often carry none of
them (X Education's do not): every such row skipped is an index insert an import does not pay.
Searches add the same condition (leads.selectors.lead_search_q) so the planner can use it.
"""

from django.db import migrations

SEARCH_INDEX_SQL = (
    "CREATE INDEX IF NOT EXISTS lead_search_trgm_set ON leads_lead USING gin "
    "(upper(name::text) gin_trgm_ops, upper(email::text) gin_trgm_ops, upper(company::text) gin_trgm_ops) "
    "WHERE (name::text <> '' OR email::text <> '' OR company::text <> '')"
)
OLD_INDEX_SQL = (
    "CREATE INDEX IF NOT EXISTS lead_search_trgm ON leads_lead USING gin "
    "(upper(name::text) gin_trgm_ops, upper(email::text) gin_trgm_ops, upper(company::text) gin_trgm_ops)"
)


def partial_search_index(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(SEARCH_INDEX_SQL)
    schema_editor.execute("DROP INDEX IF EXISTS lead_search_trgm")


def full_search_index(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(OLD_INDEX_SQL)
    schema_editor.execute("DROP INDEX IF EXISTS lead_search_trgm_set")


class Migration(migrations.Migration):
    dependencies = [("leads", "0007_partial_lead_indexes")]

    operations = [migrations.RunPython(partial_search_index, full_search_index)]
