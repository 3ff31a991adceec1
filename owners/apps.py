from django.apps import AppConfig


class OwnersConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "owners"
    verbose_name = "Mailbox owners"

    def ready(self) -> None:
        from owners import sessions  # noqa: F401  (connects: a login takes the password)
