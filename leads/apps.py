from django.apps import AppConfig


class LeadsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "leads"
    verbose_name = "Leads"

    def ready(self):
        # Register the tasks in every process (web included): services send them by name, since
        # each tasks module imports its services and they cannot import it back.
        # New, imported and rescored leads may match a routing rule; finished imports tell admins.
        from leads import (
            receivers,
            signals,
            tasks,  # noqa: F401
        )
        from leads.importing import tasks as importing_tasks  # noqa: F401
        from leads.reports import tasks as reports_tasks  # noqa: F401

        for name in ("leads_changed", "outcomes_imported", "leads_scored"):
            getattr(signals, name).connect(receivers.on_leads_changed, dispatch_uid=f"leads.routing.{name}")
        signals.import_finished.connect(receivers.on_import_finished, dispatch_uid="leads.on_import_finished")
