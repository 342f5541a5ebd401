"""Row and column policies: resolving rules for a principal, hidden-column refusals, placeholders as literals,
rule files, the writer's schema, and PostgreSQL's optimisation fence."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from datasources.guard import check_sql
from datasources.policy import (
    ColumnNotPermitted,
    PolicyError,
    PolicyRule,
    StaticPolicies,
    apply_policy,
    load_rules,
    policies_from_env,
    policy_from_rules,
    visible_schema,
)
from datasources.schema import ForeignKey, Schema, Table
from tests.datasources.test_policy_escapes import (  # noqa: F401 - the fixtures are used by name
    ALICE,
    RULES,
    Pair,
    duckdb_pair,
    postgres_pair,
    schema_for,
    sqlite_pair,
)

DUCK = schema_for("duckdb")


def run(pair: Pair, sql: str, principal: dict = ALICE, rules: list[PolicyRule] = RULES) -> list[tuple]:  # type: ignore[type-arg]
    policy = policy_from_rules(rules, principal, schema_for(pair.dialect))
    return pair.full(apply_policy(check_sql(sql, schema_for(pair.dialect)), pair.dialect, policy))


@pytest.mark.parametrize("sql", [
    "SELECT email FROM customers",
    "SELECT c.email FROM customers c",
    "SELECT CUSTOMERS.EMAIL FROM customers",
    'SELECT "email" FROM customers',
    "SELECT name FROM customers WHERE email LIKE '%@%'",
    "SELECT max(email) FROM customers",
    "SELECT count(*) FROM customers GROUP BY email",
    "SELECT name FROM customers ORDER BY email",
    "WITH t AS (SELECT email FROM customers) SELECT * FROM t",
    "SELECT (SELECT max(email) FROM customers) AS m",
    "SELECT o.id FROM orders o JOIN customers c ON c.email = o.note",
    "SELECT id FROM products UNION SELECT email FROM customers",
])
def test_a_hidden_column_is_refused_by_name(sql: str) -> None:
    policy = policy_from_rules(RULES, ALICE, DUCK)
    with pytest.raises(ColumnNotPermitted) as info:
        apply_policy(check_sql(sql, DUCK), "duckdb", policy)
    assert info.value.column.lower() == "email" and info.value.table == "customers"
    assert "email" in info.value.message.lower()


def test_star_lists_only_permitted_columns(duckdb_pair: Pair) -> None:
    policy = policy_from_rules(RULES, ALICE, DUCK)
    sql = apply_policy("SELECT * FROM customers", "duckdb", policy)
    assert "email" not in sql.lower()
    rows = duckdb_pair.full(sql)
    assert rows and all(len(r) == 3 for r in rows)
    assert not any("@" in str(v) for r in rows for v in r)


def test_column_alias_list_on_a_table_with_hidden_columns_is_refused() -> None:
    policy = policy_from_rules(RULES, ALICE, DUCK)
    with pytest.raises(ColumnNotPermitted):
        apply_policy("SELECT a FROM customers AS c(a, b, x, y)", "duckdb", policy)


@pytest.mark.parametrize("value", ["north' OR '1'='1", "north'; DROP TABLE orders; --", "north\\", "' UNION SELECT 1 --"])
def test_placeholders_are_literals(value: str, duckdb_pair: Pair, sqlite_pair: Pair) -> None:
    principal = {**ALICE, "attrs": {"region": value}}
    for pair in (duckdb_pair, sqlite_pair):
        assert run(pair, "SELECT count(*) FROM orders", principal) == [(0,)]


def test_a_missing_attribute_grants_nothing(duckdb_pair: Pair) -> None:
    assert run(duckdb_pair, "SELECT count(*) FROM orders", {**ALICE, "attrs": {}}) == [(0,)]


def test_user_name_placeholder_and_rules_are_or_ed(duckdb_pair: Pair) -> None:
    rules = [PolicyRule("shop", "orders", users=("*",), row_filter="note = 'n' || :user.name"),
             PolicyRule("shop", "orders", roles=("east",), row_filter="region = 'east'")]
    assert run(duckdb_pair, "SELECT id FROM orders", {"name": "7", "roles": [], "attrs": {}}, rules) == [(7,)]
    both = run(duckdb_pair, "SELECT count(*) FROM orders", {"name": "7", "roles": ["east"], "attrs": {}}, rules)
    assert both == [(11,)]  # n7 (a west order) plus the ten east orders


def test_rules_for_others_or_elsewhere_do_not_apply() -> None:
    bob = {"name": "bob", "roles": ["viewer"], "attrs": {}}
    policy = policy_from_rules(RULES, bob, DUCK)
    assert list(policy.tables) == [] and policy.empty
    assert policy_from_rules(RULES, None, DUCK).empty, "no principal: open mode"
    other = Schema("elsewhere", "duckdb", DUCK.tables)
    assert policy_from_rules(RULES, ALICE, other).empty


@pytest.mark.parametrize(("rule", "message"), [
    (PolicyRule("shop", "nope", row_filter="1 = 1"), "nope"),
    (PolicyRule("shop", "orders", hidden_columns=("nope",)), "nope"),
    (PolicyRule("shop", "orders", row_filter="nope = 1"), "nope"),
    (PolicyRule("shop", "orders", row_filter="region IN (SELECT region FROM customers)"), "subquery"),
    (PolicyRule("shop", "orders", row_filter="region = :tenant"), "placeholder"),
    (PolicyRule("shop", "orders", row_filter="region = = 1"), "parse"),
    (PolicyRule("shop", "products", hidden_columns=("id", "name", "price")), "every column"),
])
def test_malformed_rules_are_refused(rule: PolicyRule, message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        policy_from_rules([rule], ALICE, DUCK)


def test_rule_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    yaml_file = tmp_path / "policy.yaml"
    yaml_file.write_text(
        "rules:\n"
        "  - datasource: shop\n    table: orders\n    roles: [analyst]\n    row_filter: \"region = :user.region\"\n"
        "  - datasource: shop\n    table: customers\n    users: alice\n    hidden_columns: [email]\n",
        encoding="utf-8",
    )
    rules = load_rules(yaml_file)
    assert rules[0] == PolicyRule("shop", "orders", roles=("analyst",), row_filter="region = :user.region")
    assert rules[1].users == ("alice",) and rules[1].hidden_columns == ("email",)
    json_file = tmp_path / "policy.json"
    json_file.write_text(json.dumps([{"datasource": "shop", "table": "orders", "row_filter": "id < 3"}]), encoding="utf-8")
    assert load_rules(json_file)[0].row_filter == "id < 3"
    monkeypatch.setenv("SQLBOT_POLICY_FILE", str(yaml_file))
    assert len(policies_from_env().rules("shop")) == 2
    monkeypatch.delenv("SQLBOT_POLICY_FILE")
    assert isinstance(policies_from_env(), StaticPolicies) and not policies_from_env().rules("shop")
    (tmp_path / "bad.json").write_text('[{"table": "orders"}]', encoding="utf-8")
    with pytest.raises(PolicyError, match="datasource"):
        load_rules(tmp_path / "bad.json")
    (tmp_path / "typo.yaml").write_text("- {datasource: shop, table: orders, hiden_columns: [x]}\n", encoding="utf-8")
    with pytest.raises(PolicyError, match="hiden_columns"):
        load_rules(tmp_path / "typo.yaml")


def test_visible_schema_drops_hidden_columns_and_their_keys() -> None:
    orders = Table("orders", DUCK.tables[0].columns, foreign_keys=(ForeignKey("customer_id", "customers", "email"),))
    schema = Schema("shop", "duckdb", (orders, *DUCK.tables[1:]), version="v1")
    visible = visible_schema(schema, policy_from_rules(RULES, ALICE, schema))
    customers = visible.table("customers")
    assert customers is not None and [c.name for c in customers.columns] == ["id", "name", "region"]
    assert visible.table("orders").foreign_keys == ()  # type: ignore[union-attr]
    assert visible.version != schema.version
    other = visible_schema(schema, policy_from_rules(
        [PolicyRule("shop", "orders", hidden_columns=("note",))], ALICE, schema))
    assert other.version not in (schema.version, visible.version), "a schema index cache tells hidden sets apart"
    assert visible_schema(schema, None) is schema


def test_postgres_filter_is_an_optimisation_fence(postgres_pair: Pair) -> None:
    """A function in the outer WHERE never sees a row the filter removes (no error-message side channel)."""
    sql = "SELECT count(*) FROM orders WHERE 1 / (CASE WHEN region = 'south' THEN 0 ELSE 1 END) = 1"
    with pytest.raises(Exception, match="division by zero"):
        postgres_pair.full(sql)
    assert run(postgres_pair, sql) == [(10,)]
    joined = ("SELECT count(*) FROM orders o JOIN products p ON p.id = 1 "
              "WHERE 1 / (CASE WHEN o.region = 'west' THEN 0 ELSE 1 END) = 1")
    assert run(postgres_pair, joined) == [(10,)]


def test_duckdb_conversion_errors_do_not_probe_hidden_rows(duckdb_pair: Pair) -> None:
    """The same probe on DuckDB: a cast that fails only on a filtered-out row never runs on one."""
    sql = "SELECT count(*) FROM orders WHERE CAST(CASE WHEN region = 'south' THEN 'x' ELSE '1' END AS INTEGER) = 1"
    with pytest.raises(Exception, match="onver"):
        duckdb_pair.full(sql)
    assert run(duckdb_pair, sql) == [(10,)]
