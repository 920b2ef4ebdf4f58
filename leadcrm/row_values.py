"""SQL row values, `(a, b)`, for keyset pagination.

`(key, id) < (k, i)` as one row comparison is a single index range bound on PostgreSQL
(an Index Cond on a (key, id) b-tree); written out as `key < k OR (key = k AND id < i)` it
is not, and a deep page filters every row before it. SQLite (3.15+) compares row values too.
The work queue (leads.selectors) and the API's cursor pagination (leadcrm.api_pagination) use it.
"""

from django.db import models
from django.db.models import F, Func, QuerySet, Value


class Row(Func):
    """A SQL row value, `(a, b)`; compare two with a lookup on an alias (`k__lt=Row(...)`)."""

    function = ""
    template = "(%(expressions)s)"


def keyset_after(
    queryset: QuerySet,
    *,
    key: str,
    key_value,
    pk_value,
    descending: bool,
    output_field: models.Field,
    pk: str = "pk",
) -> QuerySet:
    """The rows after (key_value, pk_value) in `(key, pk)` order, as one row comparison:
    `(key, id) < (k, i)` when descending, `>` when ascending. `key` is NOT NULL. `pk`: the id's
    column when the index walked is a related table's (`rank__lead_id` for LeadRank's)."""
    lookup = "lt" if descending else "gt"
    return queryset.alias(_keyset=Row(F(key), F(pk), output_field=output_field)).filter(
        **{f"_keyset__{lookup}": Row(Value(key_value), Value(pk_value), output_field=output_field)}
    )
