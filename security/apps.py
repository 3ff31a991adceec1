from django.apps import AppConfig


class SecurityConfig(AppConfig):
    name = "security"

    def ready(self) -> None:
        from security import reauth  # noqa: F401  (connects: a login makes a session fresh)
