from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from leads.models import ImportJob, Lead
from tests.leads.import_samples import CHANNEL_MAPPING, channel_csv, write, x_education_profile, xeducation_csv


@pytest.fixture
def x_profile(db):
    return x_education_profile()


def test_command_imports_and_prints_the_counts(tmp_path, x_profile, admin_user):
    out = StringIO()
    call_command(
        "import_leads", str(write(tmp_path, xeducation_csv(15))), profile="x_education", user="root", stdout=out
    )
    assert "succeeded" in out.getvalue() and "created 15" in out.getvalue()
    assert Lead.objects.count() == 15
    assert ImportJob.objects.get().created_by == admin_user


def test_command_dry_run_writes_nothing(tmp_path, x_profile):
    out = StringIO()
    call_command(
        "import_leads", str(write(tmp_path, xeducation_csv(4))), "--dry-run", profile="x_education", stdout=out
    )
    assert "dry run" in out.getvalue() and "created 4" in out.getvalue()
    assert Lead.objects.count() == 0


def test_command_reports_row_errors_and_fails_in_atomic_mode(tmp_path, x_profile):
    text = xeducation_csv(3).replace("p-000002,", ",", 1)
    out = StringIO()
    with pytest.raises(CommandError, match="nothing was imported"):
        call_command("import_leads", str(write(tmp_path, text)), profile="x_education", stdout=out)
    assert "row 3 [Prospect ID]" in out.getvalue()
    assert Lead.objects.count() == 0


def test_command_skip_bad_mode(tmp_path, x_profile):
    text = xeducation_csv(3).replace("p-000002,", ",", 1)
    out = StringIO()
    call_command("import_leads", str(write(tmp_path, text)), "--mode", "skip-bad", profile="x_education", stdout=out)
    assert "created 2" in out.getvalue() and "failed 1" in out.getvalue()


def test_command_refuses_unknown_profile_and_bad_files(tmp_path, x_profile):
    with pytest.raises(CommandError, match="No import profile 'nope'"):
        call_command("import_leads", str(write(tmp_path, xeducation_csv(2))), profile="nope")
    with pytest.raises(CommandError, match="empty"):
        call_command("import_leads", str(write(tmp_path, b"", name="empty.csv")), profile="x_education")
    with pytest.raises(CommandError, match="No such file"):
        call_command("import_leads", str(tmp_path / "missing.csv"), profile="x_education")


def test_command_imports_campaign_and_value_through_a_profile(tmp_path, db):
    from leads.models import ImportProfile

    ImportProfile.objects.create(name="ads", **CHANNEL_MAPPING)
    out = StringIO()
    call_command("import_leads", str(write(tmp_path, channel_csv())), profile="ads", stdout=out)
    assert "created 6" in out.getvalue()
    values = dict(Lead.objects.filter(status="converted").values_list("external_id", "converted_value"))
    assert values == {"c1": Decimal("1200000.00"), "c2": Decimal("1200000.00"), "c3": Decimal("950.00"), "c4": None}
    assert set(Lead.objects.values_list("campaign", flat=True)) == {"spring", "autumn", "brand"}
