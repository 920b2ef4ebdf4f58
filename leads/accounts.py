"""Users as admins manage them on the users page: create (and invite), change role and capacity,
deactivate (their open leads go back to the pool or to a chosen rep in the same transaction)."""

from django.contrib.auth.forms import PasswordResetForm
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from leads.models import Activity, Lead, User
from leads.reports.rollups import rollups_mark_leads


def _require_admin(by: User) -> None:
    if not by.is_crm_admin:
        raise PermissionDenied("Only admins manage users.")


@transaction.atomic
def user_create(
    *,
    by: User,
    username: str,
    email: str,
    first_name: str = "",
    last_name: str = "",
    role: str = User.Role.REP,
    capacity: int = 50,
) -> User:
    """A new user with no usable password: they choose one through the invitation (a reset link)."""
    _require_admin(by)
    if User.objects.filter(username__iexact=username).exists():
        raise ValidationError({"username": "That username is taken."})
    user = User(
        username=username,
        email=email,
        first_name=first_name,
        last_name=last_name,
        role=role,
        capacity=capacity,
        is_staff=role == User.Role.ADMIN,
    )
    user.set_unusable_password()
    user.full_clean(exclude=["password"])
    user.save()
    return user


def user_invite(*, user: User, request: HttpRequest) -> None:
    """Email `user` a link to choose their password: Django's password-reset confirm page with a
    reset token. (Sent directly: PasswordResetForm skips users who have no usable password yet.)"""
    context = {
        "email": user.email,
        "domain": request.get_host(),
        "site_name": "LeadCRM",
        "uid": urlsafe_base64_encode(force_bytes(user.pk)),
        "user": user,
        "token": default_token_generator.make_token(user),
        "protocol": "https" if request.is_secure() else "http",
        "invited_by": request.user,
    }
    PasswordResetForm().send_mail(
        "registration/invite_subject.txt", "registration/invite_email.txt", context, None, user.email
    )


@transaction.atomic
def user_update(*, by: User, user: User, role: str, capacity: int, email: str, first_name: str, last_name: str) -> User:
    _require_admin(by)
    if user.pk == by.pk and role != User.Role.ADMIN:
        raise ValidationError({"role": "You cannot take away your own admin role."})
    user.role, user.capacity, user.email = role, capacity, email
    user.first_name, user.last_name = first_name, last_name
    user.is_staff = role == User.Role.ADMIN or user.is_superuser
    user.full_clean(exclude=["password"])
    user.save(update_fields=["role", "capacity", "email", "first_name", "last_name", "is_staff"])
    return user


@transaction.atomic
def user_deactivate(*, by: User, user: User, reassign_to: User | None = None) -> int:
    """Deactivate `user` and hand their open leads to `reassign_to` (None: the pool), with a
    timeline entry on each, in one transaction. Returns how many leads moved."""
    _require_admin(by)
    if user.pk == by.pk:
        raise ValidationError("You cannot deactivate yourself.")
    if reassign_to is not None and (not reassign_to.is_active or reassign_to.pk == user.pk):
        raise ValidationError({"reassign_to": "Choose another active user, or the pool."})
    User.objects.filter(pk=user.pk).update(is_active=False)
    user.is_active = False
    now = timezone.now()
    lead_ids = list(
        Lead.objects.select_for_update()
        .filter(owner=user, status__in=Lead.OPEN_STATUSES)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    Lead.objects.filter(pk__in=lead_ids).update(owner=reassign_to, updated_at=now)
    rollups_mark_leads(lead_ids)  # the reports' per-owner rollups
    target = str(reassign_to) if reassign_to else "the pool"
    Activity.objects.bulk_create(
        [
            Activity(
                lead_id=pk,
                user=by,
                kind=Activity.Kind.STATUS_CHANGE,
                outcome="assigned",
                occurred_at=now,
                notes=f"{user} was deactivated: lead moved to {target}",
                data={"from_owner": user.pk, "to_owner": getattr(reassign_to, "pk", None)},
            )
            for pk in lead_ids
        ],
        batch_size=2000,
    )
    return len(lead_ids)


@transaction.atomic
def user_reactivate(*, by: User, user: User) -> User:
    _require_admin(by)
    User.objects.filter(pk=user.pk).update(is_active=True)
    user.is_active = True
    return user
