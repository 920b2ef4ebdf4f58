from django.urls import path

from leads import lead_form_views, notification_views, privacy_views, team_views, views

app_name = "leads"

urlpatterns = [
    path("", views.queue, name="queue"),
    path("count/", views.queue_count, name="queue_count"),
    path("claim/", views.claim_next, name="claim_next"),
    path("bulk/", views.queue_bulk, name="bulk"),
    path("views/", views.saved_view_create, name="saved_view_create"),
    path("views/<int:pk>/delete/", views.saved_view_delete, name="saved_view_delete"),
    path("leads/<int:pk>/", views.lead_detail, name="detail"),
    path("leads/<int:pk>/claim/", views.lead_claim, name="claim"),
    path("leads/<int:pk>/activities/", views.activity_create, name="activity_create"),
    path("leads/<int:pk>/follow-ups/", views.follow_up_create, name="follow_up_create"),
    path("leads/<int:pk>/follow-ups/<int:follow_up_pk>/done/", views.follow_up_done, name="follow_up_done"),
    path("leads/<int:pk>/status/", views.status_change, name="status_change"),
    path("leads/<int:pk>/assign/", views.assign, name="assign"),
    path("leads/<int:pk>/personal-data/", privacy_views.person_data_download, name="person_data"),
    path("leads/<int:pk>/erase/", privacy_views.person_erase, name="person_erase"),
    # --- the sales team's day (issue 16) ---
    path("leads/new/", lead_form_views.lead_new, name="new"),
    path("leads/<int:pk>/edit/", lead_form_views.lead_edit, name="edit"),
    path("leads/<int:pk>/merge/", lead_form_views.lead_merge, name="merge"),
    path("me/", team_views.me, name="me"),
    path("notifications/", notification_views.notification_list, name="notifications"),
    path("notifications/badge/", notification_views.notification_badge, name="notification_badge"),
    path("notifications/read-all/", notification_views.notification_read_all, name="notifications_read_all"),
    path("notifications/settings/", notification_views.notification_preferences, name="notification_preferences"),
    path("notifications/<int:pk>/open/", notification_views.notification_open, name="notification_open"),
    path("users/", team_views.user_list, name="users"),
    path("users/new/", team_views.user_create, name="user_create"),
    path("users/<int:pk>/", team_views.user_edit, name="user_edit"),
    path("users/<int:pk>/deactivate/", team_views.user_deactivate, name="user_deactivate"),
    path("users/<int:pk>/reactivate/", team_views.user_reactivate, name="user_reactivate"),
    path("routing/", team_views.routing_rules, name="routing"),
]
