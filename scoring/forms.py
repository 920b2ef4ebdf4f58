"""Forms of the model pages: threshold, tier settings, score override. May import scoring.models only."""

from django import forms

from scoring.models import ScoringSettings


class ColumnListField(forms.CharField):
    """A list of column names, one per line."""

    widget = forms.Textarea(attrs={"rows": 3})

    def prepare_value(self, value):
        return "\n".join(value) if isinstance(value, list) else value

    def to_python(self, value):
        text = super().to_python(value) or ""
        return [line.strip() for line in text.splitlines() if line.strip()]


class ScoringSettingsForm(forms.ModelForm):
    excluded_columns = ColumnListField(required=False, help_text="Columns never used for scoring, one per line.")
    kept_columns = ColumnListField(required=False, help_text="Columns kept even when the leak check flags them.")

    class Meta:
        model = ScoringSettings
        fields = [
            "tier_mode",
            "hot_threshold",
            "warm_threshold",
            "hot_percentile",
            "warm_percentile",
            "capacity_per_rep",
            "min_converted",
            "min_lost",
            "training_since",
            "excluded_columns",
            "kept_columns",
            "rule_score",
            "margin_auc",
            "margin_log_loss",
        ]
        widgets = {"training_since": forms.DateInput(attrs={"type": "date"})}
        labels = {
            "tier_mode": "Tier mode",
            "hot_threshold": "Hot above probability",
            "warm_threshold": "Warm above probability",
            "hot_percentile": "Hot above percentile",
            "warm_percentile": "Warm above percentile",
            "capacity_per_rep": "Hot leads per rep per day",
            "min_converted": "Converted leads needed",
            "min_lost": "Lost leads needed",
            "training_since": "Train on leads created since",
            "rule_score": "Cold-start score",
            "margin_auc": "ROC AUC margin",
            "margin_log_loss": "Log loss margin",
        }
        help_texts = {
            "warm_threshold": "Probability; empty: the setting default.",
            "warm_percentile": "Leads above this score percentile are warm.",
            "min_converted": "Before a model is trained; empty: the setting default.",
            "min_lost": "Before a model is trained; empty: the setting default.",
            "margin_auc": "How much lower a retrained model's ROC AUC may be than the active model's, "
            "on leads neither was trained on, and still replace it (negative: it must be that much better).",
            "margin_log_loss": "How much higher its log loss may be and still replace the active model.",
        }

    # The page shows the fields in these groups (templates/scoring/_settings_form.html).
    GROUPS = (
        ("Tiers", "How scores become hot, warm and cold.", ("tier_mode",)),
        ("Probability thresholds", "Used when the tier mode is probability.", ("hot_threshold", "warm_threshold")),
        ("Score percentiles", "Used when the tier mode is percentiles.", ("hot_percentile", "warm_percentile")),
        ("Rep capacity", "Used when the tier mode is capacity.", ("capacity_per_rep",)),
        ("Training", "", ("min_converted", "min_lost", "training_since", "rule_score")),
        ("Columns", "", ("excluded_columns", "kept_columns")),
        ("New models", "When a retrained model replaces the active one.", ("margin_auc", "margin_log_loss")),
    )

    @property
    def groups(self) -> list[dict]:
        return [
            {"title": title, "help": help_text, "fields": [self[name] for name in names]}
            for title, help_text, names in self.GROUPS
        ]

    def clean(self):
        data = super().clean()
        hot, warm = data.get("hot_threshold"), data.get("warm_threshold")
        for name in ("hot_threshold", "warm_threshold"):
            value = data.get(name)
            if value is not None and not 0 < value < 1:
                self.add_error(name, "A probability between 0 and 1.")
        if hot is not None and warm is not None and warm > hot:
            self.add_error("warm_threshold", "Warm must not be above hot.")
        for name in ("hot_percentile", "warm_percentile"):
            value = data.get(name)
            if value is not None and not 0 <= value <= 100:
                self.add_error(name, "A percentile between 0 and 100.")
        return data


class OverrideForm(forms.Form):
    score = forms.IntegerField(min_value=0, max_value=100)
    reason = forms.CharField(max_length=255)


class ActivateForm(forms.Form):
    """Activation from the model page; a version that failed its gates needs a reason (recorded)."""

    reason = forms.CharField(
        max_length=255,
        required=False,
        label="Reason for activating anyway",
        widget=forms.Textarea(attrs={"rows": 2}),
    )


class ThresholdForm(forms.Form):
    threshold = forms.FloatField(min_value=0.01, max_value=0.99)


class ModelVersionForm(forms.Form):
    """The model pages' version picker (model quality, drift)."""

    version = forms.TypedChoiceField(required=False, coerce=int, empty_value=None, label="Model version")

    def __init__(self, *args, versions, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["version"].choices = [
            (v.pk, f"v{v.pk} · {v.algorithm or 'model'} · {v.get_status_display()} · {v.created_at:%Y-%m-%d}")
            for v in versions
        ]
