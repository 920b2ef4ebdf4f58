"""Confirm before a big change: one server-rendered page, no JavaScript.

The pattern for any action that changes many rows (activate or roll back a model, retrain, a
bulk change): the view answers GET with `confirm_page(...)`, which says what will happen in
numbers ("Rescores 9,240 leads with v3.") and posts the same URL; the view acts on POST. The
button on the page before is a link to the GET. Hidden `fields` carry what was chosen (the ids
of a bulk selection, a reason) to the POST.

    @require_http_methods(["GET", "POST"])
    def activate(request, pk):
        version = get_object_or_404(ModelVersion, pk=pk)
        if request.method == "GET":
            return confirm_page(request, title=f"Activate model v{pk}?",
                                what_happens=[f"Rescores {count:,} leads with v{pk}."],
                                submit_label=f"Activate v{pk}", cancel_url=...)
        ...
"""

from collections.abc import Iterable, Mapping

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def confirm_page(
    request: HttpRequest,
    *,
    title: str,
    what_happens: Iterable[str],
    submit_label: str,
    cancel_url: str,
    action_url: str | None = None,
    fields: Mapping[str, object] | None = None,
    danger: bool = False,
) -> HttpResponse:
    """The confirmation page for the action at `action_url` (default: this URL)."""
    context = {
        "title": title,
        "what_happens": list(what_happens),
        "submit_label": submit_label,
        "cancel_url": cancel_url,
        "action_url": action_url or request.path,
        "fields": dict(fields or {}),
        "danger": danger,
    }
    return render(request, "confirm.html", context)
