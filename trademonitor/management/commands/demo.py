"""`manage.py demo`: the whole system in one terminal — producer, workers and web.

Each part runs as its own process, as in production; Ctrl-C (or SIGTERM) stops
them all, the workers draining first.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser


class Command(BaseCommand):
    help = "Run the producer (300 trades/s), the worker pool and daphne together until stopped."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--rate", type=float, default=300, help="trades per second (default: %(default)s)")
        parser.add_argument("--port", type=int, default=8000, help="daphne's port on 127.0.0.1 (default: %(default)s)")
        parser.add_argument("--processes", type=int, default=2,
                            help="worker processes per job: ingest, sentiment and alerts (default: %(default)s)")

    def handle(self, *args: Any, rate: float, port: int, processes: int, **options: Any) -> None:
        python = sys.executable
        commands = {
            "workers": [python, "manage.py", "runworkers", "--processes", str(processes),
                        "--job", "ingest", "--job", "sentiment", "--job", "alerts"],
            "web": [str(Path(python).parent / "daphne"), "-b", "127.0.0.1", "-p", str(port),
                    "trademonitor.asgi:application"],
            "producer": [python, "manage.py", "producetrades", "--rate", str(rate)],
        }
        processes_by_name = {name: subprocess.Popen(command, cwd=settings.BASE_DIR)
                             for name, command in commands.items()}
        self.stdout.write(f"Dashboard: http://127.0.0.1:{port}/   Admin: http://127.0.0.1:{port}/admin/")
        self.stdout.write("Create an admin user with: python manage.py createsuperuser   (Ctrl-C stops everything)")
        stopping = False

        def stop(*_: object) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        while not stopping and all(p.poll() is None for p in processes_by_name.values()):
            time.sleep(0.5)
        for name in ("producer", "workers", "web"):
            process = processes_by_name[name]
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(30)
                except subprocess.TimeoutExpired:
                    os.kill(process.pid, signal.SIGKILL)
        failed = {name: p.returncode for name, p in processes_by_name.items() if p.returncode not in (0, -15)}
        if failed and not stopping:
            self.stderr.write(f"stopped because a part exited: {failed}")
            sys.exit(1)
