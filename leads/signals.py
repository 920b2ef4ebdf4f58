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


# Data protection (leads.privacy). `person_data_requested` is sent with `lead` when an admin exports
# one person's data; a receiver returns {section name: JSON-ready data} (scoring adds the score
# history). `person_erased` is sent with `lead_ids` inside the erasure's transaction; a receiver
# clears the free text it keeps about those leads (scoring: override reasons in the score history).
person_data_requested = Signal()
person_erased = Signal()


def person_data_sections(lead) -> dict:
    sections: dict = {}
    for _receiver, contributed in person_data_requested.send(sender=None, lead=lead):
        sections.update(contributed or {})
    return sections


def person_erased_send(lead_ids: list[int]) -> None:
    if lead_ids:
        person_erased.send(sender=None, lead_ids=list(lead_ids))


# The import wizard asks how well each column of a file's sample alone predicts the sample's
# outcomes, to hint at columns that leak the outcome. Keyword arguments: columns ({column:
# (kind, values)}, kind one of number/boolean/date/text, values parsed: float, bool, str or None)
# and outcomes (list[int], 1 converted / 0 lost, aligned with the values). A receiver returns
# {column: ROC AUC}; scoring answers with its leak check's single-column AUC.
columns_leak_check = Signal()


def columns_leak_check_send(*, columns: dict[str, tuple[str, list]], outcomes: list[int]) -> dict[str, float]:
    answers: dict[str, float] = {}
    for _receiver, response in columns_leak_check.send(sender=None, columns=columns, outcomes=outcomes):
        if isinstance(response, dict):
            answers.update(response)
    return answers


def leads_scored_send(lead_ids: list[int]) -> None:
    if lead_ids:
        leads_scored.send(sender=None, lead_ids=list(lead_ids))


def import_finished_send(job) -> None:
    import_finished.send(sender=None, job=job)
