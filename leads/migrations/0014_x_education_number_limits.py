"""The `x_education` preset: its counts and times are never negative (a per-row error otherwise)."""

from django.db import migrations

COLUMN_LIMITS = {
    "TotalVisits": {"min": 0.0},
    "Total Time Spent on Website": {"min": 0.0},
    "Page Views Per Visit": {"min": 0.0},
}


def add_limits(apps, schema_editor):
    apps.get_model("leads", "ImportProfile").objects.filter(name="x_education").update(column_limits=COLUMN_LIMITS)


def remove_limits(apps, schema_editor):
    apps.get_model("leads", "ImportProfile").objects.filter(name="x_education").update(column_limits={})


class Migration(migrations.Migration):
    dependencies = [("leads", "0013_import_wizard_fields")]

    operations = [migrations.RunPython(add_limits, remove_limits)]
