"""The registry: listing, user datasources inside the data directory only, fingerprints and caches."""

import os
import sqlite3
from pathlib import Path

import duckdb
import pytest

from datasources.errors import DatasourceNotFound, InvalidDatasource
from datasources.registry import DatasourceConfig, Registry


@pytest.fixture
def empty_registry(tmp_path: Path) -> Registry:
    reg = Registry(tmp_path / "data", max_rows=10, query_timeout_s=5)
    (tmp_path / "data").mkdir()
    return reg


def make_shop(path: Path) -> None:
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name VARCHAR, city VARCHAR)")
    con.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER, amount DOUBLE)")
    con.execute("INSERT INTO customers VALUES (1, 'Ada', 'London'), (2, 'Linus', 'Helsinki')")
    con.execute("INSERT INTO orders VALUES (1, 1, 9.5), (2, 1, 20.0), (3, 2, 7.25)")
    con.execute("COMMENT ON TABLE customers IS 'People who ordered'")
    con.close()


def make_library(path: Path) -> None:
    con = sqlite3.connect(path)
    con.executescript(
        "CREATE TABLE author (author_id INTEGER PRIMARY KEY, name TEXT);"
        "CREATE TABLE book (book_id INTEGER PRIMARY KEY, title TEXT, author_id INTEGER REFERENCES author(author_id));"
        "INSERT INTO author VALUES (1, '鲁迅'), (2, 'Jane Austen');"
        "INSERT INTO book VALUES (1, '呐喊', 1), (2, 'Emma', 2), (3, 'Persuasion', 2);"
    )
    con.commit()
    con.close()


async def test_demo_datasources_answer_queries(registry: Registry) -> None:
    assert [c.id for c in registry.list()] == ["flights", "superstore", "movies"]
    assert all(c.is_demo and c.name and c.name_zh and c.description_zh for c in registry.list())
    result = await registry.connect("flights").run(
        "SELECT count(*) AS n FROM flights", max_rows=10, timeout_s=10
    )
    assert result.rows == [[336776]]
    assert registry.connect("flights") is registry.connect("flights"), "connections are pooled"
    assert registry.test("movies") >= 0


def test_list_is_cheap_and_does_not_build(empty_registry: Registry) -> None:
    assert [c.id for c in empty_registry.list()] == ["flights", "superstore", "movies"]
    assert not (empty_registry.data_dir / "demo").exists()


def test_unknown_datasource(empty_registry: Registry) -> None:
    with pytest.raises(DatasourceNotFound, match="flights, superstore, movies"):
        empty_registry.get("nope")
    with pytest.raises(DatasourceNotFound):
        empty_registry.connect("nope")


async def test_add_and_remove_user_duckdb(empty_registry: Registry) -> None:
    reg = empty_registry
    make_shop(reg.data_dir / "shop.duckdb")
    stored = reg.add(DatasourceConfig(id="shop", name="Shop", type="duckdb", path=Path("shop.duckdb")))
    assert stored.path == (reg.data_dir / "shop.duckdb").resolve()
    assert [c.id for c in Registry(reg.data_dir).list()][-1] == "shop", "persisted for other registries"
    schema = reg.schema("shop")
    orders = schema.table("orders")
    assert orders is not None
    assert [(f.column, f.ref_table, f.ref_column, f.inferred) for f in orders.foreign_keys] == [
        ("customer_id", "customers", "id", True)
    ]
    assert schema.table("customers").description_en == "People who ordered"  # type: ignore[union-attr]
    result = await reg.connect("shop").run(
        "SELECT c.name, sum(o.amount) FROM orders o JOIN customers c ON c.id = o.customer_id GROUP BY 1 ORDER BY 1",
        max_rows=10,
        timeout_s=5,
    )
    assert result.rows == [["Ada", 29.5], ["Linus", 7.25]]
    assert [m.column for m in reg.values("shop").lookup("london")] == ["city"]
    reg.remove("shop")
    assert "shop" not in [c.id for c in reg.list()]
    with pytest.raises(DatasourceNotFound):
        reg.schema("shop")
    assert (reg.data_dir / "shop.duckdb").exists(), "removing a datasource leaves its file alone"
    reg.close()


def test_user_sqlite_with_declared_keys_and_chinese_values(empty_registry: Registry) -> None:
    reg = empty_registry
    (reg.data_dir / "uploads").mkdir()
    make_library(reg.data_dir / "uploads" / "library.sqlite")
    reg.add(
        DatasourceConfig(
            id="library", name="Library", type="sqlite", path=reg.data_dir / "uploads" / "library.sqlite"
        )
    )
    book = reg.schema("library").table("book")
    assert book is not None
    assert [(f.column, f.ref_table, f.inferred) for f in book.foreign_keys] == [
        ("author_id", "author", False)
    ]
    matches = reg.values("library").search("鲁迅写的书有哪些？还有Jane Austen的呐喊")
    assert {(m.table, m.column, m.value) for m in matches} == {
        ("author", "name", "鲁迅"),
        ("author", "name", "Jane Austen"),
        ("book", "title", "呐喊"),
    }
    reg.close()


def test_paths_outside_the_data_dir_are_refused(empty_registry: Registry, tmp_path: Path) -> None:
    reg = empty_registry
    make_shop(tmp_path / "outside.duckdb")
    with pytest.raises(InvalidDatasource, match="inside the data directory"):
        reg.add(DatasourceConfig(id="x", name="x", type="duckdb", path=tmp_path / "outside.duckdb"))
    with pytest.raises(InvalidDatasource, match="inside the data directory"):
        reg.add(DatasourceConfig(id="x", name="x", type="duckdb", path=Path("../outside.duckdb")))
    os.symlink(tmp_path / "outside.duckdb", reg.data_dir / "link.duckdb")
    with pytest.raises(InvalidDatasource, match="inside the data directory"):
        reg.add(DatasourceConfig(id="x", name="x", type="duckdb", path=Path("link.duckdb")))
    with pytest.raises(InvalidDatasource, match="inside the data directory"):
        reg.add(DatasourceConfig(id="x", name="x", type="sqlite", path=Path("/etc/passwd")))
    assert [c.id for c in reg.list()] == ["flights", "superstore", "movies"]


def test_invalid_user_datasources_are_refused(empty_registry: Registry) -> None:
    reg = empty_registry
    (reg.data_dir / "notes.txt").write_text("not a database")
    make_shop(reg.data_dir / "shop.duckdb")
    with pytest.raises(InvalidDatasource, match="could not be opened"):
        reg.add(DatasourceConfig(id="notes", name="n", type="sqlite", path=Path("notes.txt")))
    with pytest.raises(InvalidDatasource, match="does not exist"):
        reg.add(DatasourceConfig(id="gone", name="g", type="duckdb", path=Path("gone.duckdb")))
    with pytest.raises(InvalidDatasource, match="not valid"):
        reg.add(DatasourceConfig(id="Bad Id!", name="b", type="duckdb", path=Path("shop.duckdb")))
    with pytest.raises(InvalidDatasource, match="already exists"):
        reg.add(DatasourceConfig(id="flights", name="f", type="duckdb", path=Path("shop.duckdb")))
    with pytest.raises(InvalidDatasource, match="not supported"):
        reg.add(DatasourceConfig(id="pg", name="p", type="postgres", path=Path("shop.duckdb")))
    with pytest.raises(InvalidDatasource, match="cannot be removed"):
        reg.remove("flights")
    with pytest.raises(DatasourceNotFound):
        reg.remove("nope")


def test_a_changed_file_gets_a_new_fingerprint_and_schema(empty_registry: Registry) -> None:
    reg = empty_registry
    path = reg.data_dir / "t.sqlite"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE t (a INTEGER)")
    con.commit()
    reg.add(DatasourceConfig(id="t", name="t", type="sqlite", path=path))
    before, fingerprint = reg.schema("t"), reg.fingerprint("t")
    con.execute("CREATE TABLE u (b TEXT)")
    con.commit()
    con.close()
    os.utime(path, ns=(1, 10**18))  # make sure the mtime differs even on coarse clocks
    assert reg.fingerprint("t") != fingerprint
    after = reg.schema("t")
    assert [t.name for t in after.tables] == ["t", "u"] and after.version != before.version
    reg.close()
