"""Saved views: a user's named queue filters. Private to their owner: every read and write here
is cut to `user`, so another user's view is never listed, opened or deleted (a 404 in the pages)."""

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from leads.models import SavedView, User
from leads.text import text_problem

SAVED_VIEWS_MAX = 50


def saved_views_for(user: User) -> list[SavedView]:
    return list(SavedView.objects.filter(user=user).order_by("name", "id")[:SAVED_VIEWS_MAX])


@transaction.atomic
def saved_view_create(*, user: User, name: str, query: str) -> SavedView:
    """Save `query` (the queue's filters, already reduced to filter names) as `name`; a name the
    user already has is refused beside the field."""
    name = name.strip()
    if not name:
        raise ValidationError({"name": "Give the view a name."})
    if problem := text_problem(name):
        raise ValidationError({"name": problem})
    if SavedView.objects.filter(user=user).count() >= SAVED_VIEWS_MAX:
        raise ValidationError({"name": f"You have {SAVED_VIEWS_MAX} saved views; delete one first."})
    view = SavedView(user=user, name=name, query=query)
    view.full_clean(exclude=["user"], validate_constraints=False)
    try:
        with transaction.atomic():
            view.save()
    except IntegrityError:
        raise ValidationError({"name": f"You already have a view named “{name}”."}) from None
    return view


@transaction.atomic
def saved_view_delete(*, user: User, view_id: int) -> bool:
    """Delete one of `user`'s views; False when they have no such view (someone else's included)."""
    deleted, _ = SavedView.objects.filter(pk=view_id, user=user).delete()
    return bool(deleted)
