"""Database helpers shared by the bulk writers (imports, rescoring)."""

from django.db import connection


def commit_without_flush_wait() -> None:
    """Let the current transaction's commit return before its WAL reaches the disk
    (PostgreSQL's synchronous_commit=off, this transaction only; nothing elsewhere).

    For chunked bulk work that records its own position in the same transaction: a server crash
    can lose the last chunks committed before it, never part of one, and the job resumes after
    what the database kept. Everything committed normally afterwards flushes these commits too."""
    if connection.vendor == "postgresql" and connection.in_atomic_block:
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit = off")
