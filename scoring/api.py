"""API endpoints (filled in by the owning feature)."""

urlpatterns: list = []
