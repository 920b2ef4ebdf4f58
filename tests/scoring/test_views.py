import pytest

from leads.models import Lead
from scoring import rescoring, training_runs
from scoring.models import ActivationEvent, ModelVersion, ScoringSettings, TrainingRun


@pytest.mark.django_db
def test_reps_cannot_see_model_pages(rep_client, trained):
    assert rep_client.get("/models/").status_code == 403
    assert rep_client.get(f"/models/{trained.pk}/").status_code == 403


@pytest.mark.django_db
def test_managers_see_versions_detail_and_compare(manager_client, trained, django_assert_max_num_queries):
    ScoringSettings.objects.filter(pk=1).update(margin_auc=-1, margin_log_loss=-1)  # the retrain stays a candidate
    second = training_runs.model_train(folds=3)

    with django_assert_max_num_queries(15):
        listing = manager_client.get("/models/")
    detail = manager_client.get(f"/models/{trained.pk}/")
    compare = manager_client.get(f"/models/compare/?a={trained.pk}&b={second.pk}")

    assert listing.status_code == 200 and b"Retrain now" not in listing.content
    body = detail.content.decode()
    for text in ("Calibration", "Lift by score decile", "Global factors", "Threshold chooser", "Features used"):
        assert text in body
    assert compare.status_code == 200 and f"v{second.pk}".encode() in compare.content


@pytest.mark.django_db
def test_managers_cannot_act_on_models(manager_client, trained):
    assert manager_client.post(f"/models/{trained.pk}/activate/").status_code == 403
    assert manager_client.post("/models/retrain/").status_code == 403
    assert manager_client.post("/models/rollback/").status_code == 403
    assert manager_client.post(f"/models/{trained.pk}/threshold/", {"threshold": 0.35}).status_code == 403


@pytest.mark.django_db
def test_admin_retrains_and_follows_progress(admin_client_crm, trained, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client_crm.post("/models/retrain/", HTTP_HX_REQUEST="true")

    assert response.status_code == 200 and b"<progress" in response.content
    run = TrainingRun.objects.get()
    assert run.status == TrainingRun.Status.SUCCEEDED and run.progress == 100
    poll = admin_client_crm.get(f"/models/runs/{run.pk}/")
    assert b"Succeeded" in poll.content and b"hx-trigger" not in poll.content


@pytest.mark.django_db
def test_admin_picks_a_threshold_and_activates_a_candidate(admin_client_crm, trained):
    ScoringSettings.objects.filter(pk=1).update(margin_auc=-1, margin_log_loss=-1)  # the retrain stays a candidate
    second = training_runs.model_train(folds=3)

    admin_client_crm.post(f"/models/{second.pk}/threshold/", {"threshold": "0.35"})
    admin_client_crm.post(f"/models/{second.pk}/activate/")

    second.refresh_from_db()
    assert second.threshold == 0.35 and second.status == ModelVersion.Status.ACTIVE


@pytest.mark.django_db
def test_admin_changes_tier_settings(admin_client_crm, trained):
    response = admin_client_crm.post(
        "/models/settings/",
        {
            "tier_mode": "probability",
            "hot_threshold": "0.7",
            "warm_threshold": "0.4",
            "hot_percentile": "80",
            "warm_percentile": "50",
            "capacity_per_rep": "10",
            "excluded_columns": "noise\n",
            "kept_columns": "",
            "margin_auc": "0.002",
            "margin_log_loss": "0.002",
        },
    )

    assert response.status_code == 302
    options = ScoringSettings.load()
    assert options.hot_threshold == 0.7 and options.excluded_columns == ["noise"]


@pytest.mark.django_db
def test_manager_overrides_a_score_on_the_lead_page(manager_client, manager, trained):
    rescoring.rescore_run_continue(rescoring.rescore_run_start())
    lead = Lead.objects.filter(status=Lead.Status.NEW).first()

    page = manager_client.get(f"/leads/{lead.pk}/")
    assert b"score-override-form" in page.content
    manager_client.post(f"/models/leads/{lead.pk}/override/", {"score": "77", "reason": "VIP"})
    lead.refresh_from_db()
    assert (lead.score_override, lead.priority) == (77, 77)

    manager_client.post(f"/models/leads/{lead.pk}/override/clear/")
    lead.refresh_from_db()
    assert lead.score_override is None and lead.priority == lead.score


@pytest.mark.django_db
def test_reps_get_no_override_form_and_cannot_post_one(rep_client, rep, trained):
    lead = Lead.objects.filter(status=Lead.Status.NEW).first()
    lead.owner = rep
    lead.save()

    page = rep_client.get(f"/leads/{lead.pk}/")

    assert b"score-override-form" not in page.content
    assert rep_client.post(f"/models/leads/{lead.pk}/override/", {"score": "1", "reason": "x"}).status_code == 403


@pytest.mark.django_db
def test_model_pages_show_the_drift_notice_from_the_refreshed_report(manager_client, trained):
    from scoring import drift
    from scoring.drift import monitoring_refresh

    # Every open lead now says yes to the newsletter; about 40 % of the training leads did.
    for lead in Lead.objects.filter(status=Lead.Status.NEW):
        lead.attributes = {**lead.attributes, "newsletter": "yes"}
        lead.save(update_fields=["attributes"])
    assert trained.metrics["reference"]["newsletter"]["kind"] == "boolean"

    # The pages read the drift report the beat task caches; they never compute it themselves.
    assert b"drift-notice" not in manager_client.get("/models/").content
    assert drift.drift_cached_for(trained) is None

    monitoring_refresh()  # what the periodic scoring.refresh_monitoring task runs
    drift_link = f'href="/reports/drift/?version={trained.pk}"'
    for url in ("/models/", f"/models/{trained.pk}/"):
        page = manager_client.get(url).content.decode()
        assert 'id="drift-notice"' in page and "Consider retraining" in page, url
        assert "newsletter" in page and drift_link in page, url

    # A version that is not active scores no lead: no notice on its page, even with drift cached.
    retired = ModelVersion.objects.create(
        status=ModelVersion.Status.RETIRED, metrics=trained.metrics, features=trained.features
    )
    assert drift.drift_notice(retired) is not None  # computed and cached for it
    assert b"drift-notice" not in manager_client.get(f"/models/{retired.pk}/").content


@pytest.mark.django_db
def test_model_pages_show_no_drift_notice_when_nothing_drifted(manager_client, trained):
    from scoring import drift
    from scoring.drift import monitoring_refresh

    ScoringSettings.objects.filter(pk=1).update(margin_auc=-1, margin_log_loss=-1)  # the retrain stays a candidate
    candidate = training_runs.model_train(folds=3)  # not active: drift is only about the active model
    # The active model's reference now matches the open leads exactly: the only feature is the
    # source, and every open lead comes from the same three sources in the same shares.
    open_leads = Lead.objects.filter(status__in=Lead.OPEN_STATUSES)
    shares = {s: open_leads.filter(source=s).count() / open_leads.count() for s in ("Web", "Referral", "Ads")}
    trained.metrics = {**trained.metrics, "reference": {"Source": {"kind": "categorical", "fractions": shares}}}
    trained.save(update_fields=["metrics"])

    monitoring_refresh()
    assert drift.drift_cached_for(trained).features[0].psi == pytest.approx(0.0)
    for url in ("/models/", f"/models/{trained.pk}/", f"/models/{candidate.pk}/"):
        page = manager_client.get(url).content.decode()
        assert page and "drift-notice" not in page and "Consider retraining" not in page, url


# --- issue 17: confirm before big changes; settings in groups with messages beside fields --------


@pytest.mark.django_db
def test_activate_asks_first_and_says_how_many_leads_are_rescored(admin_client_crm, trained):
    ScoringSettings.objects.filter(pk=1).update(margin_auc=-1, margin_log_loss=-1)  # the retrain stays a candidate
    second = training_runs.model_train(folds=3)
    detail = admin_client_crm.get(f"/models/{second.pk}/").content.decode()
    assert f'href="/models/{second.pk}/activate/"' in detail  # a link to the confirmation, not a one-click POST

    page = admin_client_crm.get(f"/models/{second.pk}/activate/").content.decode()
    assert f"Rescores {Lead.objects.count():,} leads with v{second.pk}" in page
    assert f"v{trained.pk} stops scoring" in page
    second.refresh_from_db()
    assert second.status != ModelVersion.Status.ACTIVE  # asking changed nothing

    admin_client_crm.post(f"/models/{second.pk}/activate/", {"confirmed": "1"})
    second.refresh_from_db()
    assert second.status == ModelVersion.Status.ACTIVE


@pytest.mark.django_db
def test_roll_back_asks_first_naming_both_versions(admin_client_crm, trained):
    from scoring import activation

    ScoringSettings.objects.filter(pk=1).update(margin_auc=-1, margin_log_loss=-1)  # the retrain stays a candidate
    second = training_runs.model_train(folds=3)
    activation.model_activate(version=second)
    page = admin_client_crm.get("/models/rollback/").content.decode()
    assert f"Roll back from v{second.pk} to v{trained.pk}?" in page
    assert f"Rescores {Lead.objects.count():,} leads with v{trained.pk}" in page
    trained.refresh_from_db()
    assert trained.status != ModelVersion.Status.ACTIVE


@pytest.mark.django_db
def test_roll_back_with_nothing_to_roll_back_to_says_so(admin_client_crm, trained):
    response = admin_client_crm.get("/models/rollback/", follow=True)
    assert "There is no earlier model to roll back to." in response.content.decode()


@pytest.mark.django_db
def test_retrain_asks_first_and_queues_nothing_until_confirmed(admin_client_crm, trained):
    page = admin_client_crm.get("/models/retrain/").content.decode()
    assert "Trains a new model on 300 closed leads" in page and f"If it beats v{trained.pk}" in page
    assert not TrainingRun.objects.exists()
    assert 'href="/models/retrain/"' in admin_client_crm.get("/models/").content.decode()


@pytest.mark.django_db
def test_settings_are_grouped_and_a_bad_value_shows_beside_its_field(admin_client_crm, trained):
    from scoring.forms import ScoringSettingsForm

    grouped = [name for _, _, names in ScoringSettingsForm.GROUPS for name in names]
    assert sorted(grouped) == sorted(ScoringSettingsForm.Meta.fields)
    page = admin_client_crm.get("/models/").content.decode()
    assert page.count("<legend>") == len(ScoringSettingsForm.GROUPS)

    response = admin_client_crm.post(
        "/models/settings/",
        {"tier_mode": "probability", "hot_threshold": "0.3", "warm_threshold": "0.6", "hot_percentile": "80",
         "warm_percentile": "50", "capacity_per_rep": "10", "margin_auc": "0.002", "margin_log_loss": "0.002"},
    )  # fmt: skip
    page = response.content.decode()
    assert response.status_code == 400
    beside = page[page.index('for="id_warm_threshold"') :]
    assert beside.index("Warm must not be above hot.") < beside.index("</fieldset>")
    assert 'value="0.6"' in page  # what was typed stays
    assert ScoringSettings.load().hot_threshold != 0.3


@pytest.mark.django_db
def test_model_pages_say_which_gate_failed_and_offer_activate_anyway(admin_client_crm, trained, settings):
    ModelVersion.objects.filter(pk=trained.pk).update(status=ModelVersion.Status.RETIRED)
    settings.SCORING_GATE_MIN_AUC = 0.999

    page = admin_client_crm.get(f"/models/{trained.pk}/").content.decode()

    assert 'id="gates-failed"' in page and "is below 1.00" in page
    assert 'id="activate-anyway"' in page and "Reason for activating anyway" in page


@pytest.mark.django_db
def test_activate_anyway_from_the_page_needs_a_reason_and_records_it(admin_client_crm, admin_user, trained, settings):
    ModelVersion.objects.filter(pk=trained.pk).update(status=ModelVersion.Status.RETIRED)
    settings.SCORING_GATE_MIN_AUC = 0.999

    refused = admin_client_crm.post(f"/models/{trained.pk}/activate/", follow=True)
    trained.refresh_from_db()
    assert trained.status == ModelVersion.Status.RETIRED
    assert "failed its activation gates" in refused.content.decode()

    admin_client_crm.post(f"/models/{trained.pk}/activate/", {"reason": "approved by sales ops"})

    trained.refresh_from_db()
    assert trained.status == ModelVersion.Status.ACTIVE
    event = ActivationEvent.objects.filter(model_version=trained).first()
    assert (event.action, event.note, event.by) == ("activate_anyway", "approved by sales ops", admin_user)
    assert "approved by sales ops" in admin_client_crm.get("/models/").content.decode()


@pytest.mark.django_db
def test_model_list_shows_gates_and_leak_warnings(manager_client, trained):
    metrics = {**trained.metrics, "gates": ["holdout ROC AUC 0.216 is below 0.55"], "leak_warnings": {"Tags": "x"}}
    ModelVersion.objects.filter(pk=trained.pk).update(metrics=metrics)

    page = manager_client.get("/models/").content.decode()

    assert "failed:</span> holdout ROC AUC 0.216 is below 0.55" in page
    assert "leak check warning: Tags" in page


@pytest.mark.django_db
def test_detail_page_shows_leak_warnings(manager_client, trained):
    warning = "suspiciously predictive — known before the outcome? (this column alone: ROC AUC 0.919)"
    ModelVersion.objects.filter(pk=trained.pk).update(metrics={**trained.metrics, "leak_warnings": {"Tags": warning}})

    page = manager_client.get(f"/models/{trained.pk}/").content.decode()

    assert 'id="leak-warnings"' in page and warning in page


@pytest.mark.django_db
def test_detail_page_says_when_a_model_learnt_from_a_sample(manager_client, trained):
    how = "a seeded random sample (seed 0) of 500000 of the 1000000 closed leads, stratified by outcome"
    training_set = {**trained.metrics["training_set"], "sample": {"n": 500000, "of": 1000000, "how": how}}
    before = manager_client.get(f"/models/{trained.pk}/").content.decode()
    ModelVersion.objects.filter(pk=trained.pk).update(metrics={**trained.metrics, "training_set": training_set})

    page = manager_client.get(f"/models/{trained.pk}/").content.decode()

    assert 'id="training-sample"' not in before
    assert 'id="training-sample"' in page and how in page
