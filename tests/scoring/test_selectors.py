import pytest

from leads.models import Lead
from scoring import activation, scorer, selectors
from scoring.models import ScoringSettings
from tests.factories import LeadFactory
from tests.scoring.conftest import outcome_leads_create, rescore_all


@pytest.mark.django_db
def test_queue_banner_explains_cold_start(settings):
    outcome_leads_create(20)

    banner = selectors.queue_banner()

    assert banner.startswith("model not trained yet:") and "of 100 outcomes" in banner


@pytest.mark.django_db
def test_queue_banner_counts_each_outcome_only_up_to_what_training_needs(settings, django_assert_num_queries):
    settings.SCORING_MIN_CONVERTED = settings.SCORING_MIN_LOST = 5
    LeadFactory.create_batch(8, status=Lead.Status.CONVERTED)
    LeadFactory.create_batch(2, status=Lead.Status.LOST)

    with django_assert_num_queries(3):  # is a model active; the scoring settings; both counts in one statement
        banner = selectors.queue_banner()

    assert banner.startswith("model not trained yet: 7 of 10 outcomes (5 converted of 5, 2 lost of 5 needed)")
    readiness = selectors.training_readiness()  # the full count, for the model pages
    assert (readiness.converted, readiness.lost) == (8, 2)
    limited = selectors.training_readiness(up_to_needed=True)
    assert (limited.converted, limited.lost, limited.ready) == (5, 2, False)


@pytest.mark.django_db
def test_queue_banner_is_empty_with_an_active_model(trained):
    assert selectors.queue_banner() is None
    assert selectors.active_model_version() == trained


@pytest.mark.django_db
def test_versions_list_carries_headline_metrics(trained):
    (version,) = selectors.model_versions_list()

    assert float(version.cv_auc) == trained.metrics["cv"]["roc_auc"]["mean"]
    assert float(version.holdout_ece) == trained.metrics["holdout"]["ece"]


@pytest.mark.django_db
def test_score_unsaved_lead_returns_probability_score_tier_reasons(trained):
    result = selectors.score_unsaved(source="Referral", attributes={"plan": "enterprise", "visits": 11})

    assert result["model_version"] == trained.pk
    assert 0 <= result["probability"] <= 1 and result["score"] == round(100 * result["probability"])
    assert result["tier"] in ("hot", "warm", "cold")
    assert any(r["feature"] == "plan" for r in result["reasons"])


@pytest.mark.django_db
def test_percentile_tiers_use_the_training_score_distribution(trained):
    ScoringSettings.objects.filter(pk=1).update(tier_mode="percentile", hot_percentile=90, warm_percentile=50)

    cutoffs = selectors.tier_cutoffs(trained)

    quantiles = trained.tier_cutoffs["quantiles"]
    points = scorer.score_from_probability
    assert cutoffs == {"hot": points(quantiles[90]), "warm": points(quantiles[50])}


@pytest.mark.django_db
def test_capacity_tiers_make_the_top_k_open_leads_hot(trained, rep, other_rep):
    rescore_all()
    ScoringSettings.objects.filter(pk=1).update(tier_mode="capacity", capacity_per_rep=3)
    activation.settings_changed()

    cutoffs = selectors.tier_cutoffs(trained)

    best = list(
        Lead.objects.filter(status__in=Lead.OPEN_STATUSES)
        .order_by("-rank__priority")
        .values_list("rank__priority", flat=True)
    )
    assert cutoffs["hot"] == best[5]  # 2 reps x 3 leads, in score points
