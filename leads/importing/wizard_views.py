"""The import wizard at /imports/new/: upload -> map -> outcomes -> columns -> preview and import.

Server-rendered, one form per step (htmx boosts the links and forms so a step swaps in place).
The uploaded file waits under MEDIA_ROOT/imports/wizard/ and the mapping built so far in the
session; every step reads a sample of the file again (cheap) and validates on the server.
"""

from collections.abc import Callable
from functools import wraps

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods
from django_htmx.http import HttpResponseClientRedirect

from leads import permissions
from leads.importing import services, wizard
from leads.importing.profiles import spec_from_dict
from leads.importing.readers import ImportFileError
from leads.importing.wizard_forms import ColumnsForm, MappingForm, OutcomeForm, SaveForm, UploadForm

SESSION_KEY = "import_wizard"
STEPS = (("upload", "Upload"), ("map", "Map columns"), ("outcomes", "Outcome values"), ("columns", "Columns"),
         ("preview", "Preview and import"))  # fmt: skip
SAMPLE_ROWS_SHOWN = 10
NO_DRAFT_MESSAGE = (
    "No file is waiting in the import wizard (its import started, or it was left, in another tab); upload it again."
)

admin_required = permissions.admin_required(message="Only CRM admins can import leads.")


def _render(request: HttpRequest, step: str, context: dict) -> HttpResponse:
    state = request.session.get(SESSION_KEY) or {}
    return render(
        request, "imports/wizard.html", {"step": step, "steps": STEPS, "file_name": state.get("name", ""), **context}
    )


def _state(request: HttpRequest) -> dict | None:
    state = request.session.get(SESSION_KEY)
    return state if state and state.get("draft") else None


def _save_state(request: HttpRequest, state: dict) -> None:
    request.session[SESSION_KEY] = state
    request.session.modified = True


def _sample(state: dict) -> wizard.Sample:
    spec = state["spec"]
    return wizard.sample_read(
        wizard.draft_path(state["draft"]),
        name=state["name"],
        encoding=spec.get("encoding", ""),
        delimiter=spec.get("delimiter", ""),
        placeholders=spec.get("placeholder_values", []),
    )


def _draft_gone(request: HttpRequest, state: dict) -> HttpResponse:
    return _start_over(request, f"The uploaded file {state['name']} is no longer here; upload it again.")


def _start_over(request: HttpRequest, message: str) -> HttpResponse:
    messages.error(request, message)
    return redirect("imports:new")


def _back_to_map(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    messages.error(request, " ".join(exc.messages))
    return redirect("imports:new_map")


StepView = Callable[[HttpRequest, dict, wizard.Sample], HttpResponse]


def _draft_step(view: StepView) -> Callable[[HttpRequest], HttpResponse]:
    """A step after the upload, for admins: called with the wizard's state and a fresh sample of
    the uploaded file; without a draft the wizard starts at the upload, and a file that no longer
    reads starts it over with the reason."""

    @admin_required
    @require_http_methods(["GET", "POST"])
    @wraps(view)
    def step(request: HttpRequest) -> HttpResponse:
        state = _state(request)
        if state is None:
            if request.method == "POST":  # a form of a wizard finished (or abandoned) in another tab
                return _start_over(request, NO_DRAFT_MESSAGE)
            return redirect("imports:new")
        try:
            sample = _sample(state)
        except ImportFileError as exc:
            return _start_over(request, str(exc))
        except FileNotFoundError:  # the import retention removes a draft no job took after a day
            return _draft_gone(request, state)
        return view(request, state, sample)

    return step


@admin_required
@require_http_methods(["GET", "POST"])
def upload(request: HttpRequest) -> HttpResponse:
    form = UploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        draft = wizard.draft_store(upload)
        spec = {"encoding": form.cleaned_data["encoding"], "delimiter": form.cleaned_data["delimiter"]}
        state = {"draft": draft, "name": upload.name[-255:], "spec": spec}
        try:
            sample = _sample(state)
        except ImportFileError as exc:  # the file uploaded before, and the work on it, stay
            wizard.draft_delete(draft)
            form.add_error("file", str(exc))
        else:
            old = _state(request)
            if old:  # a file uploaded again (fixed after the preview): keep what was chosen for its columns
                wizard.draft_delete(old["draft"])
                spec.update(wizard.spec_carried_over(old["spec"], sample.header))
                if spec.get("mapping"):
                    messages.info(request, "The choices made for the previous file are kept for the columns it shares.")
            spec["delimiter"] = sample.delimiter if sample.kind == "csv" else ""
            _save_state(request, state)
            return redirect("imports:new_map")
    return _render(request, "upload", {"form": form})


@_draft_step
def map_columns(request: HttpRequest, state: dict, sample: wizard.Sample) -> HttpResponse:
    spec = state["spec"]
    initial = {
        **spec.get("mapping", {}),
        "outcome_column": spec.get("outcome_column", ""),
        "second_outcome_column": next(iter(spec.get("extra_outcomes", {})), ""),
    }
    form = MappingForm(request.POST or None, sample=sample, initial=initial)
    if request.method == "POST" and form.is_valid():
        chosen = form.mapping()
        outcome_columns = [c for c in (chosen["outcome_column"], chosen["second_outcome_column"]) if c]
        before = _outcome_columns(spec)
        spec["mapping"] = chosen["mapping"]
        spec["outcome_column"] = chosen["outcome_column"]
        if outcome_columns != before:  # the values ticked belonged to other columns
            for key in ("converted_values", "lost_values", "open_values"):
                spec.pop(key, None)
            spec["extra_outcomes"] = {c: {"converted": [], "lost": [], "open": []} for c in outcome_columns[1:]}
        mapped = set(chosen["mapping"].values())
        for key in ("column_types", "excluded_columns", "column_limits", "date_orders"):
            # The created-date column keeps its date order (asked on the columns step).
            kept = {chosen["mapping"].get("created_at")} if key == "date_orders" else set()
            spec[key] = {c: v for c, v in spec.get(key, {}).items() if c not in mapped or c in kept}
        _save_state(request, state)
        return redirect("imports:new_outcomes" if outcome_columns else "imports:new_columns")
    return _render(request, "map", {"form": form, "sample": sample, "rows": sample.rows[:SAMPLE_ROWS_SHOWN]})


def _outcome_columns(spec: dict) -> list[str]:
    return [c for c in (spec.get("outcome_column"), *spec.get("extra_outcomes", {})) if c]


@_draft_step
def outcomes(request: HttpRequest, state: dict, sample: wizard.Sample) -> HttpResponse:
    spec = state["spec"]
    columns = _outcome_columns(spec)
    if not columns:
        return redirect("imports:new_columns")
    saved = {}
    main = {key: spec.get(f"{key}_values", []) for key in ("converted", "lost", "open")}
    rules = {spec["outcome_column"]: main, **spec.get("extra_outcomes", {})}
    for column, rule in rules.items():
        saved[column] = {value: meaning for meaning, values in rule.items() for value in values}
    form = OutcomeForm(
        request.POST or None, sample=sample, columns=columns, initial_values=saved,
        file_values=_file_values(request, state, sample, columns),
    )  # fmt: skip
    if request.method == "POST" and form.is_valid():
        chosen = form.outcomes()
        main = chosen.pop(columns[0])
        spec["converted_values"], spec["lost_values"], spec["open_values"] = (
            main["converted"],
            main["lost"],
            main["open"],
        )
        spec["extra_outcomes"] = chosen
        spec["lost_reason"] = form.cleaned_data["lost_reason"]
        _save_state(request, state)
        return redirect("imports:new_columns")
    return _render(request, "outcomes", {"form": form, "sample": sample, "values_cap": wizard.OUTCOME_VALUES_CAP})


def _file_values(request: HttpRequest, state: dict, sample: wizard.Sample, columns: list[str]) -> dict:
    """wizard.values_in_file for these columns, read once per uploaded file (kept in the state)."""
    known = state.setdefault("file_values", {})
    missing = [c for c in columns if c not in known]
    if missing:
        known.update(wizard.values_in_file(wizard.draft_path(state["draft"]), sample, missing))
        _save_state(request, state)
    return {c: [tuple(pair) for pair in known[c]] if known[c] is not None else None for c in columns}


@_draft_step
def columns(request: HttpRequest, state: dict, sample: wizard.Sample) -> HttpResponse:
    spec = state["spec"]
    try:
        parsed = spec_from_dict(spec)
    except ValidationError as exc:
        return _back_to_map(request, exc)
    used = {*parsed.mapping.values(), *parsed.outcome_columns} - {parsed.mapping.get(f) for f in ("source", "origin")}
    remaining = [c for c in sample.header if c not in used]
    hints = wizard.leak_hints(sample, parsed)
    form = ColumnsForm(
        request.POST or None, sample=sample, columns=remaining, hints=hints, saved=spec,
        created_column=parsed.mapping.get("created_at", ""),
    )  # fmt: skip
    if request.method == "POST" and form.is_valid():
        spec.update(form.settings())
        _save_state(request, state)
        return redirect("imports:new_preview")
    return _render(request, "columns", {"form": form, "sample": sample, "hints_available": bool(hints)})


@_draft_step
def preview(request: HttpRequest, state: dict, sample: wizard.Sample) -> HttpResponse:
    spec_data = state["spec"]
    try:
        spec = spec_from_dict(spec_data)
        missing = spec.missing_columns(sample.header)
        if missing:
            raise ValidationError(f"The file lacks the mapped column(s) {', '.join(missing)}.")
    except ValidationError as exc:
        return _back_to_map(request, exc)
    form = SaveForm(request.POST or None, spec_data=spec_data)
    if request.method == "POST" and form.is_valid():
        try:
            with transaction.atomic():
                profile = services.import_profile_create(
                    name=form.cleaned_data["profile_name"], description=form.cleaned_data["description"], spec=spec
                )
                job = services.import_job_create(
                    file=wizard.draft_path(state["draft"]), name=state["name"], user=request.user,
                    profile=profile, mode=form.cleaned_data["mode"],
                )  # fmt: skip
                services.import_job_dispatch(job)
        except FileNotFoundError:  # removed since this request read it (the retention, another tab)
            return _draft_gone(request, state)
        except (ImportFileError, ValidationError) as exc:
            form.add_error(None, " ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc))
        else:
            wizard.draft_delete(state["draft"])
            request.session.pop(SESSION_KEY, None)
            messages.success(request, f"Profile {profile.name} saved; import #{job.pk} started.")
            if request.htmx:  # leave the wizard: a full page load, not a swap of #wizard
                return HttpResponseClientRedirect(reverse("imports:detail", args=[job.pk]))
            return redirect("imports:detail", pk=job.pk)
    outcome_columns = _outcome_columns(spec_data)
    context = {
        "form": form,
        "sample": sample,
        "spec": spec,
        "unclassified": wizard.outcome_values_unclassified(
            spec, _file_values(request, state, sample, outcome_columns) if outcome_columns else {}
        ),
        "preview": wizard.preview_build(sample, spec),
        "keyless_note": wizard.KEYLESS_NOTE,
    }
    return _render(request, "preview", context)
