from django.urls import path

from api import page_views

urlpatterns = [
    path(
        "organizations/<int:organization_id>/api-keys/",
        page_views.organization_keys,
        name="api_keys_organization",
    ),
    path(
        "organizations/<int:organization_id>/api-keys/new/",
        page_views.organization_key_create,
        name="api_key_create",
    ),
    path(
        "organizations/<int:organization_id>/api-keys/<int:key_id>/revoke/",
        page_views.organization_key_revoke,
        name="api_key_revoke",
    ),
    path("me/api-keys/", page_views.owner_keys, name="api_keys_owner"),
    path(
        "me/api-keys/<int:personal_key_id>/revoke/",
        page_views.owner_key_revoke,
        name="api_key_revoke_owner",
    ),
]
