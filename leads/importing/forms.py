"""Admin import forms: django-import-export's forms plus the import profile and mode."""

from django import forms
from import_export.forms import ConfirmImportForm, ImportForm

from leads.models import ImportJob, ImportProfile


class LeadImportForm(ImportForm):
    profile = forms.ModelChoiceField(queryset=ImportProfile.objects.all(), empty_label=None)
    mode = forms.ChoiceField(
        choices=ImportJob.Mode.choices,
        initial=ImportJob.Mode.ATOMIC,
        help_text="Used when a large file hands over to a background job; the preview is always all-or-nothing.",
    )


class LeadConfirmImportForm(ConfirmImportForm):
    profile = forms.ModelChoiceField(queryset=ImportProfile.objects.all(), widget=forms.HiddenInput)


def rows_in_upload(upload) -> int:
    """A cheap upper bound of the data rows in an uploaded file (newlines; XLSX: the sheet's size)."""
    upload.seek(0)
    head = upload.read(4)
    upload.seek(0)
    if head.startswith(b"PK"):
        from openpyxl import load_workbook

        try:
            workbook = load_workbook(upload, read_only=True)
            rows = (workbook.worksheets[0].max_row or 1) - 1
            workbook.close()
        except Exception:
            rows = 0
        upload.seek(0)
        return rows
    count = sum(chunk.count(b"\n") for chunk in upload.chunks())
    upload.seek(0)
    return count
