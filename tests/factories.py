import factory
from django.utils import timezone

from leads.models import Activity, FollowUp, Lead, User


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.com")
    role = User.Role.REP
    password = factory.django.Password("pw")


class RepFactory(UserFactory):
    role = User.Role.REP


class ManagerFactory(UserFactory):
    role = User.Role.MANAGER


class AdminFactory(UserFactory):
    role = User.Role.ADMIN
    is_staff = True
    is_superuser = True


class LeadFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Lead

    name = factory.Sequence(lambda n: f"Lead {n}")
    email = factory.Sequence(lambda n: f"lead{n}@example.com")
    company = "Acme"
    source = "Google"
    origin = "Landing Page"
    status = Lead.Status.NEW
    created_at = factory.LazyFunction(timezone.now)


class ActivityFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Activity

    lead = factory.SubFactory(LeadFactory)
    kind = Activity.Kind.CALL
    occurred_at = factory.LazyFunction(timezone.now)


class FollowUpFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = FollowUp

    lead = factory.SubFactory(LeadFactory)
    due_at = factory.LazyFunction(lambda: timezone.now() + timezone.timedelta(days=1))
