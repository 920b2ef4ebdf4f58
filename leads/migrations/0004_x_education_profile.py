"""Ships the `x_education` import profile (column list from the X Education dataset's data dictionary)."""

from django.db import migrations

LEAK = "filled in by the sales team after contact: leaks the outcome"

X_EDUCATION = {
    "name": "x_education",
    "description": "X Education lead export (Prospect ID, Converted, Select placeholders, Yes/No flags).",
    "mapping": {"external_id": "Prospect ID", "source": "Lead Source", "origin": "Lead Origin"},
    "outcome_column": "Converted",
    "converted_values": ["1"],
    "lost_values": ["0"],
    "lost_reason": "imported outcome",
    "placeholder_values": ["Select"],
    "column_types": {
        **{
            column: "number"
            for column in (
                "Lead Number",
                "TotalVisits",
                "Total Time Spent on Website",
                "Page Views Per Visit",
                "Asymmetrique Activity Score",
                "Asymmetrique Profile Score",
            )
        },
        **{
            column: "boolean"
            for column in (
                "Do Not Email",
                "Do Not Call",
                "Search",
                "Magazine",
                "Newspaper Article",
                "X Education Forums",
                "Newspaper",
                "Digital Advertisement",
                "Through Recommendations",
                "Receive More Updates About Our Courses",
                "Update me on Supply Chain Content",
                "Get updates on DM Content",
                "I agree to pay the amount through cheque",
                "A free copy of Mastering The Interview",
            )
        },
    },
    "excluded_columns": {
        "Lead Number": "a row identifier, not a signal",
        "Tags": LEAK,
        "Lead Quality": LEAK,
        "Lead Profile": LEAK,
        "Asymmetrique Activity Index": LEAK,
        "Asymmetrique Profile Index": LEAK,
        "Asymmetrique Activity Score": LEAK,
        "Asymmetrique Profile Score": LEAK,
    },
}


def create_profile(apps, schema_editor):
    ImportProfile = apps.get_model("leads", "ImportProfile")
    fields = dict(X_EDUCATION)
    ImportProfile.objects.update_or_create(name=fields.pop("name"), defaults=fields)


def delete_profile(apps, schema_editor):
    apps.get_model("leads", "ImportProfile").objects.filter(name="x_education").delete()


class Migration(migrations.Migration):
    dependencies = [("leads", "0003_import_pipeline")]

    operations = [migrations.RunPython(create_profile, delete_profile)]
