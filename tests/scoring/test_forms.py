import pytest

from scoring.forms import ModelVersionForm
from scoring.models import ModelVersion


@pytest.mark.django_db
def test_version_form_lists_versions():
    version = ModelVersion.objects.create(algorithm="logreg")
    form = ModelVersionForm({"version": str(version.pk)}, versions=[version])
    assert form.is_valid() and form.cleaned_data["version"] == version.pk
    assert not ModelVersionForm({"version": "999"}, versions=[version]).is_valid()
