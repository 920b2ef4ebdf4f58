"""What each queue row shows, computed once in Python for the page's rows, and its HTML.

The queue renders fifty rows per request; resolving each value through the template engine (a
`{% url %}` per link, `naturaltime` and `timesince` as filters, model properties looked up by name)
was most of a page's CPU. Here each row is a dict of ready text (queue_rows), and the row's markup
is filled in here too (queue_rows_html): placing some thirty values per row through the template
engine cost 3.7 ms of CPU for a page of fifty rows, this 0.9 ms. Every value is escaped
(format_html); templates/leads/_queue_rows.html keeps the rest of the rows' markup.
"""

from datetime import datetime

from django.contrib.humanize.templatetags.humanize import naturaltime
from django.urls import reverse
from django.utils import dateformat, timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe
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


# One queue row (below 700 px a card: static/css/app.css, "Queue cards"). The values are escaped by
# format_html; the optional parts come from the functions below, already escaped.
_ROW = (
    '\n<tr class="lead-row{overdue_class}" data-lead="{pk}">\n'
    '  <td class="c-name"><input type="checkbox" name="lead" value="{pk}" form="bulk-form" class="pick"'
    ' aria-label="Tick {name}"> <a href="{url}">{name}</a>{company}</td>\n'
    '  <td class="c-contact">{contact}</td>\n'
    '  <td class="score c-score">{score}</td>\n'
    '  <td class="c-tier"><span class="tier tier-{tier}">{tier_label}</span></td>\n'
    '  <td class="reasons">{reasons}</td>\n'
    '  <td class="c-status">{status_label}</td>\n'
    '  <td class="c-owner">{owner}</td>\n'
    '  <td class="c-next{late_class}"><span class="cell-label">Next follow-up: </span>{next_follow_up}</td>\n'
    '  <td class="c-last">{last_activity}</td>\n'
    '  <td class="c-age">{age}</td>\n'
    '  <td class="card-only c-action"><a href="{url}" role="button" class="small"'
    ' aria-label="Open {name}">Open</a></td>\n'
    "</tr>\n"
)
_MUTED_DASH = mark_safe('<span class="muted">\u2013</span>')


def queue_rows_html(rows: list[dict]) -> SafeString:
    """The table rows of `rows` (queue_rows), in order."""
    return mark_safe("".join(_row_html(row) for row in rows))  # noqa: S308 (format_html escaped each value)


def _row_html(row: dict) -> str:
    return format_html(
        _ROW,
        overdue_class=" overdue" if row["overdue"] else "",
        late_class=" late" if row["overdue"] else "",
        pk=row["pk"],
        name=row["name"],
        url=row["url"],
        company=format_html('<br><small class="muted">{}</small>', row["company"]) if row["company"] else "",
        contact=_contact_html(row),
        score=_MUTED_DASH if row["score"] is None else row["score"],
        tier=row["tier"],
        tier_label=row["tier_label"],
        reasons=format_html_join("", '<span class="reason {}">{}</span>', row["reasons"]) or _MUTED_DASH,
        status_label=row["status_label"],
        owner=row["owner"] or mark_safe("<em>pool</em>"),
        next_follow_up=_next_follow_up_html(row),
        last_activity=row["last_activity"] or mark_safe('<span class="muted">never</span>'),
        age=row["age"],
    )


def _contact_html(row: dict) -> str:
    email = _log_link("mailto", row["email"], row["log_email_url"], "Email", row["name"])
    phone = _log_link("tel", row["phone"], row["log_call_url"], "Call", row["name"])
    return format_html("{}{}{}", email, " · " if email and phone else "", phone)


def _log_link(scheme: str, address: str, log_url: str, action: str, name: str) -> str:
    """'Email' / 'Call' opening the mail or phone app and the lead's log form; "" without an address."""
    if not address:
        return ""
    return format_html(
        '<a href="{}:{}" data-log-url="{}" aria-label="{} {}">{}</a>', scheme, address, log_url, action, name, action
    )


def _next_follow_up_html(row: dict) -> str:
    if not row["next_follow_up"]:
        return _MUTED_DASH
    return format_html("{}{}", row["next_follow_up"], mark_safe(" <strong>overdue</strong>") if row["overdue"] else "")
