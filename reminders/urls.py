from django.urls import path

from . import views

urlpatterns = [
    path("actions/", views.open_actions, name="open_actions"),
    path("actions/count/", views.open_action_count, name="open_action_count"),
    path("actions/reminders/", views.preferences, name="reminder_preferences"),
]
