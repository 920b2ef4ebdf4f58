"""Reads about models and scores, shared by pages and the API."""


def queue_banner() -> str | None:
    """A notice for the top of the work queue (e.g. cold start), or None."""
    return None
