from django.apps import AppConfig


class WebmailSettingsConfig(AppConfig):
    name = "webmail_settings"
