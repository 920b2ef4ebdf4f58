"""The CRM: users and roles, leads, activities, follow-ups, imports and the managers' reports.

May import leadcrm (settings, plumbing) and django/DRF. Never imports scoring (import-linter's
layers contract in `make lint` fails the build if it does): when leads change it sends the
signals in leads/signals.py, and scoring's receivers act on them. The score scoring writes lives
in `LeadRank` (one narrow row per lead, read through `Lead.score`, `Lead.tier`, ...);
`LeadRank.model_version` is a foreign key to `scoring.ModelVersion` by string reference, the one
place the CRM's schema names the model. The CRM reads the score fields, never scoring's code.

Rooms: models (with single-row behaviour), services (writes), selectors (reads), matching (how
rows find leads), bulk (bulk upsert), signals (the seam), permissions (role checks for pages and
API), views/forms (pages), api/serializers/filters (API v1), admin/resources (Django admin),
importing/ (the import pipeline), reports/ (managers' reports), demo (the demo data).
"""
