"""What each queue row shows, computed once in Python for the page's rows.

The queue renders fifty rows per request; resolving each value through the template engine (a
`{% url %}` per link, `naturaltime` and `timesince` as filters, model properties looked up by name)
was most of a page's CPU. Here each row is a dict of ready text: the template only places it (and
still escapes it)."""

from datetime import datetime

from django.contrib.humanize.templatetags.humanize import naturaltime
from django.urls import reverse
from django.utils import dateformat, timezone
from django.utils.timesince import timesince

from leads.models import Lead
from leads.selectors import QueuePage


def queue_rows(page: QueuePage, *, lead_suffix: str) -> list[dict]:
    """The display values of `page`'s rows; `lead_suffix` (the queue's filters) goes on each lead link."""
    # One reverse for the page: every lead's URL differs only by its id.
    detail = reverse("leads:detail", args=[0]).replace("/0/", "/{}/")
    return [_row(lead, page, detail.format(lead.pk), lead_suffix) for lead in page.leads]


def _row(lead: Lead, page: QueuePage, url: str, lead_suffix: str) -> dict:
    overdue = lead.pk in page.overdue_ids
    return {
        "pk": lead.pk,
        "overdue": overdue,
        "name": lead.display_name,
        "company": lead.company,
        "url": url + lead_suffix,
        "email": lead.email,
        "phone": lead.phone,
        "log_email_url": f"{url}?log=email#log",
        "log_call_url": f"{url}?log=call#log",
        "score": lead.effective_score,
        "tier": lead.tier,
        "tier_label": lead.get_tier_display(),
        "reasons": [("up" if reason["impact"] >= 0 else "down", reason["text"]) for reason in lead.top_reasons()],
        "status_label": lead.get_status_display(),
        "owner": str(lead.owner) if lead.owner_id else "",
        "next_follow_up": _local(lead.next_follow_up_at, "M j, H:i"),
        "last_activity": naturaltime(lead.last_activity_at) if lead.last_activity_at else "",
        "age": timesince(lead.created_at, page.now),
    }


def _local(value: datetime | None, format_string: str) -> str:
    return dateformat.format(timezone.localtime(value), format_string) if value else ""
