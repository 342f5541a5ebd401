from datasources.registry import Registry


async def test_demo_datasources_answer_queries(registry: Registry) -> None:
    assert [c.id for c in registry.list()] == ["flights", "superstore", "movies"]
    result = await registry.connect("flights").run(
        "SELECT count(*) AS n FROM flights", max_rows=10, timeout_s=10
    )
    assert result.rows == [[336776]]
    schema = registry.schema("superstore")
    assert schema.table("superstore") is not None
