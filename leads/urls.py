from django.urls import path

from leads import privacy_views, views

app_name = "leads"

urlpatterns = [
    path("", views.queue, name="queue"),
    path("claim/", views.claim_next, name="claim_next"),
    path("leads/<int:pk>/", views.lead_detail, name="detail"),
    path("leads/<int:pk>/claim/", views.lead_claim, name="claim"),
    path("leads/<int:pk>/activities/", views.activity_create, name="activity_create"),
    path("leads/<int:pk>/follow-ups/", views.follow_up_create, name="follow_up_create"),
    path("leads/<int:pk>/follow-ups/<int:follow_up_pk>/done/", views.follow_up_done, name="follow_up_done"),
    path("leads/<int:pk>/status/", views.status_change, name="status_change"),
    path("leads/<int:pk>/assign/", views.assign, name="assign"),
    path("leads/<int:pk>/personal-data/", privacy_views.person_data_download, name="person_data"),
    path("leads/<int:pk>/erase/", privacy_views.person_erase, name="person_erase"),
]
