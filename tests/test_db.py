import pytest
from django.db import connection, transaction

from leadcrm.db import commit_without_flush_wait


def _synchronous_commit() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        return cursor.fetchone()[0]


@pytest.mark.django_db(transaction=True)
def test_commit_without_flush_wait_applies_to_its_own_transaction_only(requires_postgres):
    with transaction.atomic():
        commit_without_flush_wait()
        assert _synchronous_commit() == "off"
    assert _synchronous_commit() == "on"
    commit_without_flush_wait()  # outside a transaction: does nothing (SET LOCAL would only warn)
    assert _synchronous_commit() == "on"
