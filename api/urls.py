from django.urls import path

from api import views

urlpatterns = [
    path("api/v1/domains", views.domain_list, name="api_domain_list"),
    path("api/v1/domains/<str:domain_name>", views.domain_detail, name="api_domain_detail"),
]
