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
        help_texts = {
            "margin_auc": "How much lower a retrained model's ROC AUC may be than the active model's, "
            "on leads neither was trained on, and still replace it (negative: it must be that much better).",
            "margin_log_loss": "How much higher its log loss may be and still replace the active model.",
        }

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
