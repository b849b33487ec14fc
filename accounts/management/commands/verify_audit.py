from django.core.management.base import BaseCommand, CommandError

from accounts.audit import verify
from accounts.models import AuditChainHead, AuditEvent


class Command(BaseCommand):
    help = (
        "Check the audit trail's hash chain from the first event to the head and report the first broken "
        "link (exit status 1 if there is one)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--expect-head",
            metavar="POSITION:HASH",
            help="a head printed by an earlier run and kept elsewhere: the chain must still contain it",
        )

    def handle(self, *args, expect_head=None, **options):
        events = AuditEvent.objects.order_by("position").iterator(chunk_size=5000)
        head = AuditChainHead.objects.filter(pk=1).first()
        checked, broken = verify(events, head)
        if broken is None and expect_head:
            broken = self._check_kept_head(expect_head)
        if broken is not None:
            raise CommandError(f"Audit trail broken after {checked} good events: {broken}.")
        position, digest = (head.position, head.hash) if head else (0, "")
        self.stdout.write(f"Audit trail intact: {checked} events. Head {position}:{digest}")

    @staticmethod
    def _check_kept_head(expect_head: str) -> str | None:
        position, _, digest = expect_head.partition(":")
        event = AuditEvent.objects.filter(position=int(position)).first()
        if event is None or event.hash != digest:
            return f"the kept head {position} is no longer in the chain (the chain was rebuilt)"
        return None
