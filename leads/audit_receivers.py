"""Audit entries for what happens outside a service: logins, lockouts and changes to users.

Connected when imported (leads.apps.LeadsConfig.ready). Role and capacity changes are caught on
the model, so every door (the admin, a users page, the shell) is recorded, with the request's
user as the actor when there is one.
"""

from axes.signals import user_locked_out
from django.contrib.auth.signals import user_logged_in
from django.db.models.signals import post_save, pre_save
from django.dispatch import receiver

from leads import audit
from leads.models import User

# Fields of a user whose change is audited (capacity when the model has it).
AUDITED_USER_FIELDS = ("role", "capacity", "is_active", "is_staff", "is_superuser")


@receiver(user_logged_in, dispatch_uid="leads.audit.login")
def _on_login(sender, request, user, **kwargs):
    via = "api_token" if request is not None and request.path.startswith("/api/") else "session"
    audit.audit_record(audit.LOGIN, actor=user, target=user, request=request, details={"via": via})


@receiver(user_locked_out, dispatch_uid="leads.audit.lockout")
def _on_lockout(sender, request, username, ip_address, **kwargs):
    user = User.objects.filter(username=username).first() if username else None
    audit.audit_record(
        audit.LOCKOUT,
        actor=None,
        target=user,
        request=request,
        ip_address=ip_address,
        details={"username": username or "", "path": getattr(request, "path", "")},
    )


def _audited_values(user: User) -> dict:
    return {name: getattr(user, name) for name in AUDITED_USER_FIELDS if hasattr(user, name)}


@receiver(pre_save, sender=User, dispatch_uid="leads.audit.user_before")
def _remember_user_before(sender, instance: User, raw=False, update_fields=None, **kwargs):
    if raw or instance.pk is None:
        return
    if update_fields is not None and not set(update_fields) & set(AUDITED_USER_FIELDS):
        return  # e.g. last_login on every login: nothing audited changes
    before = User.objects.filter(pk=instance.pk).first()
    instance._audit_before = _audited_values(before) if before is not None else None


@receiver(post_save, sender=User, dispatch_uid="leads.audit.user_after")
def _record_user_change(sender, instance: User, created=False, raw=False, **kwargs):
    if raw:
        return
    before = instance.__dict__.pop("_audit_before", None)
    after = _audited_values(instance)
    if created:
        audit.audit_record(audit.USER_CHANGED, target=instance, details={"created": True, "to": after})
        return
    if before is None:
        return
    changed = {name: {"from": before[name], "to": after[name]} for name in after if before.get(name) != after[name]}
    if changed:
        audit.audit_record(audit.USER_CHANGED, target=instance, details={"changes": changed})
