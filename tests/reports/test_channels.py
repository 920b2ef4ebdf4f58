"""Channels: spend, value, ROI and the forecast, against numbers worked out by hand."""

import math
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from leads import channels as channel_services
from leads import services
from leads.models import AuditEntry, ChannelValue, ForecastSnapshot, Lead, Spend
from leads.reports import channels
from leads.reports.channels import ChannelFilters
from leads.reports.forecast import Z_90
from tests.factories import LeadFactory, RepFactory

pytestmark = pytest.mark.django_db


def at(day: date, days: float = 0) -> datetime:
    return datetime(day.year, day.month, day.day, 12, tzinfo=UTC) + timedelta(days=days)


def lead(source, campaign, created: date, *, status="new", convert_days=None, value=None, p=None, owner=None):
    return LeadFactory(
        source=source, campaign=campaign, created_at=at(created), status=status, owner=owner, probability=p,
        converted_at=at(created, convert_days) if convert_days is not None else None,
        converted_value=Decimal(value) if value is not None else None,
    )  # fmt: skip


@pytest.fixture
def book():
    """September: Google/brand, 4 leads (2 converted in 2 and 4 days worth 1,000 and [default 500], 1 lost,
    1 open p=0.5, Alice's). October: Google without campaign, 2 leads (1 converted in 10 days worth 300, 1 open
    p=0.2, Bob's); Fair, 2 open leads (p=0.1 and unscored). Spend: Google/brand Sep 800, Google Oct 200."""
    alice, bob = RepFactory(username="alice", first_name="Alice"), RepFactory(username="bob", first_name="Bob")
    sep, oct_ = date(2026, 9, 10), date(2026, 10, 5)
    lead("Google", "brand", sep, status="converted", convert_days=2, value="1000")
    lead("Google", "brand", sep, status="converted", convert_days=4)
    lead("Google", "brand", sep, status="lost")
    lead("Google", "brand", sep, p=0.5, owner=alice)
    lead("Google", "", oct_, status="converted", convert_days=10, value="300")
    lead("Google", "", oct_, p=0.2, owner=bob)
    lead("Fair", "", date(2026, 10, 1), p=0.1)
    lead("Fair", "", date(2026, 10, 1))
    ChannelValue.objects.create(source="Google", campaign="brand", value=Decimal("500"))
    Spend.objects.create(month=date(2026, 9, 1), source="Google", campaign="brand", amount=Decimal("800"))
    Spend.objects.create(month=date(2026, 10, 1), source="Google", campaign="", amount=Decimal("200"))
    return {"alice": alice, "bob": bob}


PERIOD = {"month_from": date(2026, 9, 1), "month_to": date(2026, 10, 1)}


def test_per_source_figures_match_the_hand_worked_numbers(book):
    report = channels.channels_report(ChannelFilters(**PERIOD))
    google, fair = (next(r for r in report["channels"] if r["key"] == (s,)) for s in ("Google", "Fair"))

    assert (google["leads"], google["conversions"], google["spend"], google["revenue"]) == (6, 3, 1000.0, 1800.0)
    assert google["cost_per_lead"] == pytest.approx(1000 / 6)
    assert google["conversion_rate"] == pytest.approx(0.5)
    assert google["cost_per_conversion"] == pytest.approx(1000 / 3)
    assert google["roi"] == pytest.approx(0.8)
    assert google["median_days"] == pytest.approx(4.0)  # 2, 4 and 10 days
    assert (fair["leads"], fair["conversions"], fair["spend"], fair["roi"]) == (2, 0, None, None)
    assert (fair["cost_per_lead"], fair["spend_note"]) == (None, "no spend recorded")
    assert report["total"]["roi"] == pytest.approx(0.8) and report["total"]["leads"] == 8


def test_per_campaign_and_per_month(book):
    report = channels.channels_report(ChannelFilters(**PERIOD, by="campaign"))
    by_key = {r["key"]: r for r in report["channels"]}
    brand, plain = by_key[("Google", "brand")], by_key[("Google", "")]

    assert (brand["revenue"], brand["spend"], brand["roi"]) == (1500.0, 800.0, pytest.approx(0.875))
    assert (plain["revenue"], plain["spend"], plain["roi"]) == (300.0, 200.0, pytest.approx(0.5))
    assert brand["median_days"] == pytest.approx(3.0)
    september, october = report["months"]
    assert (september["month"], september["leads"], september["revenue"], september["roi"]) == (
        date(2026, 9, 1), 4, 1500.0, pytest.approx(0.875))  # fmt: skip
    assert (october["leads"], october["conversions"], october["spend"]) == (4, 1, 200.0)


def test_a_month_without_spend_says_so_instead_of_an_infinite_roi(book):
    Spend.objects.all().delete()
    report = channels.channels_report(ChannelFilters(**PERIOD))
    assert all(r["roi"] is None and r["spend_note"] == "no spend recorded" for r in report["channels"])


def test_forecast_sums_calibrated_probabilities_with_a_poisson_binomial_interval(book):
    forecast = channels.open_leads_forecast()
    total = channels.forecast_row("all", forecast.total)

    assert (total["open_leads"], total["scored"]) == (4, 3)
    assert total["expected_conversions"] == pytest.approx(0.8)
    sd = math.sqrt(0.25 + 0.16 + 0.09)
    assert total["conversions_low"] == 0.0
    assert total["conversions_high"] == pytest.approx(0.8 + Z_90 * sd)
    # Revenue: Google/brand at its default 500, Google without campaign at its average converted value 300;
    # Fair has neither, so its lead is not in the revenue forecast.
    assert total["expected_revenue"] == pytest.approx(0.5 * 500 + 0.2 * 300)
    assert total["revenue_high"] == pytest.approx(310 + Z_90 * math.sqrt(500**2 * 0.25 + 300**2 * 0.16))
    by_source = {r["key"]: r for r in forecast.rows("source")}
    assert by_source["Google"]["expected_conversions"] == pytest.approx(0.7)
    assert by_source["Fair"]["expected_revenue"] is None
    by_owner = {r["key"]: r["expected_conversions"] for r in forecast.rows("owner")}
    assert by_owner == {
        book["alice"].pk: pytest.approx(0.5),
        book["bob"].pk: pytest.approx(0.2),
        None: pytest.approx(0.1),
    }


def test_last_months_forecast_is_set_beside_what_those_leads_did():
    taken = datetime(2026, 10, 1, 6, tzinfo=UTC)
    ForecastSnapshot.objects.create(
        taken_at=taken, open_leads=10, scored_leads=10, expected_conversions=2.0, conversions_variance=1.0
    )
    lead("Web", "", date(2026, 9, 20), status="converted", convert_days=20, value="100")  # converted after the snapshot
    lead("Web", "", date(2026, 9, 1), status="converted", convert_days=5)  # before it: not counted
    lead("Web", "", date(2026, 10, 2), status="converted", convert_days=1)  # created after it: not counted
    lead("Web", "", date(2026, 9, 25))  # still open

    check = channels.forecast_check(now=datetime(2026, 11, 15, tzinfo=UTC))

    assert (check["converted_since"], check["revenue_since"], check["still_open"]) == (1, 100.0, 1)
    assert check["expected"].expected == 2.0
    assert check["expected"].high == pytest.approx(2.0 + Z_90)
    assert check["within_interval"] is True
    assert channels.forecast_check(now=datetime(2027, 1, 15, tzinfo=UTC)) is None  # nothing stored in December


def test_a_snapshot_is_taken_once_a_month(book):
    first = channel_services.forecast_snapshot_take(now=datetime(2026, 11, 1, 1, tzinfo=UTC))
    assert first.expected_conversions == pytest.approx(0.8) and first.open_leads == 4
    assert channel_services.forecast_snapshot_take(now=datetime(2026, 11, 20, tzinfo=UTC)) is None
    assert channel_services.forecast_snapshot_take(now=datetime(2026, 12, 1, 1, tzinfo=UTC)) is not None


def test_closing_as_converted_records_the_value_or_the_channels_default(book):
    ChannelValue.objects.create(source="Fair", campaign="", value=Decimal("250"))
    given, defaulted, unknown = (LeadFactory(source=s, campaign="") for s in ("Fair", "Fair", "Nowhere"))
    services.lead_close(lead=given, outcome="converted", user=None, value=Decimal("99.50"))
    services.lead_close(lead=defaulted, outcome="converted", user=None)
    services.lead_close(lead=unknown, outcome="converted", user=None)
    values = [Lead.objects.get(pk=x.pk).converted_value for x in (given, defaulted, unknown)]
    assert values == [Decimal("99.50"), Decimal("250.00"), None]

    services.lead_status_change(lead=given, status="contacted", user=None)
    assert Lead.objects.get(pk=given.pk).converted_value is None


@pytest.mark.parametrize(
    "text,amount",
    [("1200", "1200.00"), ("$1,200,000.00", "1200000.00"), ("1.200,50 €", "1200.50"), (" 75.5 ", "75.50")],
)
def test_money_as_exports_write_it(text, amount):
    assert channel_services.parse_amount(text) == Decimal(amount)


@pytest.mark.parametrize("text", ["-5", "(40)", "abc", "NaN", "1e400"])
def test_money_that_is_not_spend(text):
    with pytest.raises(ValidationError):
        channel_services.parse_amount(text)


@pytest.mark.parametrize("text", ["2026-10", "2026-10-01", "10/2026", "Oct 2026", "October 2026"])
def test_months_as_written(text):
    assert channel_services.parse_month(text) == date(2026, 10, 1)


def test_a_spend_file_records_every_row_or_reports_each_bad_cell(tmp_path, admin_user):
    bad = tmp_path / "spend.csv"
    bad.write_text("Month,Source,Campaign,Amount\n2026-09,Google,brand,\"$1,200.00\"\nSeptember,Google,,=1+1\n"
                   "2026-10,,x,5\n2026-09,Google,brand,3\n")  # fmt: skip
    result = channel_services.spend_file_import(bad, name="spend.csv", by=admin_user)
    assert result.recorded == 0 and not Spend.objects.exists()
    assert [(e["row"], e["column"]) for e in result.errors] == [
        (3, "month"),
        (3, "amount"),
        (4, "source"),
        (5, "month"),
    ]
    assert "row 2" in result.errors[-1]["message"]

    good = tmp_path / "good.csv"
    good.write_text('month;source;amount\n2026-09;Google;1200\nOct 2026;Fair;"1.500,00"\n', encoding="cp1252")
    result = channel_services.spend_file_import(good, name="good.csv", by=admin_user)
    assert (result.recorded, result.errors) == (2, [])
    assert sorted(Spend.objects.values_list("source", "amount")) == [
        ("Fair", Decimal("1500.00")),
        ("Google", Decimal("1200.00")),
    ]


def test_spend_page_records_and_shows_errors_beside_the_field(admin_client_crm):
    url = reverse("reports:spend")
    bad = admin_client_crm.post(url, {"action": "spend", "month": "13/2026", "source": "Google", "amount": "x"})
    assert bad.status_code == 400 and not Spend.objects.exists()
    assert "not a month" in bad.content.decode() and "not an amount" in bad.content.decode()
    ok = admin_client_crm.post(url, {"action": "spend", "month": "2026-10", "source": "Google", "amount": "$250"})
    assert ok.status_code == 302 and Spend.objects.get().amount == Decimal("250.00")
    entry = AuditEntry.objects.get(action="spend_recorded")
    assert (entry.actor_name, entry.details["amount"]) == ("root", "250.00")


def test_spend_page_lists_spend_whose_recorder_is_gone_or_unknown(admin_client_crm):
    """Spend from the demo data or a since-deleted user has no recorder: the page shows "-", not a 500."""
    Spend.objects.create(month=date(2026, 9, 1), source="Google", amount=Decimal("100.00"), recorded_by=None)
    recorder = RepFactory(first_name="Rita", last_name="Recorder")
    Spend.objects.create(month=date(2026, 10, 1), source="Google", amount=Decimal("200.00"), recorded_by=recorder)
    response = admin_client_crm.get(reverse("reports:spend"))
    assert response.status_code == 200
    body = response.content.decode()
    assert "Rita Recorder" in body and "<td>-</td>" in body


def test_managers_read_the_channels_report_but_only_admins_record_spend(manager_client, book):
    page = manager_client.get(reverse("reports:channels"), {"month_from": "2026-09", "month_to": "2026-10"})
    body = page.content.decode()
    assert page.status_code == 200 and "Google" in body and "no spend recorded" in body and "<svg" in body
    assert manager_client.get(reverse("reports:spend")).status_code == 403
    csv_body = manager_client.get(reverse("reports:channels"), {"month_from": "2026-09", "month_to": "2026-10",
                                                                "format": "csv", "table": "channels"})  # fmt: skip
    assert csv_body["Content-Type"].startswith("text/csv") and "Google" in csv_body.content.decode()


@pytest.mark.parametrize(
    "params",
    [
        {"month_from": "9999-99"},
        {"month_from": "2026-10", "month_to": "2026-01"},
        {"month_from": "1900-01"},
        {"month_from": "2000-01", "month_to": "2026-10"},
    ],
)
def test_bad_report_months_are_explained_not_a_500(manager_client, params):
    response = manager_client.get(reverse("reports:channels"), params)
    assert response.status_code == 200
    assert response.context["form"].errors


IMPORTED = (
    "Lead ID,Created,Source,Campaign,Value,Stage\n"
    'r1,2026-09-03,Google,spring,"$1,200,000.00",Won\n'
    'r2,2026-09-15,Google,spring,"1.200.000,00 €",Won\n'
    "r3,2026-09-20,Google,spring,EUR 950,Lost\n"
    "r4,2026-09-21,Fair,,,Won\n"
    'r5,2026-09-22,Fair,autumn,"$80.25",Won\n'
    "r6,2026-09-23,Fair,autumn,,Open\n"
)


def test_revenue_of_an_imported_file_matches_the_hand_worked_sum(tmp_path):
    """r1 + r2 are 1,200,000 each; r3's 950 is on a lost lead (not revenue); r4 converted without a
    value takes Fair's 500; r5 is 80.25; r6 is open. Google/spring spent 1,000,000 in September."""
    from leads.importing import services as import_services

    ChannelValue.objects.create(source="Fair", campaign="", value=Decimal("500"))
    ChannelValue.objects.create(source="Google", campaign="", value=Decimal("7"))  # never used: every value is known
    Spend.objects.create(month=date(2026, 9, 1), source="Google", campaign="spring", amount=Decimal("1000000"))
    path = tmp_path / "ads.csv"
    path.write_text(IMPORTED, encoding="utf-8")
    mapping = {
        "mapping": {"external_id": "Lead ID", "created_at": "Created", "source": "Source", "campaign": "Campaign",
                    "converted_value": "Value"},
        "outcome_column": "Stage", "converted_values": ["Won"], "lost_values": ["Lost"], "open_values": ["Open"],
    }  # fmt: skip
    for _ in range(2):  # the second import of the same file changes nothing
        job = import_services.import_job_create(file=path, user=None, mapping=mapping)
        job = import_services.import_job_run(job_id=job.pk)
        assert job.status == "succeeded", job.error
        september = {"month_from": date(2026, 9, 1), "month_to": date(2026, 9, 1)}
        report = channels.channels_report(ChannelFilters(**september, by="campaign"))
        rows = {r["key"]: r for r in report["channels"]}
        assert {key: (r["leads"], r["conversions"], r["revenue"]) for key, r in rows.items()} == {
            ("Google", "spring"): (3, 2, 2_400_000.0),
            ("Fair", ""): (1, 1, 500.0),
            ("Fair", "autumn"): (2, 1, 80.25),
        }
        assert rows[("Google", "spring")]["roi"] == pytest.approx(1.4)
        assert report["total"]["revenue"] == pytest.approx(2_400_580.25) and report["total"]["unknown_value"] == 0
    assert Lead.objects.count() == 6 and job.unchanged_count == 6


def test_an_imported_value_on_an_open_lead_counts_once_the_lead_converts_in_the_app(book):
    ChannelValue.objects.create(source="Fair", campaign="", value=Decimal("250"))
    imported = LeadFactory(source="Fair", campaign="", converted_value=Decimal("1200.00"))
    services.lead_status_change(lead=imported, status="contacted", user=None)
    assert Lead.objects.get(pk=imported.pk).converted_value == Decimal("1200.00")  # still open: kept
    services.lead_close(lead=imported, outcome="converted", user=None)
    assert Lead.objects.get(pk=imported.pk).converted_value == Decimal("1200.00")  # not the default 250
    dropped = LeadFactory(source="Fair", campaign="", converted_value=Decimal("99"))
    services.lead_close(lead=dropped, outcome="lost", user=None, reason="budget")
    assert Lead.objects.get(pk=dropped.pk).converted_value is None
