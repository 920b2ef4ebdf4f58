import pytest
from django.core.exceptions import ValidationError

from leads.saved_views import saved_view_create, saved_view_delete, saved_views_for

pytestmark = pytest.mark.django_db


def test_two_users_may_use_the_same_name_and_each_sees_only_their_own(rep, other_rep):
    mine = saved_view_create(user=rep, name=" Hot ", query="tier=hot")
    saved_view_create(user=other_rep, name="Hot", query="tier=hot&source=Google")
    assert [(v.name, v.query) for v in saved_views_for(rep)] == [("Hot", "tier=hot")]
    assert mine.name == "Hot"
    assert [v.query for v in saved_views_for(other_rep)] == ["tier=hot&source=Google"]


@pytest.mark.parametrize("name, problem", [("", "Give the view a name."), ("a\u202eb", "U+202E")])
def test_a_blank_or_unsafe_name_is_refused_beside_the_field(rep, name, problem):
    with pytest.raises(ValidationError) as refused:
        saved_view_create(user=rep, name=name, query="")
    assert problem in refused.value.message_dict["name"][0]


def test_a_name_used_twice_by_one_user_is_refused(rep):
    saved_view_create(user=rep, name="Mine", query="")
    with pytest.raises(ValidationError) as refused:
        saved_view_create(user=rep, name="Mine", query="tier=hot")
    assert "already have a view named" in refused.value.message_dict["name"][0]
    assert len(saved_views_for(rep)) == 1


def test_only_the_owner_deletes_a_view(rep, other_rep):
    view = saved_view_create(user=rep, name="Mine", query="")
    assert saved_view_delete(user=other_rep, view_id=view.pk) is False
    assert saved_view_delete(user=rep, view_id=view.pk) is True
    assert saved_views_for(rep) == []
