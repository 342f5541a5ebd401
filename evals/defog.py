"""defog's sql-eval questions as an external evaluation set, on DuckDB and (when reachable) PostgreSQL.

The questions are read from beside the checkout (``../shared/evals/defog/questions_gen_postgres.csv``, or
``$SQLBOT_DEFOG_DIR``); they are never copied into the repository. The databases come from the PyPI
package ``defog-data``: each ``defog_data/<db>/<db>.sql`` is a PostgreSQL dump (CREATE TABLE, COPY ... FROM
stdin, ALTER TABLE ... ADD CONSTRAINT) and ``<db>.json`` holds the column descriptions.

* DuckDB: each dump is parsed and loaded into ``<data_dir>/defog/defog_<db>.duckdb`` with the descriptions
  as column comments (so the schema the writers see carries them), and registered as datasource
  ``defog_<db>`` in a registry rooted at ``<data_dir>/defog`` (the user's own datasource list is untouched).
* PostgreSQL: the dump is loaded as-is into a database ``defog_<db>``. ``datasources/`` has no PostgreSQL
  connector, so the PostgreSQL path runs the writer directly on the same schema with the ``postgres``
  dialect and executes predicted and gold SQL with psycopg (read-only transaction, statement timeout).

Gold SQL follows defog's conventions (their ``utils/`` ``get_all_minimal_queries``): statements separated by
``;`` are alternatives, and the first ``{a, b}`` group of a statement stands for every non-empty subset of
its columns, with ``GROUP BY {}`` grouping by the same subset. A prediction is right when it matches any
expansion of any statement.
"""

from __future__ import annotations

import csv
import importlib.util
import itertools
import json
import os
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import sqlglot

from evals.accuracy import Example

REPO = Path(__file__).resolve().parent.parent
DEFOG_DBS = ("academic", "advising", "atis", "geography", "restaurants", "scholar", "yelp")
"""The databases shipped by ``defog-data``; the other four of the question set are not available."""
PG_DSN = "postgresql://postgres@127.0.0.1:5432/test"
QUESTIONS_FILE = "questions_gen_postgres.csv"


def defog_dir() -> Path:
    """Where the question CSVs live: ``$SQLBOT_DEFOG_DIR`` or ``../shared/evals/defog`` beside the checkout."""
    env = os.environ.get("SQLBOT_DEFOG_DIR")
    return Path(env) if env else REPO.parent / "shared" / "evals" / "defog"


def package_dir() -> Path:
    """The installed ``defog_data`` package directory (found without importing it: it prints on import)."""
    spec = importlib.util.find_spec("defog_data")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("The PyPI package defog-data is not installed: run `uv sync` (it is in the dev group).")
    return Path(next(iter(spec.submodule_search_locations)))


# --------------------------------------------------------------------------------------------- gold SQL


def _expand_statement(statement: str) -> list[str]:
    start = statement.find("{")
    end = statement.find("}", start + 1)
    if start == -1 or end == -1:
        return [statement]
    options = [o.strip() for o in statement[start + 1 : end].split(",") if o.strip()]
    if not options:
        return [statement]
    out = []
    for size in range(1, len(options) + 1):
        for subset in itertools.combinations(options, size):
            columns = ", ".join(subset)
            out.append(statement[:start] + columns + statement[end + 1 :].replace("{}", columns))
    return out


def expand_gold(query: str) -> list[str]:
    """Every gold statement a defog ``query`` cell stands for (see the module docstring), in order."""
    out: list[str] = []
    for statement in query.split(";"):
        statement = statement.strip()
        if statement:
            out.extend(s for s in _expand_statement(statement) if s not in out)
    return out


# --------------------------------------------------------------------------------------------- questions


@dataclass(frozen=True)
class DefogSet:
    """The usable questions and what was left out."""

    examples: list[Example]
    skipped: Counter[str] = field(default_factory=Counter)
    """Questions over databases ``defog-data`` does not ship, per database."""


def load_questions(
    directory: Path | None = None, *, dbs: Iterable[str] = DEFOG_DBS, with_instructions: bool = True
) -> DefogSet:
    """The defog questions as :class:`evals.accuracy.Example` objects on datasources ``defog_<db>``.

    Tags are ``db:<db>`` and ``category:<query_category>``; gold statements are expanded. The question text
    carries defog's per-question instructions (they are part of the question in defog's own prompts).
    """
    path = (directory or defog_dir()) / QUESTIONS_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} not found: the defog questions are read from beside the checkout "
            "(../shared/evals/defog/) or from $SQLBOT_DEFOG_DIR."
        )
    wanted = set(dbs)
    examples: list[Example] = []
    skipped: Counter[str] = Counter()
    counters: Counter[str] = Counter()
    with path.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            db = row["db_name"]
            if db not in DEFOG_DBS:
                skipped[db] += 1
                continue
            if db not in wanted:
                continue
            counters[db] += 1
            question = row["question"].strip()
            if with_instructions and row.get("instructions", "").strip():
                question += "\n" + row["instructions"].strip()
            examples.append(
                Example(
                    id=f"{db}-{counters[db]:02d}",
                    datasource=f"defog_{db}",
                    question=question,
                    locale="en",
                    gold_sql=tuple(expand_gold(row["query"])),
                    tags=(f"db:{db}", f"category:{row['query_category']}"),
                )
            )
    return DefogSet(examples, skipped)


# --------------------------------------------------------------------------------------------- the dumps


@dataclass
class DumpTable:
    """One table of a pg_dump file."""

    name: str
    columns: list[tuple[str, str]]
    """(name, PostgreSQL type)."""
    copy_columns: list[str] = field(default_factory=list)
    rows: list[list[str | None]] = field(default_factory=list)
    primary_key: list[str] = field(default_factory=list)


_CREATE = re.compile(r"CREATE TABLE (?:public\.)?(\w+) \((.*?)\n\);", re.S)
_COPY = re.compile(r"^COPY (?:public\.)?(\w+) \((.*?)\) FROM stdin;$")
_PK = re.compile(r"ALTER TABLE ONLY (?:public\.)?(\w+)\s+ADD CONSTRAINT \w+ PRIMARY KEY \((.*?)\);", re.S)
_ESCAPES = {"t": "\t", "n": "\n", "r": "\r", "\\": "\\", "b": "\b", "f": "\f", "v": "\v"}


def _copy_value(field_text: str) -> str | None:
    if field_text == "\\N":
        return None
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(1)), field_text)


def parse_dump(text: str) -> dict[str, DumpTable]:
    """Tables, primary keys and COPY rows of a pg_dump (text format) file."""
    tables: dict[str, DumpTable] = {}
    for name, body in _CREATE.findall(text):
        columns = []
        for line in body.strip().splitlines():
            line = line.strip().rstrip(",")
            if not line or line.upper().startswith(("CONSTRAINT", "PRIMARY KEY")):
                continue
            col, _, rest = line.partition(" ")
            rest = re.sub(r"\s+(NOT NULL|DEFAULT .*)$", "", rest, flags=re.I)
            columns.append((col.strip('"'), rest.strip()))
        tables[name] = DumpTable(name, columns)
    lines = iter(text.splitlines())
    for line in lines:
        match = _COPY.match(line)
        if not match:
            continue
        table = tables[match.group(1)]
        table.copy_columns = [c.strip().strip('"') for c in match.group(2).split(",")]
        for data in lines:
            if data == "\\.":
                break
            table.rows.append([_copy_value(v) for v in data.split("\t")])
    for name, cols in _PK.findall(text):
        if name in tables:
            tables[name].primary_key = [c.strip() for c in cols.split(",")]
    return tables


def descriptions(db: str) -> dict[tuple[str, str], str]:
    """Column descriptions from ``<db>.json``: {(table, column): text}."""
    meta = json.loads((package_dir() / db / f"{db}.json").read_text(encoding="utf-8"))
    return {
        (table, col["column_name"]): col.get("column_description", "").strip()
        for table, cols in meta.get("table_metadata", {}).items()
        for col in cols
        if col.get("column_description", "").strip()
    }


def _duck_type(pg_type: str) -> str:
    return {"double precision": "DOUBLE", "time without time zone": "TIME", "real": "REAL"}.get(pg_type.lower(), pg_type)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def build_duckdb(db: str, target: Path) -> Path:
    """Load one defog database into a DuckDB file (rebuilt atomically), with column comments."""
    tables = parse_dump((package_dir() / db / f"{db}.sql").read_text(encoding="utf-8"))
    notes = descriptions(db)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    con = duckdb.connect(str(tmp))
    try:
        for table in tables.values():
            cols = [f"{_quote(c)} {_duck_type(t)}" for c, t in table.columns]
            keys = f", PRIMARY KEY ({', '.join(map(_quote, table.primary_key))})" if table.primary_key else ""
            con.execute(f"CREATE TABLE {_quote(table.name)} ({', '.join(cols)}{keys})")
            if table.rows:
                staging = ", ".join(f"{_quote(c)} VARCHAR" for c in table.copy_columns)
                con.execute(f"CREATE TEMP TABLE staging ({staging})")
                con.executemany(f"INSERT INTO staging VALUES ({', '.join('?' * len(table.copy_columns))})", table.rows)
                names = ", ".join(map(_quote, table.copy_columns))
                con.execute(f"INSERT INTO {_quote(table.name)} ({names}) SELECT {names} FROM staging")
                con.execute("DROP TABLE staging")
            for column, _ in table.columns:
                if (table.name, column) in notes:
                    con.execute(
                        f"COMMENT ON COLUMN {_quote(table.name)}.{_quote(column)} IS {_literal(notes[(table.name, column)])}"
                    )
        con.execute("CHECKPOINT")
    finally:
        con.close()
    os.replace(tmp, target)
    return target


def defog_registry(data_dir: Path, dbs: Iterable[str] = DEFOG_DBS, *, rebuild: bool = False, **registry_kwargs: Any) -> Any:
    """A registry rooted at ``<data_dir>/defog`` holding datasources ``defog_<db>`` (built on first use)."""
    from datasources.registry import DatasourceConfig, Registry

    root = Path(data_dir) / "defog"
    registry = Registry(root, **registry_kwargs)
    known = {c.id for c in registry.list()}
    for db in dbs:
        path = root / f"defog_{db}.duckdb"
        if rebuild or not path.exists():
            build_duckdb(db, path)
        if f"defog_{db}" not in known:
            registry.add(
                DatasourceConfig(
                    id=f"defog_{db}",
                    name=f"defog {db}",
                    type="duckdb",
                    path=path,
                    description_en=f"defog sql-eval database '{db}' (from the defog-data package)",
                )
            )
    return registry


def to_duckdb(sql: str) -> str:
    """A PostgreSQL gold statement in DuckDB's dialect (unchanged when sqlglot cannot parse it)."""
    try:
        return sqlglot.transpile(sql, read="postgres", write="duckdb")[0]
    except sqlglot.errors.SqlglotError:
        return sql


# --------------------------------------------------------------------------------------------- PostgreSQL


def postgres_reachable(dsn: str = PG_DSN, timeout_s: float = 2.0) -> bool:
    """Whether a PostgreSQL server answers at ``dsn``."""
    try:
        import psycopg
    except ImportError:
        return False
    try:
        with psycopg.connect(dsn, connect_timeout=max(1, int(timeout_s))) as conn:
            conn.execute("SELECT 1")
        return True
    except psycopg.Error:
        return False


def _with_dbname(dsn: str, dbname: str) -> str:
    from psycopg.conninfo import make_conninfo

    return make_conninfo(dsn, dbname=dbname)


def build_postgres(db: str, dsn: str = PG_DSN, *, rebuild: bool = False) -> str:
    """Load one defog dump into database ``defog_<db>`` on the server at ``dsn``; returns its DSN."""
    import psycopg

    name = f"defog_{db}"
    with psycopg.connect(dsn, autocommit=True) as admin:
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is not None
        if exists and not rebuild:
            target = _with_dbname(dsn, name)
            with psycopg.connect(target) as conn:
                loaded = conn.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'").fetchone()
            if loaded and loaded[0]:
                return target
        admin.execute(f"DROP DATABASE IF EXISTS {name}")
        admin.execute(f"CREATE DATABASE {name}")
    target = _with_dbname(dsn, name)
    text = (package_dir() / db / f"{db}.sql").read_text(encoding="utf-8")
    tables = parse_dump(text)
    with psycopg.connect(target) as conn:
        for statement in _ddl_statements(text):
            conn.execute(statement)
        for table in tables.values():
            if not table.rows:
                continue
            cols = ", ".join(map(_quote, table.copy_columns))
            with conn.cursor().copy(f"COPY public.{_quote(table.name)} ({cols}) FROM STDIN") as copy:
                for row in table.rows:
                    copy.write_row(row)
        for statement in _constraint_statements(text):
            conn.execute(statement)
        for (table_name, column), note in descriptions(db).items():
            if table_name in tables:
                conn.execute(f"COMMENT ON COLUMN public.{_quote(table_name)}.{_quote(column)} IS {_literal(note)}")
    return target


def _statements(text: str) -> Iterator[str]:
    """The dump's SQL statements outside COPY data blocks, without comments."""
    buffer: list[str] = []
    in_copy = False
    for line in text.splitlines():
        if in_copy:
            in_copy = line != "\\."
            continue
        if _COPY.match(line):
            in_copy = True
            continue
        if line.startswith("--") or not line.strip():
            continue
        buffer.append(line)
        if line.rstrip().endswith(";"):
            yield "\n".join(buffer)
            buffer = []


def _ddl_statements(text: str) -> Iterator[str]:
    for statement in _statements(text):
        if statement.startswith("CREATE TABLE"):
            yield statement


def _constraint_statements(text: str) -> Iterator[str]:
    for statement in _statements(text):
        if statement.startswith("ALTER TABLE ONLY") and "ADD CONSTRAINT" in statement:
            yield statement


def run_postgres(dsn: str, sql: str, *, timeout_s: float = 30.0, max_rows: int = 100_000) -> tuple[list[str], list[list[Any]]]:
    """Run one statement in a read-only transaction; returns (columns, JSON-safe rows)."""
    import psycopg

    from datasources.connection import to_json_value

    with psycopg.connect(dsn) as conn:
        conn.read_only = True
        conn.execute(f"SET statement_timeout = {int(timeout_s * 1000)}")
        cur = conn.execute(sql)  # type: ignore[arg-type]  # gold and predicted SQL are dynamic by nature
        columns = [d.name for d in cur.description or []]
        rows = [[to_json_value(v) for v in row] for row in cur.fetchmany(max_rows)]
        conn.rollback()
    return columns, rows


def pg_schema(schema: Any) -> Any:
    """The same schema in the ``postgres`` dialect (the writer then writes PostgreSQL SQL)."""
    from dataclasses import replace

    return replace(schema, dialect="postgres")


_ORDER_WORDS = re.compile(r"\b(order|sort|arrange)\b", re.I)


def defog_ordered(example: Example, sql: str, dialect: str) -> bool:
    """defog's rule: row order counts only for the order_by category or a question that asks for an order.

    (Otherwise a gold ORDER BY, often added by habit, would fail predictions over ties or unrequested order.)
    """
    from evals.accuracy import gold_is_ordered

    asked = "category:order_by" in example.tags or _ORDER_WORDS.search(example.question) is not None
    if not asked:
        return False
    try:
        return gold_is_ordered(sql, dialect)
    except Exception:
        return "order by" in sql.lower()


async def run_postgres_eval(
    examples: Sequence[Example], registry: Any, writer: Any, dsns: dict[str, str], *, max_rows: int = 100_000
) -> list[Any]:
    """The writer on each question with the schema in the ``postgres`` dialect, run on the real server.

    Predicted and gold SQL both run through psycopg in read-only transactions (no graph: ``datasources/``
    has no PostgreSQL connector). Returns :class:`evals.runner.CaseResult` objects (``generate_sql`` time only).
    """
    import asyncio
    import time

    from evals.accuracy import compare_results
    from evals.runner import CaseResult
    from llm.base import SQLRequest, WriterError

    gold_cache: dict[str, Any] = {}
    out = []
    for ex in examples:
        case = CaseResult(ex.id, ex.datasource, ex.question, ex.locale, list(ex.tags))
        dsn = dsns[db_of(ex)]
        schema = pg_schema(await asyncio.to_thread(registry.schema, ex.datasource))
        values = await asyncio.to_thread(registry.values, ex.datasource)
        started = time.perf_counter()
        try:
            draft = await writer.write_sql(SQLRequest(ex.question, schema, "en", values=values), lambda _chunk: None)
        except WriterError as exc:
            case.error = f"writer: {exc}"
            case.answered = exc.kind not in ("not_understood", "invalid_question")
            out.append(case)
            continue
        except Exception as exc:  # a writer bug fails this question, not the whole evaluation
            case.error = f"writer crashed: {type(exc).__name__}: {exc}"
            out.append(case)
            continue
        finally:
            case.step_ms["generate_sql"] = int((time.perf_counter() - started) * 1000)
        case.predicted_sql = draft.sql
        case.model_calls = draft.model_calls
        try:
            pred_cols, pred_rows = await asyncio.to_thread(run_postgres, dsn, draft.sql, max_rows=max_rows)
        except Exception as exc:
            case.error = f"execution failed: {str(exc).strip()[:300]}"
            out.append(case)
            continue
        case.valid_sql = True
        for gold in ex.gold_sql:
            if gold not in gold_cache:
                try:
                    gold_cache[gold] = await asyncio.to_thread(run_postgres, dsn, gold, max_rows=max_rows)
                except Exception as exc:
                    gold_cache[gold] = exc
            result = gold_cache[gold]
            if isinstance(result, Exception):
                continue
            if compare_results(result[0], result[1], pred_cols, pred_rows, defog_ordered(ex, gold, "postgres")):
                case.correct = True
                break
        if not case.correct:
            case.error = f"wrong result ({len(pred_rows)} rows × {len(pred_cols)} columns)"
        out.append(case)
    return out


def db_of(example: Example) -> str:
    """The defog database name of an example."""
    return example.datasource.removeprefix("defog_")


def split_dbs(value: str | None) -> Sequence[str]:
    """Parse ``--defog-dbs academic,yelp`` (None or ``all``: every shipped database)."""
    if not value or value == "all":
        return DEFOG_DBS
    dbs = [d.strip() for d in value.split(",") if d.strip()]
    unknown = [d for d in dbs if d not in DEFOG_DBS]
    if unknown:
        raise ValueError(f"unknown defog database(s) {', '.join(unknown)}; choose from {', '.join(DEFOG_DBS)}")
    return dbs
