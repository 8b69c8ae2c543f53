"""/catalogue/: the checklist catalogue as code (reviews.views.catalogue)."""

from django.urls import path

from ..views import catalogue as views

urlpatterns = [
    path("catalogue/", views.catalogue, name="catalogue"),
    path("catalogue/schema.json", views.catalogue_schema, name="catalogue_schema"),
    path("catalogue/import/", views.catalogue_import, name="catalogue_import"),
    path("catalogue/diff/", views.catalogue_diff, name="catalogue_diff"),
    path("catalogue/v<int:number>.yaml", views.catalogue_export, name="catalogue_export"),
    path("catalogue/v<int:number>/publish/", views.catalogue_publish, name="catalogue_publish"),
]
