"""The Django admin's import form: the file, the import profile and the mode."""

from django import forms

from leads.models import ImportJob, ImportProfile


class LeadImportForm(forms.Form):
    import_file = forms.FileField(label="File", help_text="CSV (comma, semicolon or tab; UTF-8 or cp1252) or XLSX")
    format = forms.ChoiceField(
        choices=[("0", "csv"), ("1", "xlsx")], required=False,
        help_text="Informational: the file's type is read from its name and content.",
    )  # fmt: skip
    profile = forms.ModelChoiceField(queryset=ImportProfile.objects.all(), empty_label=None)
    mode = forms.ChoiceField(choices=ImportJob.Mode.choices, initial=ImportJob.Mode.ATOMIC)


class LeadConfirmImportForm(forms.Form):
    job = forms.ModelChoiceField(
        queryset=ImportJob.objects.filter(dry_run=True, status=ImportJob.Status.SUCCEEDED), widget=forms.HiddenInput
    )


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
