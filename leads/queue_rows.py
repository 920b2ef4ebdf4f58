"""What each queue row shows, computed once in Python for the page's rows, and its HTML.

The queue renders fifty rows per request; resolving each value through the template engine (a
`{% url %}` per link, `naturaltime` and `timesince` as filters, model properties looked up by name)
was most of a page's CPU. Here each row is a dict of ready text (queue_rows), and the row's markup
is filled in here too (queue_rows_html); templates/leads/_queue_rows.html keeps the rest of the
rows' markup.

Both still cost more than the page's SQL, so the per-row work is kept to plain Python: the
translated phrases of "3 days ago" are looked up once per language and phrase (PageTimes), choice
labels and owner names once per page and value, and the markup is one f-string per row whose values go through `_esc`
(Django's conditional_escape without its lazy-string wrapper: ~34 escapes a row through format_html
were a third of the rows' CPU). tests/leads/test_queue_rows.py holds both to Django's output.
"""

import html
from datetime import datetime, tzinfo

from django.contrib.humanize.templatetags.humanize import NaturalTimeFormatter
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.dates import MONTHS_3
from django.utils.html import conditional_escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.timesince import TIME_STRINGS, timesince

from leads.models import Lead, LeadRank
from leads.selectors import QueuePage


class _Phrase:
    """A lazily translated phrase (gettext_lazy / ngettext_lazy) formatted with `%`, translated once
    per value it is given. One per language (_phrases_for): the same texts ("3 days", "an hour ago",
    "2 weeks, 3 days ago") recur on every page, a few thousand at most."""

    __slots__ = ("_done", "_lazy")

    def __init__(self, lazy) -> None:
        self._lazy = lazy
        self._done: dict = {}

    def __mod__(self, values: dict) -> str:
        key = tuple(values.values())
        text = self._done.get(key)
        if text is None:
            if len(self._done) >= 5000:  # a bound all the same
                self._done.clear()
            text = self._done[key] = self._lazy % values
        return text


# Per language: timesince's phrases, and humanize's NaturalTimeFormatter with its own phrases.
_PHRASES: dict[str | None, tuple[dict, type[NaturalTimeFormatter]]] = {}


def _phrases_for(language: str | None) -> tuple[dict, type[NaturalTimeFormatter]]:
    phrases = _PHRASES.get(language)
    if phrases is None:
        natural = {
            # string_for formats every phrase with % but "now", which it returns as it is.
            name: {key: lazy if key == "now" else _Phrase(lazy) for key, lazy in strings.items()}
            for name, strings in (
                ("time_strings", NaturalTimeFormatter.time_strings),
                ("past_substrings", NaturalTimeFormatter.past_substrings),
                ("future_substrings", NaturalTimeFormatter.future_substrings),
            )
        }
        phrases = _PHRASES[language] = (
            {key: _Phrase(lazy) for key, lazy in TIME_STRINGS.items()},
            type("PhraseNaturalTimeFormatter", (NaturalTimeFormatter,), natural),
        )
    return phrases


class PageTimes:
    """Django's `timesince` and humanize's `naturaltime` for one page: Django's own functions, given
    phrases ("3 days", "an hour ago") translated once per language and value instead of once per
    row; and the page's local times."""

    def __init__(self) -> None:
        self.timezone: tzinfo = timezone.get_current_timezone()
        self._since, self._natural = _phrases_for(translation.get_language())
        self._months: dict[int, str] = {}

    def since(self, d: datetime, now: datetime) -> str:
        """timesince(d, now)."""
        return timesince(d, now, time_strings=self._since)

    def natural(self, value: datetime) -> str:
        """naturaltime(value), as text."""
        return str(self._natural.string_for(value))

    def month_day_time(self, value: datetime | None) -> str:
        """dateformat.format(localtime(value), "M j, H:i"); "" for None."""
        if value is None:
            return ""
        local = value.astimezone(self.timezone)
        month = self._months.get(local.month)
        if month is None:
            month = self._months[local.month] = MONTHS_3[local.month].title()
        return f"{month} {local.day}, {local.hour:02d}:{local.minute:02d}"


class _Labels:
    """`get_<field>_display()` of a choices field, looked up once per page and value."""

    def __init__(self, model, name: str) -> None:
        self._choices = dict(model._meta.get_field(name).flatchoices)
        self._done: dict = {}

    def __call__(self, value) -> str:
        label = self._done.get(value)
        if label is None:
            label = self._done[value] = str(self._choices.get(value, value))
        return label


def queue_rows(page: QueuePage, *, lead_suffix: str) -> list[dict]:
    """The display values of `page`'s rows; `lead_suffix` (the queue's filters) goes on each lead link."""
    # One reverse for the page: every lead's URL differs only by its id.
    detail = reverse("leads:detail", args=[0]).replace("/0/", "/{}/")
    times = PageTimes()
    status_label = _Labels(Lead, "status")
    tier_label = _Labels(LeadRank, "tier")
    owners: dict[int, str] = {}
    rows = []
    for lead in page.leads:
        url = detail.format(lead.pk)
        rank = lead.rank_row()
        owner_id = lead.owner_id
        if owner_id is None:
            owner = ""
        else:
            owner = owners.get(owner_id)
            if owner is None:
                owner = owners[owner_id] = str(lead.owner)
        rows.append(
            {
                "pk": lead.pk,
                "overdue": lead.pk in page.overdue_ids,
                "name": lead.display_name,
                "company": lead.company,
                "url": url + lead_suffix,
                "email": lead.email,
                "phone": lead.phone,
                "log_email_url": f"{url}?log=email#log",
                "log_call_url": f"{url}?log=call#log",
                "score": lead.effective_score,
                "tier": rank.tier,
                "tier_label": tier_label(rank.tier),
                "reasons": [
                    ("up" if reason["impact"] >= 0 else "down", reason["text"]) for reason in lead.top_reasons()
                ],
                "status_label": status_label(lead.status),
                "owner": owner,
                "next_follow_up": times.month_day_time(lead.next_follow_up_at),
                "last_activity": times.natural(lead.last_activity_at) if lead.last_activity_at else "",
                "age": times.since(lead.created_at, page.now),
            }
        )
    return rows


def _esc(value) -> str:
    """conditional_escape(value) as text: a plain str escaped as django.utils.html.escape does
    (html.escape with quotes), anything else (safe strings, numbers, lazy text) by Django."""
    if type(value) is str:
        return html.escape(value)
    if type(value) is int:
        return str(value)
    return str(conditional_escape(value))


_MUTED_DASH = '<span class="muted">\u2013</span>'


def queue_rows_html(rows: list[dict]) -> SafeString:
    """The table rows of `rows` (queue_rows), in order."""
    return mark_safe("".join(map(_row_html, rows)))  # noqa: S308 (_row_html escapes each value)


def _row_html(row: dict) -> str:
    """One queue row (below 700 px a card: static/css/app.css, "Queue cards"). Every value from
    `row` goes through _esc; the optional parts are built escaped."""
    pk, name, url = _esc(row["pk"]), _esc(row["name"]), _esc(row["url"])
    overdue = row["overdue"]
    company = f'<br><small class="muted">{_esc(row["company"])}</small>' if row["company"] else ""
    email = _log_link("mailto", row["email"], row["log_email_url"], "Email", name)
    phone = _log_link("tel", row["phone"], row["log_call_url"], "Call", name)
    score = _MUTED_DASH if row["score"] is None else _esc(row["score"])
    reasons = (
        "".join(f'<span class="reason {_esc(way)}">{_esc(text)}</span>' for way, text in row["reasons"]) or _MUTED_DASH
    )
    owner = _esc(row["owner"]) if row["owner"] else "<em>pool</em>"
    if not row["next_follow_up"]:
        next_follow_up = _MUTED_DASH
    else:
        next_follow_up = _esc(row["next_follow_up"]) + (" <strong>overdue</strong>" if overdue else "")
    last_activity = _esc(row["last_activity"]) if row["last_activity"] else '<span class="muted">never</span>'
    return (
        f'\n<tr class="lead-row{" overdue" if overdue else ""}" data-lead="{pk}">\n'
        f'  <td class="c-name"><input type="checkbox" name="lead" value="{pk}" form="bulk-form" class="pick"'
        f' aria-label="Tick {name}"> <a href="{url}">{name}</a>{company}</td>\n'
        f'  <td class="c-contact">{email}{" · " if email and phone else ""}{phone}</td>\n'
        f'  <td class="score c-score">{score}</td>\n'
        f'  <td class="c-tier"><span class="tier tier-{_esc(row["tier"])}">{_esc(row["tier_label"])}</span></td>\n'
        f'  <td class="reasons">{reasons}</td>\n'
        f'  <td class="c-status">{_esc(row["status_label"])}</td>\n'
        f'  <td class="c-owner">{owner}</td>\n'
        f'  <td class="c-next{" late" if overdue else ""}"><span class="cell-label">Next follow-up: </span>'
        f"{next_follow_up}</td>\n"
        f'  <td class="c-last">{last_activity}</td>\n'
        f'  <td class="c-age">{_esc(row["age"])}</td>\n'
        f'  <td class="card-only c-action"><a href="{url}" role="button" class="small"'
        f' aria-label="Open {name}">Open</a></td>\n'
        "</tr>\n"
    )


def _log_link(scheme: str, address: str, log_url: str, action: str, name_html: str) -> str:
    """'Email' / 'Call' opening the mail or phone app and the lead's log form; "" without an address.
    `name_html` is the lead's name, escaped."""
    if not address:
        return ""
    return (
        f'<a href="{scheme}:{_esc(address)}" data-log-url="{_esc(log_url)}"'
        f' aria-label="{action} {name_html}">{action}</a>'
    )
