"""Safety checks across the stages: known raw PII values searched for under the work dir.

The values come from scanning the raw input (in memory; they are never written or printed).
Every file under the work dir is searched for them byte-wise, except sealed files (their
content is ciphertext, authenticated), the keyring folder and the raw originals themselves
(``data.remove_original`` decides about those, and its check reports them). A file that holds
any value is *residue*: plaintext customer data at rest outside the sealed store.

Very short values (under 4 characters, or 2-character Chinese names) are left out: they occur
in ordinary text and would make the check meaningless.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from privtune.pipeline.stage import Check, RunContext

_CJK = re.compile(r"[\u3400-\u9fff]")
_CHUNK = 8 << 20


def searchable(value: str) -> bool:
    v = value.strip()
    if _CJK.search(v):
        return len(v) >= 3
    return len(v) >= 4


def pii_values(paths: Iterable[Path], ctx: RunContext, limit: int | None = None) -> set[str]:
    """Distinct PII values the scanner finds in the string leaves of the records (memory)."""
    from privtune.datasets.formats import iter_leaves
    from privtune.datasets.readers import iter_input_files, iter_records
    from privtune.detect import Scanner

    scanner = Scanner(ctx.config.detect)
    values: set[str] = set()
    n = 0
    for f in iter_input_files([p for p in paths if p.exists()]):
        for rec in iter_records(f):
            if rec.data is None:
                continue
            for _, text in iter_leaves(rec.data):
                for s in scanner.scan(text):
                    v = text[s.start : s.end]
                    if searchable(v):
                        values.add(v)
            n += 1
            if limit is not None and n >= limit:
                return values
    return values


@dataclass
class ResidueResult:
    files_searched: int = 0
    files_with_residue: list[str] = field(default_factory=list)  # paths only, never values
    values: int = 0

    def check(self, root: Path) -> Check:
        if self.values == 0:
            return Check(
                "no plaintext residue under the work dir", None, "no raw PII values to search for"
            )
        n = len(self.files_with_residue)
        return Check(
            "no plaintext residue under the work dir",
            n == 0,
            f"{self.values} raw values searched in {self.files_searched} files under "
            f"{root}"
            + (
                f"; found in: {', '.join(self.files_with_residue[:5])}" + (" ..." if n > 5 else "")
                if n
                else ""
            ),
        )


def find_residue(root: Path, values: set[str], *, exclude: Iterable[Path] = ()) -> ResidueResult:
    """Search every file under ``root`` for any of ``values`` (UTF-8 bytes)."""
    import ahocorasick

    result = ResidueResult(values=len(values))
    if not values or not root.exists():
        return result
    auto = ahocorasick.Automaton()
    longest = 0
    for v in values:
        b = v.encode("utf-8")
        longest = max(longest, len(b))
        # latin-1 maps bytes 1:1 to code points, so a str automaton searches raw bytes
        auto.add_word(b.decode("latin-1"), 1)
    auto.make_automaton()
    skip = {Path(p).resolve() for p in exclude}
    for dirpath, dirnames, filenames in os.walk(root):
        d = Path(dirpath)
        dirnames[:] = [n for n in dirnames if (d / n).resolve() not in skip]
        for name in filenames:
            f = d / name
            if name.endswith(".sealed") or f.is_symlink() or f.resolve() in skip:
                continue
            try:
                hit = _file_has(f, auto, longest)
            except OSError:
                continue
            result.files_searched += 1
            if hit:
                result.files_with_residue.append(str(f.relative_to(root)))
    return result


def _file_has(path: Path, auto, longest: int) -> bool:  # type: ignore[no-untyped-def]
    tail = b""
    with path.open("rb") as fh:
        while True:
            block = fh.read(_CHUNK)
            if not block:
                return False
            data = tail + block
            for _ in auto.iter(data.decode("latin-1")):
                return True
            tail = data[-longest:] if longest else b""


def residue_check(ctx: RunContext, values: set[str]) -> tuple[Check, ResidueResult]:
    """Search ``ctx.base_dir`` (minus keyring and raw originals) for ``values``."""
    from privtune.pipeline.stages import raw_inputs

    exclude = [ctx.path(ctx.config.keys.keyring_dir), *raw_inputs(ctx)]
    res = find_residue(ctx.base_dir, values, exclude=exclude)
    return res.check(ctx.base_dir), res
