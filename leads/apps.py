from django.apps import AppConfig


class LeadsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "leads"
    verbose_name = "Leads"

    def ready(self):
        from django.contrib.auth.signals import user_logged_in

        from leadcrm.sessions import session_mark_refreshed

        # Register the tasks in every process (web included): services send them by name, since
        # each tasks module imports its services and they cannot import it back. Connect the audit
        # trail's receivers (logins, lockouts, changes to users' roles).
        from leads import (
            audit_receivers,  # noqa: F401
            tasks,  # noqa: F401
        )
        from leads.importing import tasks as importing_tasks  # noqa: F401
        from leads.reports import tasks as reports_tasks  # noqa: F401

        # Every new session starts its idle timeout (leadcrm/sessions.py).
        user_logged_in.connect(session_mark_refreshed, dispatch_uid="leadcrm.sessions.mark_refreshed")
