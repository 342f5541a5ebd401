"""Row and column permissions, enforced on the parsed SQL (never by a model).

A :class:`PolicyRule` says, for one table of one datasource and the users and/or roles it applies to, which
rows they may see (``row_filter``, SQL text that may use ``:user.name`` and ``:user.<attr>``) and which
columns they may not (``hidden_columns``). :func:`policy_from_rules` resolves the rules that apply to one
principal into an :class:`AccessPolicy`, and :func:`apply_policy` rewrites a statement that already passed the
read-only guard (:func:`datasources.guard.check_sql`):

- every **physical scan** of a protected table — in FROM, JOINs, subqueries, CTE bodies, every branch of a
  set operation, correlated and lateral subqueries, PIVOT sources — becomes a filtered derived table
  ``(SELECT <permitted columns> FROM t AS _sqlbot_p WHERE <filter>) AS <original alias or name>``. A CTE whose
  name shadows a table is not a scan of it where that CTE is in scope (the same scoping as the guard), a
  schema-qualified name always is;
- the placeholders become literals in the syntax tree (``exp.Literal``), so a user's attribute is data, never
  SQL text;
- a reference to a hidden column (bare, qualified, or a table's columns listed by alias) is refused with
  :class:`ColumnNotPermitted` naming it; ``*`` expands to the permitted columns only, because the derived
  table projects nothing else — so even a reference the check cannot attribute (a whole-row reference, a
  positional alias list) cannot reach a hidden column: the database does not see it.

Several rules for the same table and principal: row filters are OR-ed (each grants rows, like PostgreSQL's
permissive policies; ``row_filter: "TRUE"`` grants every row), hidden columns are the union. A rule whose
placeholder names an attribute the principal does not have (or one holding a NUL character) grants nothing
(``FALSE``): fail closed.

On PostgreSQL the derived table gets ``OFFSET 0``: the planner then neither pulls the subquery up nor pushes
the outer query's conditions below the filter (the classic optimisation fence, what ``security_barrier``
views do), so a function in the user's WHERE clause never sees a row the filter removes — no error-message
side channel. The cost is that outer predicates are not pushed into the scan (see ``evals/bench_policy.py``).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from datasources.errors import DatasourceError
from datasources.guard import parse_one_statement
from datasources.schema import Column, Dialect, ForeignKey, Schema, Table

INNER_ALIAS = "_sqlbot_p"
"""Alias of the physical table inside each filtered derived table (the filter's columns are qualified with it)."""

_MOVED_OUT = ("joins", "laterals", "pivots", "ordinality")
"""Table arguments that belong to the reference (they go to the derived table), not to the scan. A sample
(TABLESAMPLE) stays on the scan: PostgreSQL allows it only there, and sampling before the filter returns
permitted rows all the same."""


class PolicyError(DatasourceError):
    """A policy rule is malformed (unparseable filter, unknown column, unknown placeholder)."""


class ColumnNotPermitted(DatasourceError):
    """The statement names a column the principal may not see."""

    def __init__(self, table: str, column: str) -> None:
        super().__init__(
            f"The column {column!r} of {table!r} is not visible to you; leave it out of the query "
            f"(SELECT * lists only the columns you may see).",
        )
        self.table = table
        self.column = column


@dataclass(frozen=True)
class PolicyRule:
    """One rule: who it applies to, for which table, which rows they see and which columns are hidden."""

    datasource: str
    """The registry id of the datasource."""
    table: str
    """The table's name (case-insensitive)."""
    users: tuple[str, ...] = ()
    """User names the rule applies to; ``*`` is everyone."""
    roles: tuple[str, ...] = ()
    """Roles the rule applies to. A rule naming neither users nor roles applies to everyone."""
    row_filter: str | None = None
    """A SQL condition on the table's columns, e.g. ``region = :user.region``; None leaves rows alone."""
    hidden_columns: tuple[str, ...] = ()
    """Columns the principal may not read."""

    def applies_to(self, name: str, roles: Iterable[str]) -> bool:
        """Whether the rule covers the user ``name`` with ``roles``."""
        if not self.users and not self.roles:
            return True
        return "*" in self.users or name in self.users or bool(set(self.roles) & set(roles))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PolicyRule:
        """A rule from its config form (see README, "Row and column permissions")."""
        unknown = set(data) - {"datasource", "table", "users", "roles", "row_filter", "hidden_columns"}
        if unknown:
            raise PolicyError(f"Unknown policy rule field(s): {', '.join(sorted(unknown))}.")
        try:
            return cls(
                datasource=str(data["datasource"]),
                table=str(data["table"]),
                users=_names(data.get("users")),
                roles=_names(data.get("roles")),
                row_filter=str(data["row_filter"]) if data.get("row_filter") is not None else None,
                hidden_columns=_names(data.get("hidden_columns")),
            )
        except KeyError as exc:
            raise PolicyError(f"A policy rule needs {exc.args[0]!r}.") from exc


def _names(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list | tuple):
        return tuple(str(v) for v in value)
    raise PolicyError(f"Expected a name or a list of names, got {value!r}.")


@dataclass(frozen=True)
class TablePolicy:
    """What one principal may see of one table."""

    table: str
    """The table's name as the schema spells it."""
    row_filter: exp.Expr | None
    """The resolved condition (placeholders already literals, columns unqualified); None = every row."""
    hidden: frozenset[str]
    """Lower-cased names of the hidden columns."""
    columns: tuple[str, ...] | None
    """The permitted columns in table order (None when no column is hidden: ``SELECT *``)."""


@dataclass(frozen=True)
class AccessPolicy:
    """The rules of one datasource resolved for one principal."""

    datasource: str
    principal: str
    tables: Mapping[str, TablePolicy] = field(default_factory=dict)
    """Keyed by lower-cased table name."""

    @property
    def empty(self) -> bool:
        """No table is protected for this principal."""
        return not self.tables

    @property
    def filtered_tables(self) -> list[str]:
        """Names of the tables whose rows are filtered."""
        return [t.table for t in self.tables.values() if t.row_filter is not None]

    @property
    def hidden_columns(self) -> dict[str, list[str]]:
        """Hidden columns per table (lower-cased)."""
        return {t.table: sorted(t.hidden) for t in self.tables.values() if t.hidden}


def _substitute(condition: exp.Expr, name: str, attrs: Mapping[str, str]) -> exp.Expr:
    """Replace ``:user.x`` by a string literal; an attribute the principal lacks makes the rule ``FALSE``."""
    missing: list[str] = []

    def replace(node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.Dot) and isinstance(node.this, exp.Placeholder) and str(node.this.this).lower() == "user":
            attr = node.name
            value = name if attr == "name" else attrs.get(attr)
            if value is None or "\x00" in value:  # a NUL cannot travel in SQL text (SQLite refuses it)
                missing.append(attr)
                return exp.null()
            return exp.Literal.string(str(value))
        if isinstance(node, exp.Placeholder):
            raise PolicyError(f"Unknown placeholder {node.sql()!r} in a row filter; use :user.name or :user.<attr>.")
        return node

    resolved = condition.copy().transform(replace, copy=False)
    return exp.false() if missing else resolved


def _parse_filter(rule: PolicyRule, dialect: Dialect) -> exp.Expr:
    assert rule.row_filter is not None
    try:
        condition: exp.Expr = sqlglot.parse_one(rule.row_filter, read=dialect)
    except SqlglotError as exc:
        raise PolicyError(f"The row filter of {rule.datasource}.{rule.table} does not parse: {exc}") from exc
    if isinstance(condition, exp.Query) or not isinstance(condition, exp.Condition):
        raise PolicyError(f"The row filter of {rule.datasource}.{rule.table} is not a condition.")
    if condition.find(exp.Query, exp.Table):
        raise PolicyError(f"The row filter of {rule.datasource}.{rule.table} may not contain a subquery.")
    for ref in condition.find_all(exp.Column):  # `orders.region` and `region` both mean the scanned table's
        ref.set("table", None)
        ref.set("db", None)
        ref.set("catalog", None)
    return condition


def policy_from_rules(
    rules: Iterable[PolicyRule], principal: Mapping[str, Any] | None, schema: Schema
) -> AccessPolicy:
    """Resolve the rules of ``schema``'s datasource that apply to ``principal``.

    ``principal`` is a :class:`graph.state.Principal` (name, roles, attrs); None is open mode: no policy.

    Raises:
        PolicyError: a rule names a table or column the schema does not have, or its filter is malformed.
    """
    if principal is None:
        return AccessPolicy(schema.datasource_id, "")
    name = str(principal.get("name", ""))
    roles = list(principal.get("roles") or [])
    attrs = {str(k): str(v) for k, v in (principal.get("attrs") or {}).items()}
    filters: dict[str, list[exp.Expr]] = {}
    hidden: dict[str, set[str]] = {}
    for rule in rules:
        if rule.datasource != schema.datasource_id or not rule.applies_to(name, roles):
            continue
        table = schema.table(rule.table)
        if table is None:
            raise PolicyError(f"A policy names the table {rule.table!r}, which {schema.datasource_id} does not have.")
        key = table.name.lower()
        hidden.setdefault(key, set())
        for column in rule.hidden_columns:
            if table.column(column) is None:
                raise PolicyError(f"A policy hides {rule.table}.{column}, which does not exist.")
            hidden[key].add(column.lower())
        if rule.row_filter is not None:
            condition = _parse_filter(rule, schema.dialect)
            for ref in condition.find_all(exp.Column):
                if table.column(ref.name) is None:
                    raise PolicyError(f"The row filter of {rule.table} names {ref.name!r}, which it does not have.")
            filters.setdefault(key, []).append(_substitute(condition, name, attrs))
    tables: dict[str, TablePolicy] = {}
    for key in hidden.keys() | filters.keys():
        table = schema.table(key)
        assert table is not None
        conditions = filters.get(key)
        combined: exp.Expr | None = None
        if conditions:
            combined = exp.or_(*(exp.paren(c, copy=False) for c in conditions), copy=False)
        gone = frozenset(hidden.get(key, ()))
        if combined is None and not gone:
            continue
        permitted = tuple(c.name for c in table.columns if c.name.lower() not in gone) if gone else None
        if permitted == ():
            raise PolicyError(f"A policy hides every column of {table.name}; hide the table from the datasource instead.")
        tables[key] = TablePolicy(table.name, combined, gone, permitted)
    return AccessPolicy(schema.datasource_id, name, tables)


def visible_schema(schema: Schema, policy: AccessPolicy | None) -> Schema:
    """``schema`` without the columns ``policy`` hides (what both SQL writers are shown)."""
    if policy is None or not any(t.hidden for t in policy.tables.values()):
        return schema
    tables: list[Table] = []
    for table in schema.tables:
        entry = policy.tables.get(table.name.lower())
        if entry is None or not entry.hidden:
            tables.append(table)
            continue
        columns = tuple(c for c in table.columns if c.name.lower() not in entry.hidden)
        keys = tuple(k for k in table.foreign_keys if k.column.lower() not in entry.hidden)
        tables.append(Table(table.name, columns, table.description_en, table.description_zh, keys, table.row_count))
    # a key from another table pointing at a hidden column would name it too
    cleaned = []
    for table in tables:
        keys = tuple(k for k in table.foreign_keys if not _points_at_hidden(k, policy))
        cleaned.append(table if keys == table.foreign_keys else Table(
            table.name, table.columns, table.description_en, table.description_zh, keys, table.row_count))
    # caches keyed by the version (the offline writer's schema index) must tell one hidden set from another
    hidden = sorted(f"{t}.{c}" for t, cols in policy.hidden_columns.items() for c in cols)
    digest = hashlib.sha256("\n".join(hidden).encode()).hexdigest()[:12]
    return Schema(schema.datasource_id, schema.dialect, tuple(cleaned), schema.description_en,
                  schema.description_zh, f"{schema.version}:hidden-{digest}")


def _points_at_hidden(key: ForeignKey, policy: AccessPolicy) -> bool:
    entry = policy.tables.get(key.ref_table.lower())
    return entry is not None and key.ref_column.lower() in entry.hidden


def visible_columns(table: Table, policy: AccessPolicy | None) -> tuple[Column, ...]:
    """The columns of ``table`` that ``policy`` lets its principal see."""
    entry = policy.tables.get(table.name.lower()) if policy else None
    return table.columns if entry is None else tuple(c for c in table.columns if c.name.lower() not in entry.hidden)


# --- the rewrite ------------------------------------------------------------------------------------------


def _cte_names(with_: exp.With) -> list[str]:
    return [str(cte.alias_or_name).lower() for cte in with_.expressions if isinstance(cte, exp.CTE)]


def _physical_scans(root: exp.Expression, protected: Mapping[str, TablePolicy]) -> list[exp.Table]:
    """Every ``exp.Table`` that reads a protected table, with CTE names scoped as the database scopes them."""
    found: list[exp.Table] = []
    stack: list[tuple[exp.Expression, frozenset[str]]] = [(root, frozenset())]
    while stack:
        node, visible = stack.pop()
        if isinstance(node, exp.Table) and isinstance(node.this, exp.Identifier):
            name = node.name.lower()
            qualified = bool(node.args.get("db") or node.args.get("catalog"))
            if name in protected and (qualified or name not in visible):
                found.append(node)
        with_ = node.args.get("with_") or node.args.get("with")
        if not isinstance(with_, exp.With):
            stack.extend((child, visible) for child in node.iter_expressions())
            continue
        names = _cte_names(with_)
        everything = visible | frozenset(names)
        recursive = bool(with_.args.get("recursive"))
        for child in node.iter_expressions():
            if child is not with_:
                stack.append((child, everything))
                continue
            for i, cte in enumerate(with_.expressions):  # a CTE sees the earlier ones (itself too if RECURSIVE)
                stack.append((cte, everything if recursive else visible | frozenset(names[:i])))
    return found


def _derived_table(scan: exp.Table, entry: TablePolicy, dialect: Dialect) -> exp.Subquery:
    inner = scan.copy()
    for key in ("alias", *_MOVED_OUT):
        inner.set(key, None)
    inner.set("alias", exp.TableAlias(this=exp.to_identifier(INNER_ALIAS)))
    if entry.columns is None:
        projection: list[exp.Expression] = [exp.Star()]
    else:
        projection = [exp.column(c, table=INNER_ALIAS, quoted=True) for c in entry.columns]
    select = exp.Select(expressions=projection).from_(inner, copy=False)
    if entry.row_filter is not None:
        condition = entry.row_filter.copy()
        for column in condition.find_all(exp.Column):
            column.set("table", exp.to_identifier(INNER_ALIAS))
        select = select.where(condition, copy=False)
    if dialect == "postgres":
        select = select.offset(0, copy=False)  # an optimisation fence: see the module docstring
    alias = scan.args.get("alias")
    if alias is None:
        alias = exp.TableAlias(this=exp.to_identifier(scan.name, quoted=scan.this.quoted))
    elif alias.columns and entry.columns is not None:
        raise ColumnNotPermitted(entry.table, "(a column alias list renames every column, hidden ones included)")
    subquery = exp.Subquery(this=select, alias=alias.copy())
    for key in _MOVED_OUT:
        value = scan.args.get(key)
        if value:
            subquery.set(key, value)
    return subquery


def _check_columns(root: exp.Expression, scans: Sequence[exp.Table], protected: Mapping[str, TablePolicy]) -> None:
    """Refuse a reference to a hidden column, naming it (the derived tables would stop it anyway)."""
    hiding = [(s, protected[s.name.lower()]) for s in scans if protected[s.name.lower()].hidden]
    if not hiding:
        return
    by_alias: dict[str, TablePolicy] = {}
    names: dict[str, str] = {}
    for scan, entry in hiding:
        by_alias[scan.alias_or_name.lower()] = entry
        for hidden in entry.hidden:
            names.setdefault(hidden, entry.table)
    for ref in root.find_all(exp.Column):
        if isinstance(ref.this, exp.Star):
            continue
        name = ref.name.lower()
        qualifier = ref.table.lower()
        if qualifier:
            owner = by_alias.get(qualifier)
            if owner is not None and name in owner.hidden:
                raise ColumnNotPermitted(owner.table, ref.name)
        elif name in names:
            raise ColumnNotPermitted(names[name], ref.name)


def apply_policy_tree(statement: exp.Expression, dialect: Dialect, policy: AccessPolicy) -> exp.Expression:
    """A rewritten copy of a guarded statement in which every scan of a protected table is filtered.

    Raises:
        ColumnNotPermitted: the statement names a hidden column.
    """
    if policy.empty:
        return statement
    root = statement.copy()
    scans = _physical_scans(root, policy.tables)
    _check_columns(root, scans, policy.tables)
    for scan in scans:  # collected first: the derived tables' own scans must not be wrapped again
        scan.replace(_derived_table(scan, policy.tables[scan.name.lower()], dialect))
    return root


def apply_policy(sql: str | exp.Expression, dialect: Dialect, policy: AccessPolicy) -> str:
    """:func:`apply_policy_tree` on SQL text (parsed as one statement of ``dialect``), back to SQL text."""
    statement = parse_one_statement(sql, dialect) if isinstance(sql, str) else sql
    return apply_policy_tree(statement, dialect, policy).sql(dialect=dialect)


# --- where rules come from --------------------------------------------------------------------------------


class PolicyProvider(Protocol):
    """Something that knows the rules of every datasource."""

    def rules(self, datasource: str) -> Sequence[PolicyRule]:
        """The rules for ``datasource``."""
        ...


class StaticPolicies:
    """Rules held in memory (tests, embedding)."""

    def __init__(self, rules: Iterable[PolicyRule] = ()) -> None:
        self._rules = tuple(rules)

    def rules(self, datasource: str) -> Sequence[PolicyRule]:
        """The rules for ``datasource``."""
        return [r for r in self._rules if r.datasource == datasource]


def load_rules(path: Path) -> list[PolicyRule]:
    """Rules from a YAML or JSON file (``.yaml``/``.yml`` is YAML, anything else JSON).

    The file holds ``{"rules": [{datasource, table, users?, roles?, row_filter?, hidden_columns?}, ...]}`` or
    the bare list.

    Raises:
        PolicyError: the file is missing, unreadable or malformed.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError(f"The policy file {path} cannot be read: {exc}") from exc
    try:
        if path.suffix.lower() in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text)
        else:
            data = json.loads(text)
    except Exception as exc:  # noqa: BLE001 - any parser's error is a malformed file
        raise PolicyError(f"The policy file {path} is not valid {path.suffix.lstrip('.').upper() or 'JSON'}: {exc}") from exc
    items = data.get("rules") if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise PolicyError(f"The policy file {path} must hold a list of rules (under 'rules').")
    return [PolicyRule.from_dict(item) for item in items]


class FilePolicies(StaticPolicies):
    """Rules read once from a YAML/JSON file (``SQLBOT_POLICY_FILE``)."""

    def __init__(self, path: Path) -> None:
        super().__init__(load_rules(path))
        self.path = path


def policies_from_env(path: str | os.PathLike[str] | None = None) -> StaticPolicies:
    """The configured rules: ``path`` or ``$SQLBOT_POLICY_FILE``, else none."""
    chosen = path or os.environ.get("SQLBOT_POLICY_FILE")
    return FilePolicies(Path(chosen)) if chosen else StaticPolicies()
