"""Which model is active: activate a version (and rescore every lead with it), roll back to the
previous one, set a version's threshold, and apply an admin's tier settings.

May import leads.models and scoring's models, registry, gates, selectors and rescoring;
training_runs imports this module.
"""

from django.core.cache import cache
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from leads.audit import audit_record
from leads.models import User
from scoring import gates, registry
from scoring.models import ActivationEvent, ModelVersion, ScoringSettings
from scoring.rescoring import rescore_all_request
from scoring.selectors import BANNER_KEY, CAPACITY_KEY

# The code of the ValidationError for a version that failed its gates (the API maps it to `reason`).
GATES_FAILED = "gates_failed"


def model_activate(
    *,
    version: ModelVersion,
    by: User | None = None,
    action: str = "activate",
    note: str = "",
    anyway_reason: str = "",
) -> bool:
    """Make `version` the one active model, atomically, and rescore every lead with it.

    A version failing its activation gates (scoring.gates) is refused unless an admin gives an
    `anyway_reason`: then the activation is recorded as "activate anyway" with the reason, the
    admin and the gates it failed. A rollback returns to a version that was active before and is
    not gated again. Activations are serialised on the settings row, so at any instant exactly one
    version is active (the partial unique constraint one_active_model backs this up). Returns
    False when it was active already.
    """
    if by is not None and not by.is_crm_admin:
        raise PermissionDenied("Only admins can activate models.")
    if version.status == ModelVersion.Status.FAILED or not version.artifact_sha256:
        raise ValidationError("This version has no usable artifact.")
    failures = [] if action == "rollback" else gates.gate_failures(version.metrics)
    anyway_reason = anyway_reason.strip()
    if failures:
        if not anyway_reason:
            raise ValidationError(
                f"v{version.pk} failed its activation gates: {'; '.join(failures)}. "
                "To use it regardless, activate anyway and give a reason.",
                code=GATES_FAILED,
            )
        if by is None:
            raise PermissionDenied("Only an admin can activate a model anyway.")
        action, note = ActivationEvent.ACTIVATE_ANYWAY, anyway_reason
    registry.model_load(version)  # refuse to activate something that cannot be loaded
    with transaction.atomic():
        ScoringSettings.load()
        ScoringSettings.objects.select_for_update().get(pk=1)
        current = ModelVersion.objects.filter(status=ModelVersion.Status.ACTIVE).first()
        if current is not None and current.pk == version.pk:
            return False
        if current is not None:
            ModelVersion.objects.filter(pk=current.pk).update(status=ModelVersion.Status.RETIRED)
        ModelVersion.objects.filter(pk=version.pk).update(
            status=ModelVersion.Status.ACTIVE, activated_at=timezone.now(), load_error=""
        )
        ActivationEvent.objects.create(
            model_version=version, previous=current, action=action, by=by, note=note[:255], gates_overridden=failures
        )
        # "activate", "rollback", "activate_anyway" -> model_activate, model_rollback, model_activate_anyway
        audit_record(
            f"model_{action}",
            actor=by,
            target=version,
            details={
                "previous": current.pk if current is not None else None,
                "note": note[:255],
                "gates_overridden": failures,
            },
        )
        transaction.on_commit(lambda: (cache.delete(BANNER_KEY), rescore_all_request()))
    version.refresh_from_db()
    return True


def model_rollback(*, by: User | None = None) -> ModelVersion | None:
    """Activate the version that was active before the current one."""
    active = ModelVersion.objects.filter(status=ModelVersion.Status.ACTIVE).first()
    if active is None:
        return None
    event = ActivationEvent.objects.filter(model_version=active, previous__isnull=False).first()
    if event is None or event.previous is None:
        return None
    model_activate(version=event.previous, by=by, action="rollback", note=f"rolled back from v{active.pk}")
    return event.previous


def model_threshold_set(*, version: ModelVersion, threshold: float, by: User) -> ModelVersion:
    if not by.is_crm_admin:
        raise PermissionDenied("Only admins can change thresholds.")
    if not 0.0 < threshold < 1.0:
        raise ValidationError({"threshold": "A threshold is a probability between 0 and 1."})
    version.threshold = threshold
    version.save(update_fields=["threshold"])
    return version


def settings_changed() -> None:
    """After an admin changes tiers or thresholds: recompute cut-offs and every lead's tier."""
    cache.delete_many([CAPACITY_KEY, BANNER_KEY])
    rescore_all_request()
