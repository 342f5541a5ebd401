"""The graph's shape is pinned: a change to nodes or edges must update the snapshot on purpose."""

from pathlib import Path

from graph.builder import build_graph

SNAPSHOT = Path(__file__).parent / "snapshots" / "graph.mmd"


def test_mermaid_snapshot(settings) -> None:
    drawing = build_graph(settings=settings).get_graph().draw_mermaid()
    if not SNAPSHOT.exists():  # first run writes it; review and commit
        SNAPSHOT.parent.mkdir(exist_ok=True)
        SNAPSHOT.write_text(drawing)
    assert drawing == SNAPSHOT.read_text()
