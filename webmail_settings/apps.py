from django.apps import AppConfig


class WebmailSettingsConfig(AppConfig):
    name = "webmail_settings"

    def ready(self) -> None:
        from mailboxes.signals import account_saved
        from webmail_settings.corporate_services import follow_account

        account_saved.connect(follow_account, dispatch_uid="corporate-signatures")
