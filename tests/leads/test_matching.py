"""One matching rule on every door: external id, else the email key (lowest id wins)."""

import pytest

from leads import services
from leads.importing import services as import_services
from leads.matching import email_key, leads_matching
from leads.models import Lead
from tests.factories import LeadFactory
from tests.leads.import_samples import SIMPLE_MAPPING, simple_csv, write


def test_email_key_case_folds_in_every_script():
    assert email_key("  Ann@STRASSE.de ") == email_key("ann@straße.de") == "ann@strasse.de"
    assert email_key(None) == ""


@pytest.mark.django_db
def test_a_lead_created_in_the_crm_is_matched_by_an_import_in_another_case(tmp_path, admin_user):
    created = services.lead_create(name="Ann", email="ann@straße.de")
    path = write(tmp_path, simple_csv([["", "Ann@STRASSE.de", "Ann Updated", "", "", ""]]))

    job = import_services.import_job_create(file=path, user=admin_user, mapping=SIMPLE_MAPPING, mode="atomic")
    import_services.import_job_run(job_id=job.pk)

    assert Lead.objects.count() == 1
    created.refresh_from_db()
    assert (created.email, created.name) == ("ann@strasse.de", "Ann Updated")


@pytest.mark.django_db
def test_leads_matching_batches_many_keys_and_prefers_the_lowest_id():
    first = LeadFactory(email="same@example.com")
    LeadFactory(email="same@example.com")
    by_id = [LeadFactory(external_id=f"x-{i}") for i in range(950)]

    by_external_id, by_email = leads_matching([lead.external_id for lead in by_id], ["same@example.com"])

    assert len(by_external_id) == 950 and by_email["same@example.com"].pk == first.pk
