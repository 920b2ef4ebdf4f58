"""The API's filter backend: django-filter, except that a filter given blank (`?owner=`) is a 400.

django-filter reads a blank value as "no filter", but the schema documents each parameter with a
format or pattern a blank value does not meet; leaving the parameter out is how not to filter.
"""

from django_filters.rest_framework import DjangoFilterBackend
from rest_framework.exceptions import ValidationError


class StrictFilterBackend(DjangoFilterBackend):
    def filter_queryset(self, request, queryset, view):
        filterset = self.get_filterset(request, queryset, view)
        if filterset is not None:
            blank = sorted(
                name
                for name in _parameter_names(filterset)
                if any(value == "" for value in request.query_params.getlist(name))
            )
            if blank:
                raise ValidationError(
                    {name: ["May not be blank: leave the parameter out to not filter."] for name in blank}
                )
        return super().filter_queryset(request, queryset, view)


def _parameter_names(filterset):
    for name, field in filterset.form.fields.items():
        suffixes = getattr(field.widget, "suffixes", None)
        if suffixes:
            yield from (f"{name}_{suffix}" if suffix else name for suffix in suffixes)
        else:
            yield name
