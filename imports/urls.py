from django.urls import path

from imports import views

urlpatterns = [
    path("domains/<int:domain_id>/import/", views.import_page, name="import_page"),
    path("domains/<int:domain_id>/import/template.csv", views.import_template,
         name="import_template"),
    path("domains/<int:domain_id>/import/<uuid:upload_id>/", views.import_preview,
         name="import_preview"),
    path("domains/<int:domain_id>/import/<uuid:upload_id>/start/", views.import_begin,
         name="import_begin"),
]  # fmt: skip
