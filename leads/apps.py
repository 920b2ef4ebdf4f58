from django.apps import AppConfig


class LeadsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "leads"
    verbose_name = "Leads"

    def ready(self):
        # Register the tasks in every process (web included): services send them by name, since
        # each tasks module imports its services and they cannot import it back.
        from leads import tasks  # noqa: F401
        from leads.importing import tasks as importing_tasks  # noqa: F401
        from leads.reports import tasks as reports_tasks  # noqa: F401
