"""What the CRM tells the rest of the system. The seam between `leads` and `scoring`.

`leads` never imports `scoring`: when leads change, the CRM sends one of these signals and
scoring's receivers (connected in `scoring/apps.py`) decide what to do (debounced, on-commit
rescore and retrain requests). Senders call them after their writes, inside the transaction;
receivers that dispatch work do so on commit.
"""

from django.dispatch import Signal

# Leads were created or changed in a way that can change their score.
# Keyword arguments: lead_ids (list[int]).
leads_changed = Signal()

# An import (file, admin or API) finished writing. Keyword arguments: lead_ids (list[int], every
# lead it created or changed) and new_outcomes (int, how many leads it closed as converted/lost).
outcomes_imported = Signal()

# Scoring stored new scores for these leads (their tier or priority may have changed, which
# routing rules read). Keyword arguments: lead_ids (list[int]). Sent by scoring, received by leads.
leads_scored = Signal()

# An import job ended (succeeded or failed; dry runs too). Keyword arguments: job (ImportJob).
import_finished = Signal()


def leads_changed_send(lead_ids: list[int]) -> None:
    if lead_ids:
        leads_changed.send(sender=None, lead_ids=list(lead_ids))


def outcomes_imported_send(*, lead_ids: list[int], new_outcomes: int) -> None:
    outcomes_imported.send(sender=None, lead_ids=list(lead_ids), new_outcomes=new_outcomes)


def leads_scored_send(lead_ids: list[int]) -> None:
    if lead_ids:
        leads_scored.send(sender=None, lead_ids=list(lead_ids))


def import_finished_send(job) -> None:
    import_finished.send(sender=None, job=job)
