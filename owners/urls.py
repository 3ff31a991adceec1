from django.urls import path

from owners import views

urlpatterns = [
    path("me/", views.owner_home, name="owner_home"),
    path("me/password/", views.owner_password_change, name="owner_password_change"),
    path("me/autoresponder/", views.owner_autoresponder, name="owner_autoresponder"),
    path("me/forwarding/", views.owner_forwarding, name="owner_forwarding"),
    path("me/webmail/", views.owner_webmail, name="owner_webmail"),
]
