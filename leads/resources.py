"""django-import-export resources for the admin's export.

LeadExportResource exports leads with their channel (source, origin, campaign), score, tier, owner, status
and converted value: CSV cells through csv_safe(),
XLSX cells typed as text (leads.exports.xlsx_bytes). The admin's import does not use a resource:
it runs the import pipeline (leads.importing), like every other door.
"""

from import_export import fields, resources

from leads.exports import csv_safe
from leads.models import Lead


class LeadExportResource(resources.ModelResource):
    """Leads with score, tier, owner and status, safe to open in a spreadsheet.

    `neutralise` (CSV) puts csv_safe's apostrophe before formula-looking text; XLSX cells are
    typed as text instead (leads.exports.xlsx_bytes)."""

    owner = fields.Field(attribute="owner__username", column_name="owner")
    score = fields.Field(attribute="rank__score", column_name="score")
    probability = fields.Field(attribute="rank__probability", column_name="probability")
    tier = fields.Field(attribute="rank__tier", column_name="tier")
    priority = fields.Field(attribute="rank__priority", column_name="priority")

    def __init__(self, *, neutralise: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.neutralise = neutralise

    class Meta:
        model = Lead
        fields = (
            "id", "external_id", "name", "email", "phone", "company", "source", "origin", "campaign", "status",
            "score", "probability", "tier", "priority", "owner", "created_at", "converted_at", "converted_value",
            "lost_reason",
        )  # fmt: skip
        export_order = fields

    def export_field(self, field, instance, **kwargs):
        value = super().export_field(field, instance, **kwargs)
        return csv_safe(value) if self.neutralise else value
