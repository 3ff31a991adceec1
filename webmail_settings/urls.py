from django.urls import URLPattern, URLResolver, include, path

from webmail_settings import api_views, owner_views

IDENTITY = "me/identities/<int:identity_id>/"
SIGNATURE = IDENTITY + "signatures/<int:signature_id>/"

urlpatterns: list[URLPattern | URLResolver] = [
    path("me/identities/", owner_views.identity_list, name="identity_list"),
    path("me/identities/new/", owner_views.identity_create, name="identity_create"),
    path(IDENTITY, owner_views.identity_edit, name="identity_edit"),
    path(IDENTITY + "delete/", owner_views.identity_delete, name="identity_delete"),
    path(IDENTITY + "signatures/new/", owner_views.signature_create, name="signature_create"),
    path(SIGNATURE, owner_views.signature_edit, name="signature_edit"),
    path(SIGNATURE + "default/", owner_views.signature_set_default, name="signature_set_default"),
    path(SIGNATURE + "delete/", owner_views.signature_delete, name="signature_delete"),
    path("api/webmail/v1/me", api_views.me, name="webmail_api_me"),
    path("api/webmail/v1/openapi.json", api_views.openapi, name="webmail_api_openapi"),
]
# The domain admin's corporate signatures and the accounts' contact details.
urlpatterns.append(path("", include("webmail_settings.template_urls")))
