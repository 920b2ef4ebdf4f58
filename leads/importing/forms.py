"""The Django admin's import form: the file, the import profile and the mode."""

from django import forms
from django.core.exceptions import ValidationError

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


# --- the admin's import profile form: no JSON typed, checked by the pipeline's own rule ---------


def _lines(text: str) -> list[tuple[str, str]]:
    """'Column: value' lines -> [(column, value)]; the value after the last ': ' (column names may hold ':')."""
    pairs = []
    for line in (text or "").splitlines():
        if not line.strip():
            continue
        column, sep, value = line.rpartition(":")
        if not sep or not column.strip():
            raise ValidationError(f"{line.strip()!r}: write it as 'Column: value'.")
        pairs.append((column.strip(), value.strip()))
    return pairs


def _limits_text(limits: dict) -> str:
    def bound(value) -> str:
        return "" if value is None else f"{float(value):g}"

    return "\n".join(f"{c}: {bound(b.get('min'))}..{bound(b.get('max'))}" for c, b in limits.items())


def _outcomes_text(extra: dict) -> str:
    return "\n".join(
        f"{c}: " + "; ".join(f"{k}={', '.join(rule.get(k, []))}" for k in ("converted", "lost", "open") if rule.get(k))
        for c, rule in extra.items()
    )


_AREA = forms.Textarea(attrs={"rows": 4, "cols": 60})


class ImportProfileForm(forms.ModelForm):
    """Every list is comma-separated and every per-column setting one 'Column: value' line; the
    result goes through spec_from_dict, the check every import runs, and its message is shown
    beside the field it concerns."""

    comma_fields = ("converted_values", "lost_values", "open_values", "placeholder_values")

    class Meta:
        model = ImportProfile
        fields = ("name", "description", "outcome_column", "lost_reason", "delimiter", "encoding")

    map_external_id = forms.CharField(required=False, label="Column for the external id")
    map_email = forms.CharField(required=False, label="Column for the email")
    map_name = forms.CharField(required=False, label="Column for the name (or first name)")
    map_last_name = forms.CharField(required=False, label="Column for the last name (joined to the name)")
    map_phone = forms.CharField(required=False, label="Column for the phone")
    map_company = forms.CharField(required=False, label="Column for the company")
    map_source = forms.CharField(required=False, label="Column for the source")
    map_origin = forms.CharField(required=False, label="Column for the origin")
    map_campaign = forms.CharField(required=False, label="Column for the campaign (e.g. utm_campaign)")
    map_owner = forms.CharField(required=False, label="Column for the owner (username or email)")
    map_created_at = forms.CharField(required=False, label="Column for the created date")
    map_converted_value = forms.CharField(
        required=False,
        label="Column for the converted value",
        help_text="What a converted lead was worth: $1,200.00, 1.200,00 €, EUR 950 (blank: the channel's value).",
    )
    converted_values = forms.CharField(required=False, help_text="Comma-separated.")
    lost_values = forms.CharField(required=False, help_text="Comma-separated.")
    open_values = forms.CharField(required=False, help_text="Comma-separated: values meaning still open.")
    placeholder_values = forms.CharField(required=False, help_text='Comma-separated: values meaning "not answered".')
    column_types = forms.CharField(
        required=False, widget=_AREA, help_text="One 'Column: number|boolean|date|text' per line."
    )
    excluded_columns = forms.CharField(
        required=False, widget=_AREA, help_text="One 'Column: why it is left out of scoring' per line."
    )
    column_limits = forms.CharField(
        required=False, widget=_AREA, help_text="One 'Column: min..max' per line (a side may be empty: 'Visits: 0..')."
    )
    date_orders = forms.CharField(
        required=False, widget=_AREA, help_text="One 'Column: mdy|dmy|ymd' per line, for slash or dot dates."
    )
    extra_outcomes = forms.CharField(
        required=False, widget=_AREA, help_text="A second outcome column: 'Column: converted=a, b; lost=c; open=d'."
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        profile = self.instance
        for name, column in (profile.mapping or {}).items():
            self.initial[f"map_{name}"] = column
        for name in self.comma_fields:
            self.initial[name] = ", ".join(getattr(profile, name) or [])
        pairs = {
            "column_types": profile.column_types, "excluded_columns": profile.excluded_columns,
            "date_orders": profile.date_orders,
        }  # fmt: skip
        for name, values in pairs.items():
            self.initial[name] = "\n".join(f"{c}: {v}" for c, v in (values or {}).items())
        self.initial["column_limits"] = _limits_text(profile.column_limits or {})
        self.initial["extra_outcomes"] = _outcomes_text(profile.extra_outcomes or {})

    def _parsed(self) -> dict:
        from leads.importing.profiles import MAPPING_FIELDS

        data = self.cleaned_data
        spec: dict = {
            "mapping": {name: data.get(f"map_{name}", "").strip() for name in MAPPING_FIELDS},
            "outcome_column": data.get("outcome_column", ""),
            "lost_reason": data.get("lost_reason", ""),
            "delimiter": data.get("delimiter", ""),
            "encoding": data.get("encoding", ""),
        }
        spec["mapping"] = {k: v for k, v in spec["mapping"].items() if v}
        for name in self.comma_fields:
            spec[name] = [v.strip() for v in data.get(name, "").split(",") if v.strip()]
        parsers = {
            "column_types": lambda pairs: dict(pairs),
            "excluded_columns": lambda pairs: dict(pairs),
            "date_orders": lambda pairs: dict(pairs),
            "column_limits": self._limits,
            "extra_outcomes": self._outcomes,
        }
        for name, parse in parsers.items():
            try:
                spec[name] = parse(_lines(data.get(name, "")))
            except ValidationError as exc:
                self.add_error(name, exc)
        return spec

    @staticmethod
    def _limits(pairs) -> dict:
        limits = {}
        for column, text in pairs:
            low, sep, high = text.partition("..")
            if not sep:
                raise ValidationError(f"{column}: write the range as min..max (e.g. 0..100 or 0..).")
            limits[column] = {k: v.strip() for k, v in (("min", low), ("max", high)) if v.strip()}
        return limits

    @staticmethod
    def _outcomes(pairs) -> dict:
        rules = {}
        for column, text in pairs:
            rule: dict[str, list[str]] = {"converted": [], "lost": [], "open": []}
            for part in text.split(";"):
                key, sep, values = part.partition("=")
                if not part.strip():
                    continue
                if not sep or key.strip() not in rule:
                    raise ValidationError(f"{column}: write converted=..., lost=..., open=... separated by ';'.")
                rule[key.strip()] = [v.strip() for v in values.split(",") if v.strip()]
            rules[column] = rule
        return rules

    _FIELD_FOR_MESSAGE = (
        ("outcome", "outcome_column"), ("converted", "converted_values"), ("closed", "open_values"),
        ("column_types", "column_types"), ("excluded", "excluded_columns"), ("min", "column_limits"),
        ("max", "column_limits"), ("date_orders", "date_orders"), ("delimiter", "delimiter"),
        ("last-name", "map_last_name"), ("two lead fields", "map_name"), ("mapping", "map_external_id"),
    )  # fmt: skip

    def clean(self):
        from leads.importing.profiles import spec_from_dict

        cleaned = super().clean()
        spec = self._parsed()
        if self.errors:
            return cleaned
        try:
            self.spec = spec_from_dict(spec)
        except ValidationError as exc:
            message = " ".join(exc.messages)
            field = next((f for word, f in self._FIELD_FOR_MESSAGE if word in message), None)
            if "two lead fields" in message:
                field = self._second_use_of_a_column(spec["mapping"]) or field
            self.add_error(field, message)
        return cleaned

    @staticmethod
    def _second_use_of_a_column(mapping: dict[str, str]) -> str | None:
        """The form field of the later of two lead fields given one column (where the admin typed it twice)."""
        seen: set[str] = set()
        for name, column in mapping.items():
            if column.strip() in seen:
                return f"map_{name}"
            seen.add(column.strip())
        return None

    def save(self, commit=True):
        profile = super().save(commit=False)
        spec = self.spec
        for name in ("mapping", "converted_values", "lost_values", "open_values", "placeholder_values",
                     "column_types", "excluded_columns", "column_limits", "date_orders", "extra_outcomes"):  # fmt: skip
            setattr(profile, name, getattr(spec, name))
        if commit:
            profile.save()
        return profile
