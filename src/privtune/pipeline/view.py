"""One progress view across the stages (rich) and the final summary tables."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from privtune.pipeline.stage import Check

_STYLE = {
    "ran": "green",
    "skipped": "cyan",
    "unavailable": "yellow",
    "disabled": "dim",
    "failed": "bold red",
    "gate-failed": "bold red",
}


class StageView:
    """A rich Progress: one line per stage (its state) plus sub-bars for the running stage.

    Use ``listener`` for :meth:`Pipeline.run` and ``progress`` as the stages' progress
    factory."""

    def __init__(self, console: Console, stage_names: Sequence[str], *, label: str = "") -> None:
        self.console = console
        self.names = list(stage_names)
        self.label = label
        self.bars = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=False,
            disable=not console.is_terminal,
        )
        self._tasks: dict[str, Any] = {}
        self._subs: list[Any] = []

    def _desc(self, name: str, text: str) -> str:
        prefix = f"{self.label} " if self.label else ""
        return f"{prefix}[bold]{name:<9}[/] {escape(text)}"

    @contextlib.contextmanager
    def live(self) -> Iterator[StageView]:
        with self.bars:
            for n in self.names:
                self._tasks[n] = self.bars.add_task(self._desc(n, "waiting"), total=1)
            yield self

    def listener(self, name: str, event: str, detail: str) -> None:
        task = self._tasks.get(name)
        for s in self._subs:
            with contextlib.suppress(Exception):
                self.bars.remove_task(s)
        self._subs.clear()
        if not self.console.is_terminal:  # plain log lines (CI, pipes)
            self.console.print(
                f"{self.label + ' ' if self.label else ''}{name}: {event}"
                f"{' - ' + detail if detail else ''}",
                highlight=False,
            )
        if task is None:
            return
        if event == "start":
            self.bars.update(task, description=self._desc(name, f"running: {detail}"))
        elif event == "done":
            self.bars.update(task, completed=1, description=self._desc(name, f"done {detail}"))
        elif event == "skip":
            self.bars.update(task, completed=1, description=self._desc(name, detail))
        elif event == "fail":
            self.bars.update(task, description=self._desc(name, f"FAILED: {detail[:80]}"))

    def progress(self, desc: str, total: int) -> Callable[[int], None]:
        task = self.bars.add_task(f"    {escape(desc)}", total=total or None)
        self._subs.append(task)
        return lambda n: self.bars.advance(task, n)


def render_outcomes(console: Console, outcomes: Sequence[Any], title: str) -> None:
    t = Table(title=title, title_justify="left")
    for col in ("stage", "status", "time", "outputs"):
        t.add_column(col)
    for o in outcomes:
        style = _STYLE.get(o.status, "white")
        status = o.status if not o.reason else f"{o.status}: {o.reason}"
        outputs = "\n".join(o.outputs) if o.outputs else "-"
        t.add_row(
            o.name,
            f"[{style}]{escape(status)}[/]",
            f"{o.seconds:.1f}s" if o.seconds else "-",
            escape(outputs),
        )
    console.print(t)


def render_checks(console: Console, checks: Sequence[Check], title: str) -> None:
    t = Table(title=title, title_justify="left")
    t.add_column("safety check")
    t.add_column("held")
    t.add_column("detail")
    for c in checks:
        mark = {True: "[green]yes[/]", False: "[bold red]NO[/]", None: "[dim]not checked[/]"}
        t.add_row(escape(c.name), mark[c.ok], escape(c.detail))
    console.print(t)
