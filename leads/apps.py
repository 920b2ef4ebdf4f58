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
            receivers,
            signals,
            tasks,  # noqa: F401
        )
        from leads.importing import tasks as importing_tasks  # noqa: F401
        from leads.reports import rollup_receivers
        from leads.reports import tasks as reports_tasks  # noqa: F401

        # Every new session starts its idle timeout (leadcrm/sessions.py).
        user_logged_in.connect(session_mark_refreshed, dispatch_uid="leadcrm.sessions.mark_refreshed")
        # New, imported and rescored leads may match a routing rule; finished imports tell admins.
        for name in ("leads_changed", "outcomes_imported", "leads_scored"):
            getattr(signals, name).connect(receivers.on_leads_changed, dispatch_uid=f"leads.routing.{name}")
        signals.import_finished.connect(receivers.on_import_finished, dispatch_uid="leads.on_import_finished")
        # Writes mark the reports' rollup days dirty (leads/reports/rollup_receivers.py).
        rollup_receivers.connect()
