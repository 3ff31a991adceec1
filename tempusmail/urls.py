from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from domains import views as domain_views
from mailboxes import views as mailbox_views
from organizations import views as organization_views
from security import login_views, password_views, reauth_views

urlpatterns = [
    path("", organization_views.home, name="home"),
    path("login/", login_views.login_view, name="login"),
    path("login/code/", login_views.login_code, name="login_code"),
    path("reauth/", reauth_views.reauth_view, name="reauth"),
    path("password/", password_views.password_change, name="panel_password_change"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("organizations/", organization_views.organization_list, name="organization_list"),
    path(
        "organizations/<int:organization_id>/",
        domain_views.domain_list,
        name="domain_list",
    ),
    path(
        "organizations/<int:organization_id>/domains/new/",
        domain_views.domain_activate,
        name="domain_activate",
    ),
    path("domains/<int:domain_id>/", mailbox_views.mailbox_list_view, name="mailbox_list"),
    path(
        "domains/<int:domain_id>/provisioning/",
        domain_views.domain_provisioning,
        name="domain_provisioning",
    ),
    path("", include("mailboxes.wizard_urls")),
    path("", include("mailboxes.account_urls")),
    path("", include("mailboxes.batch_urls")),
    path("", include("domains.settings_urls")),
    path("", include("owners.urls")),
    path("", include("jobs.urls")),
    path("", include("imports.urls")),
    path("", include("invitations.urls")),
    path("", include("webmail_settings.urls")),
    path("", include("webmail_settings.addressbook_urls")),
    path("", include("security.twofactor_urls")),
    path("", include("security.audit_urls")),
    path("", include("provisioning.queue_urls")),
    path("", include("provisioning.guard_urls")),
    path("", include("api.urls")),
    path("", include("api.v1_urls")),
    path("", include("api.page_urls")),
    path("admin/login/", login_views.admin_login),  # the panel's login: codes and throttle
    path("admin/", admin.site.urls),
]

# An unexpected error answers with the request id its traceback is logged under.
handler500 = "tempusmail.error_views.server_error"
