from django.urls import path

from . import views

urlpatterns = [
    path("guide/", views.index, name="guide"),
    path("guide/<slug:section>/", views.section_page, name="guide_section"),
]
