import math
from datetime import timedelta

import pandas as pd
import pytest
from django.utils import timezone

from leads.models import ImportJob, ImportProfile, Lead
from scoring import features as F
from tests.factories import ActivityFactory, LeadFactory

FIELDS = {"Source": "source", "Origin": "origin"}


def _frame(leads, as_of, types=None):
    types = types or F.frame_types({}, None)
    return F.lead_frame([lead.pk for lead in leads], as_of=as_of, types=types, fields=FIELDS)


@pytest.mark.django_db
def test_closed_lead_activity_stops_at_the_outcome():
    now = timezone.now()
    lead = LeadFactory(
        created_at=now - timedelta(days=20), status=Lead.Status.CONVERTED, converted_at=now - timedelta(days=10)
    )
    ActivityFactory(lead=lead, kind="call", occurred_at=now - timedelta(days=15))
    ActivityFactory(lead=lead, kind="email", occurred_at=now - timedelta(days=12))
    ActivityFactory(lead=lead, kind="status_change", occurred_at=now - timedelta(days=10), outcome="converted")
    # After the outcome: must not count.
    ActivityFactory(lead=lead, kind="meeting", occurred_at=now - timedelta(days=5))
    ActivityFactory(lead=lead, kind="call", occurred_at=now - timedelta(days=1))

    row = _frame([lead], now).loc[lead.pk]

    assert row[F.activity_column("call", 7)] == 1  # 5 days before the outcome
    assert row[F.activity_column("email", 7)] == 1
    assert row[F.activity_column("meeting", 30)] == 0
    assert row[F.DAYS_SINCE_LAST] == pytest.approx(2.0, abs=0.01)
    assert row[F.HOURS_TO_FIRST_CONTACT] == pytest.approx(5 * 24, abs=0.1)
    assert row[F.CONTACTED] == 1


@pytest.mark.django_db
def test_lost_lead_uses_its_closing_status_change_as_cutoff():
    now = timezone.now()
    lead = LeadFactory(created_at=now - timedelta(days=30), status=Lead.Status.LOST, lost_reason="x")
    ActivityFactory(lead=lead, kind="call", occurred_at=now - timedelta(days=25))
    ActivityFactory(lead=lead, kind="status_change", occurred_at=now - timedelta(days=20), outcome="lost")
    ActivityFactory(lead=lead, kind="call", occurred_at=now - timedelta(days=2))

    row = _frame([lead], now).loc[lead.pk]

    assert row[F.activity_column("call", 30)] == 1
    assert row[F.DAYS_SINCE_LAST] == pytest.approx(5.0, abs=0.01)


@pytest.mark.django_db
def test_open_lead_counts_activity_in_windows_as_of_now():
    now = timezone.now()
    lead = LeadFactory(created_at=now - timedelta(days=40))
    ActivityFactory(lead=lead, kind="web_visit", occurred_at=now - timedelta(days=2))
    ActivityFactory(lead=lead, kind="web_visit", occurred_at=now - timedelta(days=20))
    ActivityFactory(lead=lead, kind="web_visit", occurred_at=now - timedelta(days=35))
    untouched = LeadFactory(created_at=now - timedelta(days=3))

    frame = _frame([lead, untouched], now)

    assert frame.loc[lead.pk, F.activity_column("web_visit", 7)] == 1
    assert frame.loc[lead.pk, F.activity_column("web_visit", 30)] == 2
    assert frame.loc[lead.pk, F.CONTACTED] == 0  # a web visit is not a contact
    assert math.isnan(frame.loc[lead.pk, F.HOURS_TO_FIRST_CONTACT])
    assert math.isnan(frame.loc[untouched.pk, F.DAYS_SINCE_LAST])
    assert frame.loc[untouched.pk, F.activity_column("call", 30)] == 0


@pytest.mark.django_db
def test_attribute_types_follow_the_import_declaration_else_json_values():
    job = ImportJob.objects.create(profile=ImportProfile.objects.create(name="acme", column_types={"zip": "category"}))
    rows = [{"zip": 12345, "visits": 3, "vip": True, "plan": "pro", "signup": "2024-01-02"}, {"visits": None}]

    types = F.infer_column_types(rows, F.data_set_settings_for([job.pk]).column_types)

    assert types == {"zip": "category", "visits": "number", "vip": "boolean", "plan": "category", "signup": "date"}


@pytest.mark.django_db
def test_frame_has_exactly_the_requested_columns_coerced_to_their_types():
    lead = LeadFactory(source="Ads", attributes={"visits": "7", "vip": "yes", "plan": "  pro ", "extra": 1})
    types = {"Source": "category", "visits": "number", "vip": "boolean", "plan": "category", "missing": "number"}

    frame = _frame([lead], timezone.now(), types)

    assert list(frame.columns) == list(types)
    row = frame.loc[lead.pk]
    assert (row["Source"], row["visits"], row["vip"], row["plan"]) == ("Ads", 7.0, 1.0, "pro")
    assert math.isnan(row["missing"])


@pytest.mark.django_db
def test_a_frame_built_in_parts_is_the_frame_built_at_once(monkeypatch):
    now = timezone.now()
    leads = [
        LeadFactory(source=source, attributes={"plan": plan, "visits": visits, "vip": visits % 2 == 0})
        for source, plan, visits in [("Ads", "pro", 3), ("Web", None, 0), ("Ads", " pro", 7), ("Web", "basic", 1)]
    ]
    ActivityFactory(lead=leads[2], kind="call", occurred_at=now - timedelta(days=2))
    types = F.frame_types({"plan": F.CATEGORY, "visits": F.NUMBER, "vip": F.BOOLEAN}, None)
    ids = [lead.pk for lead in reversed(leads)]
    at_once = F.lead_frame(ids, as_of=now, types=types, fields=FIELDS)
    monkeypatch.setattr(F, "FRAME_PART", 3)

    in_parts = F.lead_frame(ids, as_of=now, types=types, fields=FIELDS)

    pd.testing.assert_frame_equal(in_parts, at_once)
    assert list(in_parts.index) == sorted(ids)
    # One string object per level, however many leads share it.
    assert in_parts["Source"].iloc[0] is in_parts["Source"].iloc[2]
    assert in_parts["plan"].iloc[0] is in_parts["plan"].iloc[2] and in_parts["plan"].iloc[1] is None


@pytest.mark.django_db
def test_profile_exclusions_and_field_labels_come_from_the_imports_of_the_leads():
    x_job = ImportJob.objects.create(
        profile=ImportProfile.objects.create(
            name="x", mapping={"source": "Lead Source"}, excluded_columns={"Tags": "leaks the outcome"}
        )
    )
    other_job = ImportJob.objects.create(profile=ImportProfile.objects.create(name="acme", mapping={}))

    with_x = F.data_set_settings_for([x_job.pk, None])
    without_x = F.data_set_settings_for([other_job.pk])

    assert "Tags" in with_x.excluded and "import profile x" in with_x.excluded["Tags"]
    assert F.model_field_labels(with_x)["source"] == "Lead Source"
    assert "Tags" not in without_x.excluded
    assert F.model_field_labels(without_x)["source"] == "Source"


@pytest.mark.django_db
def test_text_dates_read_day_first_when_a_column_says_so_and_become_gaps_to_created():
    created = timezone.now().replace(year=2024, month=2, day=10, hour=0, minute=0, second=0, microsecond=0)
    eu = LeadFactory(created_at=created, attributes={"signup": "31.01.2024", "iso": "2024-02-09T00:00:00+00:00"})
    us = LeadFactory(created_at=created, attributes={"signup": "01/02/2024 12:00", "iso": "2024-02-11"})
    types = F.infer_column_types([eu.attributes, {"signup": "13.01.2024"}, us.attributes])
    assert types == {"signup": F.DATE_DAY_FIRST, "iso": F.DATE}

    frame = F.lead_frame(
        [eu.pk, us.pk], as_of=created, types=F.frame_types(types), fields=FIELDS, dates=F.date_features(types)
    )

    assert frame.loc[eu.pk, F.date_gap_column("signup")] == pytest.approx(10.0)
    assert frame.loc[us.pk, F.date_gap_column("signup")] == pytest.approx(8.5)  # 1 February, noon
    assert frame.loc[us.pk, F.date_gap_column("iso")] == pytest.approx(-1.0)
    assert frame.loc[eu.pk, F.CREATED_WEEKDAY] == "Saturday" and frame.loc[eu.pk, F.CREATED_MONTH] == "February"
    assert "signup" not in frame.columns  # never a raw timestamp


@pytest.mark.django_db
def test_lead_rows_give_each_leads_fields_and_created_microsecond_whether_the_ids_are_contiguous_or_not():
    created = timezone.now().replace(microsecond=123457) - timedelta(days=3)
    leads = [
        LeadFactory(source="Web", origin="Form", attributes={"plan": "pro", "visits": 3, "flag": True}),
        LeadFactory(source="", origin="", attributes={}),
        LeadFactory(source="Ads", origin="Call", attributes={"minutes": 2.5, "nested": {"a": [1, None]}}),
    ]
    Lead.objects.filter(pk__in=[lead.pk for lead in leads]).update(created_at=created)
    expected = [
        (lead.pk, lead.source, lead.origin, lead.attributes, (created - F._EPOCH) // timedelta(microseconds=1))
        for lead in leads
    ]

    assert F.lead_rows([lead.pk for lead in leads]) == expected  # one id range (PostgreSQL: read raw)
    assert F.lead_rows([leads[0].pk, leads[2].pk]) == [expected[0], expected[2]]  # a list of ids
    frame = F.frame_from_rows(F.lead_rows([leads[0].pk]), {F.CREATED_WEEKDAY: F.CATEGORY}, None, {})
    assert frame[F.CREATED_WEEKDAY].iloc[0] == F.WEEKDAYS[timezone.localtime(created).weekday()]


@pytest.mark.parametrize(
    "values",
    [
        [" Google", "Google", None, "", "  ", "Chat", float("nan"), "Google "],  # text: one call per distinct value
        [True, 1, 1.0, "1", None, False, 0, "yes"],  # 1 == True == 1.0 as keys: the per-value path
        [None, None],
        [],
    ],
)
def test_category_coercion_gives_each_value_its_words_once_per_level(values):
    series = pd.Series(values, dtype="object", index=pd.RangeIndex(10, 10 + len(values)))
    coerced = F._coerce_series(series, F.CATEGORY)
    assert coerced.tolist() == [F.coerce_value(F.CATEGORY, v) for v in values]
    assert coerced.index.equals(series.index) and coerced.dtype == object
    # One string object per level, whatever the input held.
    levels = [v for v in coerced.tolist() if v is not None]
    assert len({id(v) for v in levels}) == len(set(levels))


def test_created_parts_name_each_weekday_and_month_in_the_sites_time_zone_and_keep_missing_dates_missing(settings):
    settings.TIME_ZONE = "America/New_York"
    stamps = pd.Series(
        pd.to_datetime(["2026-01-05T03:00:00Z", "2026-12-31T12:00:00Z", None, "2026-06-07T23:30:00Z"], utc=True)
    )
    parts = F.created_parts(stamps)
    # 03:00 UTC on Monday 5 January is Sunday 4 January in New York.
    assert parts[F.CREATED_WEEKDAY].tolist() == ["Sunday", "Thursday", None, "Sunday"]
    assert parts[F.CREATED_MONTH].tolist() == ["January", "December", None, "June"]
