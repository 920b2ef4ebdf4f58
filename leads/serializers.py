"""API serializers. Output serializers describe a resource; input serializers only validate:
the views hand `validated_data` to leads.services, which own every business rule."""

from django.conf import settings
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from leadcrm.api_schema import StrictJsonTypesMixin
from leads.models import Activity, FollowUp, Lead, User
from leads.text import clean_text

MAX_ATTRIBUTES = 500
MAX_ATTRIBUTE_KEY = 255
# JSON numbers beyond this lose precision in float64 consumers (the scoring pipeline).
MAX_ATTRIBUTE_INT = 2**53

_ATTRIBUTES_SCHEMA = {
    "type": "object",
    "additionalProperties": {
        "oneOf": [{"type": "string"}, {"type": "number"}, {"type": "boolean"}],
        "nullable": True,
    },
    "description": "Free-form lead attributes: JSON strings, numbers, booleans or null (missing).",
    "example": {"TotalVisits": 5, "Do Not Email": False, "Last Activity": "Email Opened"},
}


def _storable(text: str) -> bool:
    """PostgreSQL's jsonb takes neither NUL nor lone surrogates (JSON allows both)."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


@extend_schema_field(_ATTRIBUTES_SCHEMA)
class AttributesField(serializers.Field):
    """A flat JSON object of scalar values (the Lead.attributes contract)."""

    default_error_messages = {
        "not_a_dict": "Expected a JSON object of attribute values.",
        "too_many": f"At most {MAX_ATTRIBUTES} attributes.",
        "bad_key": f"Attribute names are non-empty text of at most {MAX_ATTRIBUTE_KEY} characters.",
        "bad_value": "Attribute {name!r}: use a string, number, boolean or null.",
        "too_long": "Attribute {name!r}: text is limited to {limit} characters (IMPORT_MAX_CELL_CHARS).",
        "too_big": "Attribute {name!r}: number out of range.",
        "null_char": "Attribute {name!r}: null characters are not allowed.",
        "not_text": "Attribute {name!r}: text must be valid Unicode (no lone surrogates).",
    }

    def to_representation(self, value):
        return value

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            self.fail("not_a_dict")
        if len(data) > MAX_ATTRIBUTES:
            self.fail("too_many")
        clean = {}
        for key, value in data.items():
            if not isinstance(key, str) or not key.strip() or len(key) > MAX_ATTRIBUTE_KEY or not _storable(key):
                self.fail("bad_key")
            if isinstance(value, str):
                if len(value) > settings.IMPORT_MAX_CELL_CHARS:
                    self.fail("too_long", name=key, limit=settings.IMPORT_MAX_CELL_CHARS)
                if "\x00" in value:
                    self.fail("null_char", name=key)
                if not _storable(value):
                    self.fail("not_text", name=key)
                value = clean_text(value)
            elif isinstance(value, bool) or value is None:
                pass
            elif isinstance(value, int):
                if abs(value) > MAX_ATTRIBUTE_INT:
                    self.fail("too_big", name=key)
            elif isinstance(value, float):
                if abs(value) > 1e300:
                    self.fail("too_big", name=key)
            else:
                self.fail("bad_value", name=key)
            clean[key] = value
        return clean


class ScoreReasonSerializer(serializers.Serializer):
    feature = serializers.CharField(required=False)
    text = serializers.CharField(required=False)
    impact = serializers.FloatField(required=False)


class LeadSerializer(serializers.ModelSerializer):
    """A lead as the API returns it, with its current score and the reasons for it."""

    attributes = AttributesField(read_only=True)
    # Not EmailField: a lead may have no email (""), which is not a valid "format: email".
    email = serializers.CharField(read_only=True, help_text="Lower-cased email, or blank.")
    # What the model says of the lead (its LeadRank row, select_related by the views).
    score = serializers.IntegerField(source="rank.score", read_only=True, allow_null=True)
    probability = serializers.FloatField(source="rank.probability", read_only=True, allow_null=True)
    tier = serializers.ChoiceField(source="rank.tier", choices=Lead.Tier.choices, read_only=True)
    score_reasons = serializers.SerializerMethodField()
    scored_at = serializers.DateTimeField(source="rank.scored_at", read_only=True, allow_null=True)
    model_version = serializers.IntegerField(source="rank.model_version_id", read_only=True, allow_null=True)
    score_override = serializers.IntegerField(source="rank.score_override", read_only=True, allow_null=True)
    effective_score = serializers.SerializerMethodField(
        help_text="The score the queue sorts by: a manager's override, else the model's score."
    )

    class Meta:
        model = Lead
        fields = [
            "id",
            "external_id",
            "name",
            "email",
            "phone",
            "company",
            "source",
            "origin",
            "campaign",
            "status",
            "lost_reason",
            "converted_at",
            "converted_value",
            "owner",
            "attributes",
            "score",
            "probability",
            "tier",
            "score_reasons",
            "scored_at",
            "model_version",
            "score_override",
            "effective_score",
            "created_at",
            "updated_at",
            "first_contacted_at",
            "last_activity_at",
            "next_follow_up_at",
        ]
        read_only_fields = fields

    @extend_schema_field(ScoreReasonSerializer(many=True))
    def get_score_reasons(self, lead: Lead) -> list:
        reasons = lead.score_reasons
        return [r for r in reasons if isinstance(r, dict)] if isinstance(reasons, list) else []

    def get_effective_score(self, lead: Lead) -> int | None:
        return lead.effective_score


class CleanCharField(serializers.CharField):
    """Text with control characters and bidi overrides removed (leads.text.clean_text), as every door does."""

    def run_validation(self, data=serializers.empty):
        value = super().run_validation(data)  # the validators first: a NUL byte is still refused
        return clean_text(value) if isinstance(value, str) else value


class _LeadFieldsSerializer(StrictJsonTypesMixin, serializers.Serializer):
    name = CleanCharField(max_length=255, allow_blank=True, required=False)
    email = serializers.EmailField(max_length=254, allow_blank=True, required=False)
    phone = CleanCharField(max_length=64, allow_blank=True, required=False)
    company = CleanCharField(max_length=255, allow_blank=True, required=False)
    source = CleanCharField(max_length=128, allow_blank=True, required=False)
    origin = CleanCharField(max_length=128, allow_blank=True, required=False)
    campaign = CleanCharField(
        max_length=128, allow_blank=True, required=False, help_text="The marketing campaign, e.g. utm_campaign."
    )


class LeadCreateSerializer(_LeadFieldsSerializer):
    external_id = serializers.CharField(max_length=255, allow_null=True, allow_blank=True, required=False)
    attributes = AttributesField(required=False)
    owner = serializers.PrimaryKeyRelatedField(
        queryset=User.objects.filter(is_active=True),
        allow_null=True,
        required=False,
        help_text="Managers: any active user, or null for the unassigned pool (the default). "
        "Reps: themselves (the default).",
    )

    def validate_external_id(self, value):
        return (value or "").strip() or None

    def validate(self, data):
        if not any((data.get(f) or "").strip() for f in ("name", "email", "phone", "external_id")):
            raise serializers.ValidationError("A lead needs at least a name, email, phone or external_id.")
        return data


class LeadUpdateSerializer(_LeadFieldsSerializer):
    """PATCH: changes the fields given."""


class LeadReplaceSerializer(_LeadFieldsSerializer):
    """PUT: every contact field, blank to clear it (the campaign, not a contact field, may be left out)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name, field in self.fields.items():
            field.required = name != "campaign"


class LeadStatusSerializer(StrictJsonTypesMixin, serializers.Serializer):
    status = serializers.ChoiceField(choices=Lead.Status.choices)
    reason = CleanCharField(max_length=255, allow_blank=True, required=False, default="")


class LeadCloseSerializer(StrictJsonTypesMixin, serializers.Serializer):
    outcome = serializers.ChoiceField(choices=[(s, Lead.Status(s).label) for s in Lead.CLOSED_STATUSES])
    reason = CleanCharField(
        max_length=255, allow_blank=True, required=False, default="", help_text="Required when lost."
    )
    value = serializers.DecimalField(
        max_digits=14,
        decimal_places=2,
        min_value=0,
        required=False,
        allow_null=True,
        default=None,
        help_text="What the converted lead was worth; omitted: the channel's default value. Ignored when lost.",
    )


class LeadAssignSerializer(StrictJsonTypesMixin, serializers.Serializer):
    owner = serializers.PrimaryKeyRelatedField(
        queryset=User.objects.filter(is_active=True), allow_null=True, help_text="null returns the lead to the pool."
    )


class ActivitySerializer(serializers.ModelSerializer):
    data = serializers.JSONField(read_only=True)

    class Meta:
        model = Activity
        fields = ["id", "lead", "user", "kind", "outcome", "occurred_at", "notes", "data"]
        read_only_fields = fields


class ActivityCreateSerializer(StrictJsonTypesMixin, serializers.Serializer):
    kind = serializers.ChoiceField(choices=[(k, Activity.Kind(k).label) for k in Activity.LOGGABLE_KINDS])
    outcome = CleanCharField(max_length=128, allow_blank=True, required=False, default="")
    notes = CleanCharField(max_length=5000, allow_blank=True, required=False, default="")
    occurred_at = serializers.DateTimeField(required=False, allow_null=True, default=None)


class FollowUpSerializer(serializers.ModelSerializer):
    class Meta:
        model = FollowUp
        fields = ["id", "lead", "assigned_to", "due_at", "done_at", "note", "created_at"]
        read_only_fields = fields


class FollowUpCreateSerializer(StrictJsonTypesMixin, serializers.Serializer):
    due_at = serializers.DateTimeField()
    note = CleanCharField(max_length=500, allow_blank=True, required=False, default="")
    assigned_to = serializers.PrimaryKeyRelatedField(
        queryset=User.objects.filter(is_active=True),
        allow_null=True,
        required=False,
        default=None,
        help_text="Defaults to the lead's owner. Reps can only assign themselves.",
    )

    def validate_due_at(self, due_at):
        if problem := FollowUp.due_at_problem(due_at):
            raise serializers.ValidationError(problem)
        return due_at

    def validate_assigned_to(self, user):
        request = self.context.get("request")
        if user is not None and request and not request.user.is_manager and user.pk != request.user.pk:
            raise serializers.ValidationError("Reps can only schedule follow-ups for themselves.")
        return user


MAX_BULK_ROWS = 1000


class BulkLeadRowSerializer(LeadCreateSerializer):
    """One row of a bulk upsert: a lead with the same fields as create."""


@extend_schema_field(BulkLeadRowSerializer(many=True))
class _BulkRowsField(serializers.ListField):
    """Rows are validated one by one in the view, so every bad row gets its own error."""


class LeadBulkSerializer(StrictJsonTypesMixin, serializers.Serializer):
    leads = _BulkRowsField(
        min_length=1,
        max_length=MAX_BULK_ROWS,
        help_text=(
            f"1 to {MAX_BULK_ROWS} leads. A row updates the lead with its external_id, else (without one) the lead "
            "with its email (any case); others are created."
        ),
    )
    atomic = serializers.BooleanField(
        default=True,
        help_text="true (default): any row error rejects the whole call and nothing is written. "
        "false: valid rows are written, invalid rows are reported.",
    )


class BulkRowErrorSerializer(serializers.Serializer):
    row = serializers.IntegerField(help_text="0-based index in `leads`.")
    external_id = serializers.CharField(allow_null=True)
    fields = serializers.DictField(child=serializers.ListField(child=serializers.CharField()))


class BulkRowResultSerializer(serializers.Serializer):
    row = serializers.IntegerField()
    id = serializers.IntegerField()
    action = serializers.ChoiceField(choices=["created", "updated"])


class LeadBulkResultSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    failed = serializers.IntegerField()
    results = BulkRowResultSerializer(many=True)
    errors = BulkRowErrorSerializer(many=True)
