"""Model facts on CRM pages: the CRM's templates load these tags instead of its views reading
the model, so leads never imports scoring.

    {% load scoring_tags %}
    {% queue_banner %}         the cold-start notice for the top of the work queue, if any
    {% model_drift_banner %}   the active model's "consider retraining" notice, if any
    {% model_card %}           the dashboard card with the active model's holdout ROC AUC
"""

from django import template
from django.utils.html import format_html

from scoring import drift, quality, selectors

register = template.Library()

_FACTS_KEY = "scoring_tags.active_model"


def _active_model_facts(context: template.Context) -> dict:
    """The active model, its AUC and drift notice: read once per page render, however many
    tags show them."""
    facts = context.render_context.get(_FACTS_KEY)
    if facts is None:
        facts = quality.active_model_facts()
        facts["drift_notice"] = drift.drift_notice(facts["model"]) if facts["model"] else None
        context.render_context[_FACTS_KEY] = facts
    return facts


@register.inclusion_tag("scoring/_model_drift_banner.html", takes_context=True)
def model_drift_banner(context: template.Context) -> dict:
    return _active_model_facts(context)


@register.inclusion_tag("scoring/_model_card.html", takes_context=True)
def model_card(context: template.Context) -> dict:
    return _active_model_facts(context)


@register.simple_tag
def queue_banner() -> str:
    banner = selectors.queue_banner()
    return format_html('<p class="banner" role="status">{}</p>', banner) if banner else ""
