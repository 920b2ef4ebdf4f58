"""The import wizard's forms, one per step. Each validates on the server and puts its message
beside the field at fault; the whole mapping is checked once more by spec_from_dict (the rule
every door shares), whose message lands on the form when no field is to blame.

The steps build one mapping dict (ImportSpec's keys) kept in the session between requests.
"""

from django import forms
from django.core.exceptions import ValidationError
from django.utils.text import slugify

from leads.importing.profiles import COLUMN_TYPES, DATE_ORDERS, MAPPING_FIELDS, outcome_key, spec_from_dict
from leads.importing.readers import ENCODINGS
from leads.importing.wizard import LEAK_HINT_AUC, ColumnFacts, Sample
from leads.models import ImportJob, ImportProfile

FIELD_LABELS = {
    "external_id": "External id",
    "email": "Email",
    "name": "Name (or first name)",
    "last_name": "Last name (joined to the name)",
    "phone": "Phone",
    "company": "Company",
    "source": "Source",
    "origin": "Origin",
    "campaign": "Campaign (e.g. utm_campaign)",
    "owner": "Owner (username or email)",
    "created_at": "Created date",
    "converted_value": "Converted value (money)",
}
NONE = ("", "— none —")
OUTCOME_CHOICES = [("converted", "converted"), ("lost", "lost"), ("open", "still open")]


def comma_list(text: str) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


class UploadForm(forms.Form):
    file = forms.FileField(help_text="CSV (comma, semicolon, tab or pipe; UTF-8 or cp1252) or XLSX")
    encoding = forms.ChoiceField(
        required=False,
        choices=[("", "detect")] + [(e, e) for e in ENCODINGS],
        help_text="Leave on detect unless the preview shows garbled letters.",
    )
    delimiter = forms.ChoiceField(
        required=False,
        choices=[("", "detect"), (",", "comma"), (";", "semicolon"), ("\t", "tab"), ("|", "pipe")],
    )


class MappingForm(forms.Form):
    """Step 2: which column fills which lead field, and which column(s) hold the outcome."""

    def __init__(self, *args, sample: Sample, **kwargs):
        super().__init__(*args, **kwargs)
        self.sample = sample
        columns = [NONE, *((c, c) for c in sample.header)]
        for name in MAPPING_FIELDS:
            self.fields[name] = forms.ChoiceField(label=FIELD_LABELS[name], choices=columns, required=False)
        few = [NONE, *((c.name, c.name) for c in sample.columns if c.few_values)]
        self.fields["outcome_column"] = forms.ChoiceField(
            label="Outcome column", choices=few, required=False,
            help_text="The column that says whether the lead converted (columns with few values).",
        )  # fmt: skip
        self.fields["second_outcome_column"] = forms.ChoiceField(
            label="Second outcome column", choices=few, required=False,
            help_text="When the outcome is spread over two columns (won in one, disqualified in another).",
        )  # fmt: skip

    def clean(self):
        data = super().clean()
        seen: dict[str, str] = {}
        for name in (*MAPPING_FIELDS, "outcome_column", "second_outcome_column"):
            column = data.get(name)
            if not column:
                continue
            if column in seen:
                self.add_error(name, f"{column!r} is already used for {self.fields[seen[column]].label.lower()}.")
            else:
                seen[column] = name
        if data.get("last_name") and not data.get("name"):
            self.add_error("last_name", "Choose the first-name column too (the name field).")
        if data.get("second_outcome_column") and not data.get("outcome_column"):
            self.add_error("second_outcome_column", "Choose the main outcome column first.")
        return data

    def mapping(self) -> dict:
        data = self.cleaned_data
        return {
            "mapping": {name: data[name] for name in MAPPING_FIELDS if data.get(name)},
            "outcome_column": data.get("outcome_column", ""),
            "second_outcome_column": data.get("second_outcome_column", ""),
        }


class OutcomeForm(forms.Form):
    """Step 3: what each value of the outcome column(s) means (radio per value).

    Values the import compares as one (outcome_key: "Won", "won ", "WON") get one radio, so one
    answer covers every spelling and none is left "still open" by default beside its twin."""

    def __init__(
        self, *args, sample: Sample, columns: list[str], initial_values: dict,
        file_values: dict[str, list[tuple[str, int]] | None], **kwargs,
    ):  # fmt: skip
        """`file_values`: each column's values in the whole file (wizard.values_in_file); a
        column with too many (None) lists the sample's most frequent ones."""
        super().__init__(*args, **kwargs)
        self.groups: list[tuple[str, list[str]]] = []
        self.too_many: list[str] = []  # columns with more values than the step lists
        for number, column in enumerate(columns):
            values = file_values.get(column)
            if values is None:
                self.too_many.append(column)
                facts = sample.column(column)
                values = facts.values if facts else []
            spellings: dict[str, list[tuple[str, int]]] = {}
            for value, count in values:
                spellings.setdefault(outcome_key(value), []).append((value, count))
            saved = {outcome_key(value): meaning for value, meaning in initial_values.get(column, {}).items()}
            names = []
            for position, (key, variants) in enumerate(spellings.items()):
                name = f"o{number}_{position}"
                count = sum(n for _, n in variants)
                shown = " / ".join(repr(value) for value, _ in variants) if key else "(empty)"
                self.fields[name] = forms.ChoiceField(
                    label=f"{shown} ({count} rows)", choices=OUTCOME_CHOICES, widget=forms.RadioSelect,
                    initial=saved.get(key, "open"),
                )  # fmt: skip
                self.fields[name].outcome_value = variants[0][0]
                names.append(name)
            self.groups.append((column, names))
        self.fields["lost_reason"] = forms.CharField(max_length=255, initial="imported outcome")

    def clean(self):
        data = super().clean()
        for column, names in self.groups:
            meanings = [data.get(name) for name in names]
            if names and not ({"converted", "lost"} & set(meanings)):
                self.add_error(names[0], f"Tick at least one value of {column!r} meaning converted or lost.")
        return data

    def outcomes(self) -> dict[str, dict[str, list[str]]]:
        rules = {}
        for column, names in self.groups:
            rule: dict[str, list[str]] = {"converted": [], "lost": [], "open": []}
            for name in names:
                value = self.fields[name].outcome_value
                if value:  # an empty cell is always "open" (missing)
                    rule[self.cleaned_data[name]].append(value)
            rules[column] = rule
        return rules

    def bound_groups(self):
        return [(column, [self[name] for name in names]) for column, names in self.groups]


# What each input of a column's row asks, as its accessible name says it ("Budget: minimum").
ROW_INPUT_NAMES = {
    "type": "type",
    "min": "minimum",
    "max": "maximum",
    "date_order": "date order",
    "exclude": "leave out of scoring",
    "reason": "why it is left out",
}


class ColumnsForm(forms.Form):
    """Step 4: each remaining column's type, number limits, date order, and whether scoring uses it."""

    def __init__(
        self, *args, sample: Sample, columns: list[str], hints: dict[str, float], saved: dict, created_column: str = "",
        **kwargs,
    ):  # fmt: skip
        super().__init__(*args, **kwargs)
        self.rows = []
        self.created: ColumnFacts | None = None  # the created-date column, when its dates need an order
        types = saved.get("column_types", {})
        excluded = saved.get("excluded_columns", {})
        limits = saved.get("column_limits", {})
        orders = saved.get("date_orders", {})
        for number, column in enumerate(columns):
            facts = sample.column(column)
            auc = hints.get(column)
            leak = auc is not None and auc >= LEAK_HINT_AUC
            prefix = f"c{number}_"
            self.fields[prefix + "type"] = forms.ChoiceField(
                choices=[(t, t) for t in COLUMN_TYPES], initial=types.get(column, facts.kind if facts else "text")
            )
            self.fields[prefix + "exclude"] = forms.BooleanField(
                required=False, initial=column in excluded or leak, label="Leave out of scoring"
            )
            reason = excluded.get(column) or (f"leak check: alone predicts the outcome (AUC {auc:.2f})" if leak else "")
            self.fields[prefix + "reason"] = forms.CharField(required=False, max_length=200, initial=reason)
            self.fields[prefix + "min"] = forms.FloatField(required=False, initial=limits.get(column, {}).get("min"))
            self.fields[prefix + "max"] = forms.FloatField(required=False, initial=limits.get(column, {}).get("max"))
            suggested = facts.date_order if facts else ""
            self.fields[prefix + "date_order"] = forms.ChoiceField(
                required=False,
                choices=[("", "detect" if suggested != "?" else "— choose —"), *DATE_ORDERS.items()],
                initial=orders.get(column, suggested if suggested in DATE_ORDERS else ""),
            )
            for key, words in ROW_INPUT_NAMES.items():
                # The inputs sit in a table row with no <label>: a screen reader names each one.
                self.fields[prefix + key].widget.attrs["aria-label"] = f"{column}: {words}"
            self.rows.append({"column": column, "prefix": prefix, "facts": facts, "auc": auc, "leak": leak})
        created = sample.column(created_column) if created_column else None
        if created is not None and created.kind == "date" and created.date_order:
            # The created-date column is mapped, so it has no row above; its slash dates still need an order.
            self.created = created
            self.fields["created_date_order"] = forms.ChoiceField(
                label=f"Date order of {created_column} (the created date)",
                required=False,
                choices=[("", "detect" if created.date_order != "?" else "— choose —"), *DATE_ORDERS.items()],
                initial=orders.get(created_column, created.date_order if created.date_order in DATE_ORDERS else ""),
            )
        self.fields["placeholder_values"] = forms.CharField(
            required=False, initial=", ".join(saved.get("placeholder_values", [])),
            help_text='Values meaning "not answered", stored as missing, comma-separated (e.g. Select, N/A).',
        )  # fmt: skip

    def bound_rows(self):
        return [
            {
                **row,
                **{key: self[row["prefix"] + key] for key in ("type", "exclude", "reason", "min", "max", "date_order")},
            }
            for row in self.rows
        ]

    def created_order_field(self):
        return self["created_date_order"] if self.created else None

    def clean(self):
        data = super().clean()
        if self.created and self.created.date_order == "?" and not data.get("created_date_order"):
            self.add_error("created_date_order", "The sample's dates read both ways (03/04): choose the order.")
        for row in self.rows:
            prefix, facts = row["prefix"], row["facts"]
            kind = data.get(prefix + "type")
            low, high = data.get(prefix + "min"), data.get(prefix + "max")
            if (low is not None or high is not None) and kind != "number":
                self.add_error(prefix + "min", "A min or max needs the number type.")
            elif low is not None and high is not None and low > high:
                self.add_error(prefix + "max", "The max is below the min.")
            if kind == "date" and facts and facts.date_order == "?" and not data.get(prefix + "date_order"):
                self.add_error(prefix + "date_order", "The sample's dates read both ways (03/04): choose the order.")
            if data.get(prefix + "exclude") and not (data.get(prefix + "reason") or "").strip():
                self.add_error(prefix + "reason", "Say why it is left out (shown to whoever trains the model).")
        return data

    def settings(self) -> dict:
        data = self.cleaned_data
        out: dict = {"column_types": {}, "excluded_columns": {}, "column_limits": {}, "date_orders": {}}
        for row in self.rows:
            column, prefix = row["column"], row["prefix"]
            facts = row["facts"]
            kind = data[prefix + "type"]
            if facts is None or kind != facts.kind or kind != "text":
                out["column_types"][column] = kind
            if data.get(prefix + "exclude"):
                out["excluded_columns"][column] = data[prefix + "reason"].strip()
            bounds = {k: data[prefix + k] for k in ("min", "max") if data.get(prefix + k) is not None}
            if bounds:
                out["column_limits"][column] = bounds
            if kind == "date" and data.get(prefix + "date_order"):
                out["date_orders"][column] = data[prefix + "date_order"]
        if self.created and data.get("created_date_order"):
            out["date_orders"][self.created.name] = data["created_date_order"]
        out["placeholder_values"] = comma_list(data.get("placeholder_values", ""))
        return out


class SaveForm(forms.Form):
    """Step 5: name the profile and start the import."""

    profile_name = forms.SlugField(max_length=64, label="Profile name", help_text="Letters, digits, - and _.")
    description = forms.CharField(max_length=255, required=False)
    mode = forms.ChoiceField(choices=ImportJob.Mode.choices, initial=ImportJob.Mode.SKIP_BAD)

    def __init__(self, *args, spec_data: dict, **kwargs):
        super().__init__(*args, **kwargs)
        self.spec_data = spec_data
        if not self.is_bound and spec_data.get("profile_name"):
            self.initial.setdefault("profile_name", spec_data["profile_name"])

    def clean_profile_name(self):
        name = slugify(self.cleaned_data["profile_name"]).replace("-", "_") or self.cleaned_data["profile_name"]
        if ImportProfile.objects.filter(name=name).exists():
            raise ValidationError(f"A profile named {name!r} exists; choose another name.")
        return name

    def clean(self):
        data = super().clean()
        try:
            spec_from_dict(self.spec_data)
        except ValidationError as exc:
            raise ValidationError(exc.messages) from exc
        return data
