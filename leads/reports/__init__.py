"""Manager reports on the CRM's own data: dashboard, conversion, funnel, rep discipline.

This room holds the report queries over the leads (selectors.py), the rollup tables of the leads
that computed reports read instead (rollup_models.py; rebuilt by rollups.py, marked dirty by
rollup_receivers.py, read by rollup_reads.py), their cached summaries and the beat tasks that keep
them warm (summaries.py, tasks.py), the page builders and views (pages.py,
views.py), and the generic report plumbing other apps reuse: ReportFilters, the work_mem
transaction, outcome counts and rates, Table/Column and CSV (tables.py), SVG charts
(charts.py), the summaries' cache and the dashboard_headline_rows signal (signals.py).

It may import leadcrm and the rest of leads. It never imports scoring: the model-quality and
drift pages live in scoring (scoring/quality.py, scoring/drift.py, scoring/report_*.py) and
reuse this plumbing, and the model facts on CRM report pages come from scoring's template tags
(scoring/templatetags/scoring_tags.py) and its dashboard_headline_rows receiver.
"""
