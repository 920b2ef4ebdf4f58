"""API for the data-protection duties on one lead (admins): the person's data as JSON, erasure."""

from django.shortcuts import get_object_or_404
from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from leads import privacy
from leads.models import Lead
from leads.permissions import IsCrmAdmin
from leads.serializers import LeadSerializer


class PersonDataView(APIView):
    permission_classes = [IsAuthenticated, IsCrmAdmin]

    @extend_schema(
        summary="Everything stored about a lead's person: the lead, activities, follow-ups, score history (admins)",
        description="Answers a data-subject access request. The export is recorded in the audit trail.",
        responses={200: OpenApiTypes.OBJECT},
        tags=["privacy"],
    )
    def get(self, request, pk: int):
        lead = get_object_or_404(Lead, pk=pk)
        return Response(privacy.person_data_export(lead=lead, by=request.user))


class PersonEraseView(APIView):
    permission_classes = [IsAuthenticated, IsCrmAdmin]

    @extend_schema(
        summary="Erase a lead's personal data, keeping its outcome and history (admins)",
        description="Removes name, email, phone, company, external id, notes and every text attribute; keeps "
        "status, outcome, source, origin, numeric attributes, scores and the activity history, so reports and "
        "models stay correct. Cannot be undone; erasing again is a no-op. Recorded in the audit trail.",
        request=None,
        responses={200: LeadSerializer},
        tags=["privacy"],
    )
    def post(self, request, pk: int):
        lead = get_object_or_404(Lead, pk=pk)
        lead = privacy.person_erase(lead=lead, by=request.user)
        return Response(LeadSerializer(lead, context={"request": request}).data)


urlpatterns = [
    path("leads/<int:pk>/personal-data/", PersonDataView.as_view(), name="api-lead-person-data"),
    path("leads/<int:pk>/erase/", PersonEraseView.as_view(), name="api-lead-erase"),
]
