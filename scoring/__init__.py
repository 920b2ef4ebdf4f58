"""The lead-scoring model: features, training, stored model versions, scores on leads, and the
pages and API about them.

May import leadcrm and leads (it reads the CRM). leads never imports scoring: the CRM tells the
model about changes through signals that scoring/apps.py connects. Rooms: selectors (reads),
rescoring, score_store, activation, retraining, training_runs, overrides (writes); features,
training, challenger, scorer, registry (the model itself); tasks, views, api (doors).
"""
