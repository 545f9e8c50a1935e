"""`manage.py devservices up|down|status`: Kafka, ClickHouse and Redis on this machine."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from devservices.services import PrerequisiteMissing, Service, ServiceFailed, configured_services


class Command(BaseCommand):
    help = "Start, stop or check the development services (Kafka, ClickHouse endpoint, Redis)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["up", "down", "status"])

    def handle(self, *args: Any, action: str, **options: Any) -> None:
        services = configured_services()
        if action == "up":
            for service in services:
                try:
                    outcome = service.up()
                except (PrerequisiteMissing, ServiceFailed) as exc:
                    raise CommandError(str(exc)) from None
                self.stdout.write(f"{service.name:<11} {service.describe():<22} {outcome}")
        elif action == "down":
            for service in reversed(services):
                self.stdout.write(f"{service.name:<11} {service.down()}")
        else:
            unhealthy = [service.name for service in services if not self._report(service)]
            if unhealthy:
                raise CommandError(f"not healthy: {', '.join(unhealthy)}")

    def _report(self, service: Service) -> bool:
        healthy = service.healthy()
        origin = "embedded" if service.managed else "external"
        pid = service.started_pid()
        where = f"pid {pid}" if pid else ("not started here" if service.managed else "")
        state = self.style.SUCCESS("healthy") if healthy else self.style.ERROR("down")
        self.stdout.write(f"{service.name:<11} {service.describe():<22} {state:<8} {origin} {where}".rstrip())
        return healthy
