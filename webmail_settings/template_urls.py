from django.urls import path

from webmail_settings import owner_views, template_views

TEMPLATE = "domains/<int:domain_id>/signatures/<int:template_id>/"

urlpatterns = [
    path(
        "domains/<int:domain_id>/signatures/",
        template_views.signature_template_list,
        name="signature_template_list",
    ),
    path(
        "domains/<int:domain_id>/signatures/new/",
        template_views.signature_template_create,
        name="signature_template_create",
    ),
    path(TEMPLATE, template_views.signature_template_edit, name="signature_template_edit"),
    path(
        TEMPLATE + "delete/",
        template_views.signature_template_delete,
        name="signature_template_delete",
    ),
    path(
        "accounts/<int:mailbox_id>/contact/",
        template_views.mailbox_contact_details,
        name="mailbox_contact_details",
    ),
    path("me/contact/", owner_views.owner_contact_details, name="owner_contact_details"),
]
