"""What the apps above calculation do when a run publishes, registered by them and run inside publication;
and what they say a re-run would do to them, so that Support confirms it first.

Calculation may not import the apps that depend on it (declarations, payments), yet what they hold must
change in the same transaction as the figures it follows from. An app registers a function with
`@on_publication` from a module its AppConfig.ready() imports; `calculation.actions.publish_run` calls
every registered function, in registration order, after moving the publication pointer. A function that
raises fails the publication: nothing of it commits. See docs/adr/0007-one-shape.md.
"""

from __future__ import annotations

from collections.abc import Callable

from .models import CalculationRun

# Called as hook(run=the run just published, replaced_run_id=the run it replaced, or None).
PublicationHook = Callable[..., None]

_hooks: list[PublicationHook] = []


def on_publication(hook: PublicationHook) -> PublicationHook:
    if hook not in _hooks:
        _hooks.append(hook)
    return hook


def run_publication_hooks(*, run: CalculationRun, replaced_run_id: int | None) -> None:
    for hook in _hooks:
        hook(run=run, replaced_run_id=replaced_run_id)


# Called as describe(service_year=, achievement_date=, organisation=the practice or commissioner, or None for
# national) before a run starts: sentences for Support about what publishing it could change, each of which
# Support must confirm. The declarations app says how many declarations would be reverted or flagged.
RerunConsequences = Callable[..., list[str]]

_describers: list[RerunConsequences] = []


def describes_rerun_consequences(describe: RerunConsequences) -> RerunConsequences:
    if describe not in _describers:
        _describers.append(describe)
    return describe


def rerun_consequences(*, service_year, achievement_date, organisation=None) -> list[str]:
    return [
        sentence
        for describe in _describers
        for sentence in describe(
            service_year=service_year, achievement_date=achievement_date, organisation=organisation
        )
    ]
