"""django-import-export resources for the admin door.

LeadImportResource runs django-import-export's row-by-row import (with its dry-run preview and
confirm step) on the same rules as the job pipeline: the profile's mapping, pass-1 validation
(`Analyzer`) and conversion (`Converter`) from leads.importing. LeadExportResource exports leads
with score, tier, owner and status, every text cell passed through csv_safe().
"""

import json

from django.core.exceptions import ValidationError
from django.utils import timezone
from import_export import fields, resources
from import_export.widgets import ForeignKeyWidget

from leads.exports import csv_safe
from leads.importing.profiles import spec_from_profile
from leads.importing.readers import ERROR_COLUMNS, Row
from leads.importing.validation import Analyzer, Converter, record_as_dict
from leads.matching import leads_matching
from leads.models import ImportProfile, Lead, User
from leads.signals import outcomes_imported_send

# Column names inside the resource; prefixed so that a file column called "name" cannot collide.
_P = "lead:"
_LEAD_FIELDS = (
    "external_id", "name", "email", "phone", "company", "source", "origin", "owner_id", "created_at",
    "status", "converted_at", "lost_reason", "attributes",
)  # fmt: skip


def default_profile() -> ImportProfile | None:
    return ImportProfile.objects.filter(name="x_education").first() or ImportProfile.objects.first()


class LeadImportResource(resources.ModelResource):
    """Import through an ImportProfile. Rows are matched on external id, else normalised email."""

    def __init__(self, profile: ImportProfile | None = None, **kwargs):
        super().__init__(**kwargs)
        self.profile = profile or default_profile()
        self.changed_ids: list[int] = []
        self.new_outcomes = 0
        for name in _LEAD_FIELDS:
            attribute = "owner" if name == "owner_id" else name
            widget = ForeignKeyWidget(User) if name == "owner_id" else None
            self.fields[name] = fields.Field(attribute=attribute, column_name=_P + name, widget=widget)

    class Meta:
        model = Lead
        fields = ()
        import_id_fields = ()
        skip_unchanged = True
        report_skipped = True
        clean_model_instances = False

    def get_user_visible_fields(self):
        return []

    # --- pass 1 over the whole dataset, as the job pipeline does ---------------------------
    def before_import(self, dataset, **kwargs):
        if self.profile is None:
            raise ValueError("No import profile exists; create one first.")
        self.spec = spec_from_profile(self.profile)
        raw_header = [str(h or "") for h in (dataset.headers or [])]
        self.keep = [i for i, h in enumerate(raw_header) if h.strip() and h.strip() not in ERROR_COLUMNS]
        header = [raw_header[i].strip() for i in self.keep]
        missing = self.spec.missing_columns(header)
        if missing:
            raise ValueError(f"The file lacks the mapped column(s) {', '.join(missing)}.")
        self.raw_header = raw_header
        analyzer = Analyzer(self.spec, header)
        self.row_errors: dict[int, dict[str, list[str]]] = {}
        for number, cells in enumerate(dataset, start=2):
            for error in analyzer.check(self._row(number, cells)):
                self.row_errors.setdefault(number, {}).setdefault(error.column or "row", []).append(error.message)
        self.converter = Converter(
            self.spec, header, analyzer.column_types(), analyzer.level_folds(), now=timezone.now()
        )

    def _row(self, number: int, cells) -> Row:
        texts = ["" if c is None else str(c) for c in cells]
        return Row(number, [texts[i] if i < len(texts) else "" for i in self.keep], texts)

    def before_import_row(self, row, row_number=None, **kwargs):
        number = (row_number or 0) + 1  # the header is line 1
        errors = self.row_errors.get(number)
        if errors:
            raise ValidationError(dict(errors))
        record = record_as_dict(self.converter.convert(self._row(number, [row.get(h) for h in self.raw_header])))
        for name in _LEAD_FIELDS:
            value = record[name]
            if value is not None:
                row[_P + name] = value

    def get_instance(self, instance_loader, row):
        external_id = row.get(_P + "external_id")
        email = row.get(_P + "email")
        by_external_id, by_email = leads_matching([external_id] if external_id else [], [] if external_id else [email])
        return by_external_id.get(external_id) if external_id else by_email.get(email or "")

    def import_field(self, field, instance, row, is_m2m=False, **kwargs):
        column = field.column_name
        if column not in row:
            return  # the file does not say: keep what is stored
        if column == _P + "attributes":
            instance.attributes = {**(instance.attributes or {}), **json.loads(row[column])}
        elif column == _P + "converted_at":
            instance.converted_at = instance.converted_at or row[column]
        elif column == _P + "status" and row[column] in Lead.CLOSED_STATUSES:
            instance._import_new_outcome = instance.status != row[column]
            instance.status = row[column]
        elif column == _P + "owner_id":
            instance.owner_id = row[column]
        else:
            setattr(instance, field.attribute, row[column])

    def after_import_row(self, row, row_result, **kwargs):
        if row_result.object_id and row_result.import_type in ("new", "update"):
            self.changed_ids.append(row_result.object_id)

    def save_instance(self, instance, is_create, row, **kwargs):
        self.new_outcomes += bool(getattr(instance, "_import_new_outcome", is_create and instance.is_open is False))
        super().save_instance(instance, is_create, row, **kwargs)

    def after_import(self, dataset, result, **kwargs):
        if kwargs.get("dry_run") or result.has_errors() or result.has_validation_errors():
            return
        outcomes_imported_send(lead_ids=self.changed_ids, new_outcomes=self.new_outcomes)


class LeadExportResource(resources.ModelResource):
    """Leads with score, tier, owner and status, safe to open in a spreadsheet.

    `neutralise` (CSV) puts csv_safe's apostrophe before formula-looking text; XLSX cells are
    typed as text instead (leads.exports.xlsx_bytes)."""

    owner = fields.Field(attribute="owner__username", column_name="owner")

    def __init__(self, *, neutralise: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.neutralise = neutralise

    class Meta:
        model = Lead
        fields = (
            "id", "external_id", "name", "email", "phone", "company", "source", "origin", "status", "score",
            "probability", "tier", "priority", "owner", "created_at", "converted_at", "lost_reason",
        )  # fmt: skip
        export_order = fields

    def export_field(self, field, instance, **kwargs):
        value = super().export_field(field, instance, **kwargs)
        return csv_safe(value) if self.neutralise else value
