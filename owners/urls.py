from django.urls import path

from owners import views

urlpatterns = [
    path("me/", views.owner_home, name="owner_home"),
    path("me/password/", views.owner_password_change, name="owner_password_change"),
]
