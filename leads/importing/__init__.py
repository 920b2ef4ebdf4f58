"""The import pipeline behind every door (the pages, the API, the admin and `import_leads`):
profiles (mapping specs), readers (CSV/XLSX), validation (pass 1, per-row errors), writer
(chunked writes, COPY on PostgreSQL), services (jobs: create, dispatch, run, resume), retention
(stored uploads), downloads (the errors CSV), tasks (Celery), views/api (doors).

May import leadcrm and leads' models, matching and signals; services send the tasks by name.
"""
