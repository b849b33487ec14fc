"""What the national benchmarks share: every practice participating, and real Celery workers on a queue of
their own. Import after django.setup()."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def participate_everyone(year) -> None:
    """Benchmark set-up only: every practice participates for the whole year, written in one insert."""
    from django.utils import timezone

    from accounts.models import Organisation, OrganisationType
    from participation.models import Participation

    practices = Organisation.objects.filter(type=OrganisationType.PRACTICE)
    Participation.objects.bulk_create(
        [
            Participation(
                service_year=year, practice=practice, start_date=year.start_date, end_date=year.end_date,
                created_at=timezone.now(),
            )
            for practice in practices.exclude(participations__service_year=year)
        ],
        batch_size=5000,
    )  # fmt: skip


def load_list_sizes(year, practices_csv: Path) -> None:
    """The list sizes of a PRACTICES.csv (bench/engine.py's generator) for the year."""
    from calculation import actions
    from engine import readers

    sizes = readers.load_practices(practices_csv)
    rows = list(
        zip(sizes["practice_code"], sizes["list_size_cpi"].astype(int),
            sizes["list_size_prevalence"].astype(int), strict=True)
    )  # fmt: skip
    actions.load_list_sizes(service_year=year, rows=rows, by=None)


class Workers:
    """Celery workers (solo pool: one task at a time each) consuming only `queue`."""

    def __init__(self, queue: str):
        self.queue = queue
        self.processes: list[tuple[str, subprocess.Popen]] = []

    def start(self, count: int) -> None:
        from cqrs_portal.celery import app

        for _ in range(count):
            node = f"{self.queue}-{len(self.processes)}@{socket.gethostname()}"
            process = subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "cqrs_portal", "worker", "--pool=solo",
                 "-Q", self.queue, "-n", node, "--without-heartbeat", "--without-mingle", "--without-gossip",
                 "--loglevel=WARNING"],
                cwd=REPO, env={**os.environ, "CELERY_QUEUE": self.queue},
            )  # fmt: skip
            self.processes.append((node, process))
        deadline = time.monotonic() + 120
        nodes = [node for node, _ in self.processes]
        while len(app.control.ping(destination=nodes, timeout=1)) < len(nodes):
            if time.monotonic() > deadline:
                sys.exit("workers did not start")

    def wait_until_idle(self, timeout: float = 600) -> None:
        """Until no task waits in the queue and every worker answers a ping (a solo worker answers only
        between tasks), twice in a row."""
        from cqrs_portal.celery import app

        nodes = [node for node, _ in self.processes]
        deadline, idle_in_a_row = time.monotonic() + timeout, 0
        with app.connection_for_write() as connection:
            client = connection.default_channel.client
            while idle_in_a_row < 2:
                if time.monotonic() > deadline:
                    sys.exit("workers did not become idle")
                waiting = client.llen(self.queue)
                answered = len(app.control.ping(destination=nodes, timeout=0.5)) if not waiting else 0
                idle_in_a_row = idle_in_a_row + 1 if answered == len(nodes) else 0
                time.sleep(0.1)

    def peak_bytes(self) -> int:
        """The largest high-water mark of resident memory (VmHWM) among the running workers."""
        peaks = [0]
        for _, process in self.processes:
            for line in Path(f"/proc/{process.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peaks.append(int(line.split()[1]) * 1024)
        return max(peaks)

    def stop(self) -> None:
        for _, process in self.processes:
            process.send_signal(signal.SIGTERM)
        for _, process in self.processes:
            process.wait(timeout=120)
        self.processes = []
