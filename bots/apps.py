from django.apps import AppConfig


class BotsConfig(AppConfig):
    name = "bots"

    def ready(self) -> None:
        from bots.widget import receivers  # noqa: F401  (connects the sign-out receiver)
