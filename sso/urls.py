from django.urls import path

from . import views

urlpatterns = [
    path("oidc/authenticate/", views.Authenticate.as_view(), name="oidc_authentication_init"),
    path("oidc/callback/", views.Callback.as_view(), name="oidc_authentication_callback"),
]
