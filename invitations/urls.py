from __future__ import annotations

from django.urls import URLPattern, path

from invitations import views

urlpatterns: list[URLPattern] = [
    path("domains/<int:domain_id>/addresses/new/", views.address_create, name="address_create"),
    path(
        "domains/<int:domain_id>/addresses/generic/",
        views.generic_address,
        name="generic_address",
    ),
    path("domains/<int:domain_id>/invitations/", views.invitation_list, name="invitation_list"),
    path("domains/<int:domain_id>/invitations/new/", views.invitation_new, name="invitation_new"),
    path(
        "invitations/<int:invitation_id>/resend/",
        views.invitation_resend_view,
        name="invitation_resend",
    ),
    path(
        "invitations/<int:invitation_id>/revoke/",
        views.invitation_revoke_view,
        name="invitation_revoke",
    ),
    # Public: the token is the credential (see invitations.selectors).
    path("invite/<str:invite_token>/", views.invitation_accept_view, name="invitation_accept"),
]
