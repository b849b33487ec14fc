"""Errors raised for invalid inputs: every problem names its source, line and field."""

from __future__ import annotations

from dataclasses import dataclass, field

# Enough to show a pattern to whoever fixes the file; more would only bury the message.
MAX_PROBLEMS = 100


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with an input. ``line`` is the 1-based file line (the header is line 1)."""

    line: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"line {self.line}, field {self.field}: {self.message}"


class InputError(Exception):
    """An input file (or frame) is invalid as a whole; nothing derived from it may be used."""

    def __init__(self, source: str, problems: list[Problem], total: int | None = None) -> None:
        self.source = source
        self.problems = sorted(problems)[:MAX_PROBLEMS]
        self.total = max(total or 0, len(problems))
        super().__init__(self.describe())

    def describe(self) -> str:
        shown = "\n".join(f"{self.source}: {problem}" for problem in self.problems)
        hidden = self.total - len(self.problems)
        if hidden > 0:
            shown += f"\n{self.source}: … and {hidden} more problem(s)"
        return shown


@dataclass
class ProblemCollector:
    """Gathers problems from many vectorised checks, keeping only the first few per rule."""

    source: str
    problems: list[Problem] = field(default_factory=list)
    total: int = 0

    def add(self, line: int, field_name: str, message: str) -> None:
        self.total += 1
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(Problem(int(line), field_name, message))

    def add_rows(self, lines, field_name: str, message_for) -> None:
        """Record one problem per line in ``lines``; ``message_for(position)`` builds each message lazily
        so a rule that hits millions of rows costs only the first MAX_PROBLEMS messages."""
        count = len(lines)
        self.total += count
        room = MAX_PROBLEMS - len(self.problems)
        for position in range(min(count, max(room, 0))):
            self.problems.append(Problem(int(lines[position]), field_name, message_for(position)))

    def raise_if_any(self) -> None:
        if self.total:
            raise InputError(self.source, self.problems, self.total)
