"""Model pages for managers (read) and admins (act). Thin: validate, call a service, render."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from leadcrm.confirm import confirm_page
from leadcrm.inputs import is_ascii_int
from leads import permissions
from leads.selectors import lead_get_for
from scoring import activation, gates, overrides, registry, retraining, selectors
from scoring.drift import drift_notice
from scoring.forms import ActivateForm, OverrideForm, ScoringSettingsForm, ThresholdForm
from scoring.models import ModelVersion, ScoringSettings, TrainingRun

manager_required = permissions.manager_required(message="Only managers can see models.")
admin_required = permissions.admin_required(message="Only admins can change models.")


def _error_text(exc: ValidationError) -> str:
    return "; ".join(exc.messages)


@manager_required
@require_GET
def versions_list(request: HttpRequest) -> HttpResponse:
    return _versions_list_page(request, ScoringSettingsForm(instance=ScoringSettings.current()))


def _versions_list_page(request: HttpRequest, settings_form: ScoringSettingsForm, *, status: int = 200) -> HttpResponse:
    active = selectors.active_model_version()
    context = {
        "versions": selectors.model_versions_list(),
        "active": active,
        # The drift report the beat task keeps cached: this page never scans the leads for it.
        "drift_notice": drift_notice(active, cached_only=True),
        "banner": selectors.queue_banner(),
        "runs": selectors.training_runs_list(5),
        "events": selectors.activation_events_list(10),
        "settings_form": settings_form,
        "readiness": selectors.training_readiness(),
    }
    return render(request, "scoring/list.html", context, status=status)


@manager_required
@require_GET
def version_detail(request: HttpRequest, pk: int) -> HttpResponse:
    version = get_object_or_404(ModelVersion, pk=pk)
    metrics = version.metrics or {}
    is_active = version.status == ModelVersion.Status.ACTIVE
    context = {
        "version": version,
        "cv": metrics.get("cv", {}),
        "holdout": metrics.get("holdout", {}),
        "features": version.features or {},
        "cutoffs": selectors.tier_cutoffs(version),
        "threshold_form": ThresholdForm(initial={"threshold": version.threshold}),
        # Live: what activating it now would be told (the thresholds may have changed since training).
        "gates_failed": gates.gate_failures(metrics),
        "leak_warnings": metrics.get("leak_warnings") or {},
        "activate_form": ActivateForm(),
        # Drift compares the open leads with the model that scores them: the active one only.
        "drift_notice": drift_notice(version, cached_only=True) if is_active else None,
    }
    return render(request, "scoring/detail.html", context)


@manager_required
@require_GET
def versions_compare(request: HttpRequest) -> HttpResponse:
    ids = [request.GET.get("a"), request.GET.get("b")]
    if not all(is_ascii_int(i) for i in ids):
        messages.error(request, "Pick two versions to compare.")
        return redirect("scoring:list")
    a, b = (get_object_or_404(ModelVersion, pk=int(i)) for i in ids)
    keys = ("roc_auc", "pr_auc", "log_loss", "brier", "ece", "accuracy", "precision", "recall", "f1", "threshold")
    rows = [
        (key, (a.metrics or {}).get("holdout", {}).get(key), (b.metrics or {}).get("holdout", {}).get(key))
        for key in keys
    ]
    cv_rows = [
        (
            "CV ROC AUC",
            (a.metrics or {}).get("cv", {}).get("roc_auc", {}).get("mean"),
            (b.metrics or {}).get("cv", {}).get("roc_auc", {}).get("mean"),
        ),
        (
            "CV log loss",
            (a.metrics or {}).get("cv", {}).get("log_loss", {}).get("mean"),
            (b.metrics or {}).get("cv", {}).get("log_loss", {}).get("mean"),
        ),
        ("rows", a.n_rows, b.n_rows),
        ("positives", a.n_positive, b.n_positive),
    ]
    used_a = set((a.features or {}).get("used", []))
    used_b = set((b.features or {}).get("used", []))
    context = {
        "a": a,
        "b": b,
        "rows": cv_rows + rows,
        "only_a": sorted(used_a - used_b),
        "only_b": sorted(used_b - used_a),
    }
    return render(request, "scoring/compare.html", context)


@admin_required
@require_http_methods(["GET", "POST"])
def activate(request: HttpRequest, pk: int) -> HttpResponse:
    """GET: confirm what activating will do; POST: activate."""
    version = get_object_or_404(ModelVersion, pk=pk)
    if request.method == "GET":
        active = selectors.active_model_version()
        return confirm_page(
            request,
            title=f"Activate model v{pk}?",
            what_happens=[
                f"Rescores {selectors.rescore_size():,} leads with v{pk} in the background; "
                "scores, tiers and the queue order change as it goes.",
                f"v{active.pk} stops scoring; you can roll back to it." if active else "No model is active now.",
            ],
            submit_label=f"Activate v{pk}",
            cancel_url=reverse("scoring:detail", args=[pk]),
        )
    form = ActivateForm(request.POST)
    if not form.is_valid():
        messages.error(request, "A reason for activating anyway is at most 255 characters.")
        return redirect("scoring:detail", pk=pk)
    try:
        activation.model_activate(
            version=version,
            by=request.user,
            note="activated from the models page",
            anyway_reason=form.cleaned_data["reason"],
        )
    except ValidationError as exc:
        messages.error(request, f"Cannot activate v{pk}: {_error_text(exc)}")
    except registry.ArtifactError as exc:
        messages.error(request, f"Cannot activate v{pk}: {exc}")
    else:
        messages.success(request, f"Model v{pk} is active; every lead is being rescored.")
    return redirect("scoring:detail", pk=pk)


@admin_required
@require_http_methods(["GET", "POST"])
def rollback(request: HttpRequest) -> HttpResponse:
    """GET: confirm what rolling back will do; POST: roll back."""
    if request.method == "GET":
        target = selectors.rollback_target()
        if target is None:
            messages.error(request, "There is no earlier model to roll back to.")
            return redirect("scoring:list")
        active, previous = target
        return confirm_page(
            request,
            title=f"Roll back from v{active.pk} to v{previous.pk}?",
            what_happens=[
                f"Rescores {selectors.rescore_size():,} leads with v{previous.pk} in the background.",
                f"v{active.pk} stops scoring; you can activate it again from its page.",
            ],
            submit_label=f"Roll back to v{previous.pk}",
            cancel_url=reverse("scoring:list"),
            danger=True,
        )
    previous = activation.model_rollback(by=request.user)
    if previous is None:
        messages.error(request, "There is no earlier model to roll back to.")
    else:
        messages.success(request, f"Rolled back to model v{previous.pk}.")
    return redirect("scoring:list")


@admin_required
@require_http_methods(["GET", "POST"])
def retrain(request: HttpRequest) -> HttpResponse:
    """GET: confirm what a retrain will do; POST: queue it (htmx: answer its progress)."""
    if request.method == "GET":
        readiness = selectors.training_readiness()
        active = selectors.active_model_version()
        closed = readiness.converted + readiness.lost
        outcomes = f"{closed:,} closed leads ({readiness.converted:,} converted, {readiness.lost:,} lost)"
        if active:
            outcome = (
                f"If it beats v{active.pk} it becomes active and rescores {selectors.rescore_size():,} leads; "
                f"otherwise v{active.pk} stays."
            )
        else:
            outcome = f"The new model becomes active and scores {selectors.rescore_size():,} leads."
        return confirm_page(
            request,
            title="Retrain the model now?",
            what_happens=[
                f"Trains a new model on {outcomes} in the background; this can take minutes.",
                outcome,
                *([] if readiness.ready else [f"Not enough outcomes yet: {readiness.message}."]),
            ],
            submit_label="Retrain now",
            cancel_url=reverse("scoring:list"),
        )
    run = retraining.retrain_request(by=request.user, trigger="manual")
    if request.htmx:
        return render(request, "scoring/_run_progress.html", {"run": run})
    return redirect(reverse("scoring:list") + f"?run={run.pk}")


@manager_required
@require_GET
def training_run_progress(request: HttpRequest, pk: int) -> HttpResponse:
    return render(request, "scoring/_run_progress.html", {"run": get_object_or_404(TrainingRun, pk=pk)})


@admin_required
@require_POST
def threshold_set(request: HttpRequest, pk: int) -> HttpResponse:
    version = get_object_or_404(ModelVersion, pk=pk)
    form = ThresholdForm(request.POST)
    if form.is_valid():
        activation.model_threshold_set(version=version, threshold=form.cleaned_data["threshold"], by=request.user)
        messages.success(request, f"Decision threshold of v{pk} set to {form.cleaned_data['threshold']:.2f}.")
    else:
        messages.error(request, "A threshold is a probability between 0.01 and 0.99.")
    return redirect("scoring:detail", pk=pk)


@admin_required
@require_POST
def settings_update(request: HttpRequest) -> HttpResponse:
    form = ScoringSettingsForm(request.POST, instance=ScoringSettings.load())
    if not form.is_valid():
        # The page again, each message beside its field and the typed values kept.
        return _versions_list_page(request, form, status=400)
    form.save()
    activation.settings_changed()
    messages.success(request, "Scoring settings saved; tiers are being recomputed.")
    return redirect(reverse("scoring:list") + "#scoring-settings")


@login_required
@require_POST
def override_set(request: HttpRequest, pk: int) -> HttpResponse:
    if not request.user.is_manager:
        raise PermissionDenied("Only managers can override scores.")
    lead = lead_get_for(request.user, pk)
    form = OverrideForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Give a score from 0 to 100 and a reason.")
    else:
        try:
            overrides.score_override_set(lead=lead, by=request.user, **form.cleaned_data)
        except ValidationError as exc:
            messages.error(request, _error_text(exc))
        else:
            messages.success(request, f"Score set to {form.cleaned_data['score']} by hand.")
    return redirect("leads:detail", pk=pk)


@login_required
@require_POST
def override_clear(request: HttpRequest, pk: int) -> HttpResponse:
    if not request.user.is_manager:
        raise PermissionDenied("Only managers can override scores.")
    lead = lead_get_for(request.user, pk)
    overrides.score_override_clear(lead=lead, by=request.user)
    messages.success(request, "Back to the model's score.")
    return redirect("leads:detail", pk=pk)
