"""Loader for the guard's data-driven fixture files (guard.sql, attacks.sql)."""

from dataclasses import dataclass
from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures"


@dataclass(frozen=True)
class Case:
    file: str
    line: int
    verdict: str
    datasource: str
    kind: str | None
    sql: str

    @property
    def id(self) -> str:
        return f"{self.file}:{self.line}"


def load_cases(name: str) -> list[Case]:
    """Cases of one fixture file: a header "<allow|refuse> <datasource> [kind]", the SQL, a blank line."""
    cases: list[Case] = []
    header: tuple[int, list[str]] | None = None
    body: list[str] = []
    lines = (FIXTURES / name).read_text(encoding="utf-8").splitlines()
    for number, line in enumerate([*lines, ""], start=1):
        if header is None:
            if line.startswith(("allow ", "refuse ")):
                header, body = (number, line.split()), []
            continue
        if line.strip() == "" and (
            body or header[1][0] == "allow" or len(header[1]) > 3 or number > header[0] + 1
        ):
            start, words = header
            kind = words[2] if len(words) > 2 else None
            cases.append(Case(name, start, words[0], words[1], kind, "\n".join(body)))
            header = None
            continue
        body.append(line)
    return cases
