"""The accounts, owner and documentation routes of /api/v1/ (domains: api/urls.py). Every
route here is described in api/openapi.py (tests/test_api_schema.py checks it)."""

from django.urls import path

from api import docs_views, v1_accounts, v1_me

ACCOUNT = "api/v1/domains/<str:domain_name>/accounts/<str:local_part>"

urlpatterns = [
    path("api/v1/openapi.json", docs_views.openapi_json, name="api_openapi"),
    path("api/v1/docs", docs_views.docs, name="api_docs"),
    path(
        "api/v1/domains/<str:domain_name>/accounts",
        v1_accounts.account_collection,
        name="api_account_collection",
    ),
    path(ACCOUNT, v1_accounts.account_detail, name="api_account_detail"),
    path(f"{ACCOUNT}/deactivate", v1_accounts.account_deactivate, name="api_account_deactivate"),
    path(f"{ACCOUNT}/reactivate", v1_accounts.account_reactivate, name="api_account_reactivate"),
    path(f"{ACCOUNT}/password", v1_accounts.account_password, name="api_account_password"),
    path(f"{ACCOUNT}/forwarding", v1_accounts.account_forwarding, name="api_account_forwarding"),
    path(
        f"{ACCOUNT}/autoresponder",
        v1_accounts.account_autoresponder,
        name="api_account_autoresponder",
    ),
    path(f"{ACCOUNT}/usage", v1_accounts.account_usage, name="api_account_usage"),
    path(
        f"{ACCOUNT}/provisioning",
        v1_accounts.account_provisioning,
        name="api_account_provisioning",
    ),
    path("api/v1/me", v1_me.me, name="api_me"),
    path("api/v1/me/usage", v1_me.me_usage, name="api_me_usage"),
    path("api/v1/me/forwarding", v1_me.me_forwarding, name="api_me_forwarding"),
    path("api/v1/me/autoresponder", v1_me.me_autoresponder, name="api_me_autoresponder"),
]
