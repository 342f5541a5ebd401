"""The ``sqlbot`` command: ask a question in the terminal (live step view or JSON lines), list datasources, serve."""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from typing import Annotated, Any

import typer
from rich.console import Console, Group
from rich.live import Live
from rich.markdown import Markdown
from rich.panel import Panel
from rich.progress_bar import ProgressBar
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text

from graph.protocol import Event
from graph.steps import STEPS, Locale

app = typer.Typer(help="SQLBot: ask your data questions and watch every step.", no_args_is_help=True, add_completion=False)

_ICONS = {"pending": ("○", "dim"), "running": ("◐", "cyan"), "completed": ("✔", "green"), "skipped": ("⤼", "dim"), "error": ("✖", "red")}


class StepView:
    """Terminal rendering of one run's events: the step list with status, progress and timing, then the answer."""

    def __init__(self, locale: Locale) -> None:
        self.locale: Locale = locale
        self.status = {s.id: "pending" for s in STEPS}
        self.progress: dict[str, int | None] = {}
        self.message: dict[str, str] = {}
        self.summary: dict[str, str] = {}
        self.duration: dict[str, int] = {}
        self.sql = ""
        self.reasoning = ""
        self.explanation = ""
        self.final: dict[str, Any] | None = None
        self.error: dict[str, Any] | None = None

    def apply(self, event: Event) -> None:
        """Fold one event into the view."""
        e = event.wire()
        kind = e["type"]
        if kind == "step_start":
            sid = e["step"]["id"]
            self.status[sid] = "running"
            self.progress[sid] = None
            self.message.pop(sid, None)
            if e["step"]["name"] == "generate_sql":
                self.sql = ""
                self.reasoning = ""
            if e["step"]["name"] == "present_result":
                self.explanation = ""
        elif kind == "step_progress":
            if e.get("progress") is not None:
                self.progress[e["stepId"]] = e["progress"]
            if e.get("message"):
                self.message[e["stepId"]] = e["message"]
        elif kind == "step_content":
            content = e["content"]
            kind_ = (content.get("metadata") or {}).get("kind")
            if kind_ == "sql":
                self.sql += content.get("text", "")
            elif kind_ == "explanation":
                self.explanation += content.get("text", "")
            self.reasoning += content.get("reasoning") or ""
        elif kind == "step_complete":
            sid, result = e["stepId"], e["result"]
            if sid == "step_004" and isinstance(result.get("data"), dict) and result["data"].get("sql"):
                self.sql = result["data"]["sql"]  # the extracted statement replaces the model's raw text
            self.status[sid] = "skipped" if result.get("skipped") else "completed"
            self.summary[sid] = result.get("summary", "") + (" (cached)" if result.get("cached") else "") + (" (reused)" if result.get("reused") else "")
            self.duration[sid] = result["duration"]
        elif kind == "step_error":
            self.status[e["stepId"]] = "error"
            self.summary[e["stepId"]] = e["error"]["message"]
        elif kind == "final_complete":
            self.final = e["summary"]
        elif kind == "stream_error":
            self.error = e["error"]

    def render(self) -> Group:
        """The current picture."""
        table = Table.grid(padding=(0, 1))
        table.add_column(width=2)
        table.add_column(min_width=22)
        table.add_column(width=22)
        table.add_column(justify="right", width=8)
        table.add_column(ratio=1)
        for step in STEPS:
            status = self.status[step.id]
            icon, style = _ICONS[status]
            pct = self.progress.get(step.id)
            bar: Any = ""
            if status == "running":
                bar = ProgressBar(total=100, completed=pct or 0, width=20, pulse=pct is None)
            elif status in ("completed", "skipped"):
                bar = ProgressBar(total=100, completed=100, width=20)
            took = f"{self.duration[step.id]} ms" if step.id in self.duration else ""
            note = self.summary.get(step.id) or self.message.get(step.id, "")
            table.add_row(Text(icon, style=style), Text(step.title(self.locale), style=style), bar, took, Text(note, style="dim" if status != "error" else "red"))
        parts: list[Any] = [table]
        if self.reasoning and self.status["step_004"] == "running":
            recent = "\n".join(self.reasoning.strip().splitlines()[-3:])
            parts.append(Text(recent, style="dim italic"))
        if self.sql:
            shown = "\n".join(line for line in self.sql.splitlines() if not line.lstrip().startswith("```"))
            parts.append(Panel(Syntax(shown, "sql", word_wrap=True), title="SQL", border_style="cyan"))
        return Group(*parts)

    def answer(self) -> Group:
        """The result table and explanation once the run is done."""
        parts: list[Any] = []
        if self.final:
            output = self.final["output"]
            columns = output.get("columns") or []
            rows = output.get("data") or []
            if columns:
                table = Table(*columns, header_style="bold", title=f"{output.get('rowCount', 0)} rows" + (" (truncated)" if output.get("truncated") else ""))
                for row in rows[:20]:
                    table.add_row(*[_cell(row.get(c)) for c in columns])
                if len(rows) > 20:
                    table.caption = f"… {len(rows) - 20} more rows"
                parts.append(table)
            if output.get("chart") and output["chart"]["type"] != "table":
                parts.append(Text(f"chart: {output['chart']['type']}", style="dim"))
            if output.get("interpretation"):
                heading = "理解为：" if self.locale == "zh" else "Understood as: "
                parts.append(Text(heading + output["interpretation"], style="italic"))
            if output.get("explanation"):
                parts.append(Markdown(output["explanation"]))
            parts.append(Text(f"{self.final['totalDuration']} ms", style="dim"))
        if self.error:
            body = f"{self.error['message']}\n\n" + (f"建议：{self.error['suggestion']}" if self.locale == "zh" else f"Suggestion: {self.error['suggestion']}")
            parts.append(Panel(body, title=f"{self.error['title']} [{self.error['code']}]", border_style="red"))
        return Group(*parts)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}"
    return "" if value is None else str(value)


async def _ask(question: str, datasource: str | None, locale: str | None, as_json: bool) -> int:
    from graph.builder import build_graph
    from graph.context import Context
    from graph.events import start_run
    from graph.settings import get_settings
    from nodes.analyzing_question import detect_language

    settings = get_settings()
    graph = build_graph(settings=settings)
    context = Context.from_settings(settings)
    run_locale: Locale = "zh" if (locale or detect_language(question)) == "zh" else "en"
    inputs: dict[str, Any] = {"question": question, "datasource_id": datasource}
    if locale:
        inputs["locale"] = locale
    stream = start_run(graph, inputs=inputs, context=context, session_id=uuid.uuid4().hex[:12], locale=run_locale)  # type: ignore[arg-type]
    failed = False
    if as_json:
        async for event in stream:
            sys.stdout.write(json.dumps(event.wire(), ensure_ascii=False) + "\n")
            sys.stdout.flush()
            failed = failed or event.type == "stream_error"
        return 1 if failed else 0
    console = Console()
    view = StepView(run_locale)
    console.print(Text(f"❯ {question}", style="bold"))
    with Live(view.render(), console=console, refresh_per_second=12, transient=False) as live:
        async for event in stream:
            view.apply(event)
            live.update(view.render())
    console.print(view.answer())
    return 1 if view.error else 0


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="The question, in Chinese or English.")],
    datasource: Annotated[str | None, typer.Option("--datasource", "-d", help="Datasource id (default: chosen automatically).")] = None,
    locale: Annotated[str | None, typer.Option("--locale", "-l", help="zh or en (default: the question's language).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one protocol event per line instead of the live view.")] = False,
) -> None:
    """Answer QUESTION, showing each step live; exits non-zero when the answer failed."""
    if locale not in (None, "zh", "en"):
        raise typer.BadParameter("--locale must be zh or en")
    raise typer.Exit(asyncio.run(_ask(question, datasource, locale, as_json)))


@app.command()
def datasources() -> None:
    """List the datasources and their tables."""
    from datasources.errors import DatasourceError
    from graph.context import registry_from_settings
    from graph.settings import get_settings

    registry = registry_from_settings(get_settings())
    console = Console()
    for config in registry.list():
        try:
            schema = registry.schema(config.id)
        except DatasourceError as exc:  # one broken datasource must not hide the others
            console.print(Text(f"{config.id} — {config.name} ({config.type}): {exc}", style="red"))
            continue
        table = Table("table", "rows", "columns", title=f"{config.id} — {config.name} ({config.type})", title_justify="left")
        for t in schema.tables:
            table.add_row(t.name, f"{t.row_count:,}" if t.row_count is not None else "", ", ".join(c.name for c in t.columns))
        console.print(table)



@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind (default: SQLBOT_HOST, 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default: SQLBOT_PORT, 8000).")] = None,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Worker processes (more than 1 needs SQLBOT_REDIS_URL and SQLBOT_DATABASE_URL).")] = 1,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
) -> None:
    """Serve the chat API and the web UI.

    One worker keeps runs in this process. Several (``--workers N``, or several ``sqlbot serve`` on other
    ports) share runs through Redis and chats and checkpoints through PostgreSQL.
    """
    import uvicorn

    from graph.settings import get_settings
    from server.app import create_app

    settings = get_settings()
    if host:  # the start-up notice about an open API depends on where it listens
        import os

        settings.host = os.environ["SQLBOT_HOST"] = host
    options: dict[str, Any] = {"host": host or settings.host, "port": port or settings.port, "log_level": log_level,
                               "timeout_graceful_shutdown": 5}
    if workers == 1:
        uvicorn.run(create_app(settings), **options)
        return
    if not settings.shared:
        missing = [name for name, value in (("SQLBOT_REDIS_URL", settings.redis_url),
                                            ("SQLBOT_DATABASE_URL", settings.database_url)) if not value]
        typer.echo(f"--workers {workers} needs the shared stores: set {' and '.join(missing)} "
                   "(runs, chats and checkpoints otherwise live in one process and its SQLite files). "
                   "See docs/scaling.md.", err=True)
        raise typer.Exit(2)
    # Each worker process builds its own app from the same environment.
    uvicorn.run("server.app:create_app", factory=True, workers=workers, **options)


users_app = typer.Typer(help="Users and their API keys (kept in the chat store's database as hashes).",
                        no_args_is_help=True)
app.add_typer(users_app, name="users")


async def _with_store(action: Any) -> Any:
    from contextlib import AsyncExitStack

    from graph.settings import get_settings
    from server.backends import open_store

    settings = get_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    async with AsyncExitStack() as stack:
        return await action(await open_store(settings, stack))


@users_app.command("add")
def users_add(
    name: Annotated[str, typer.Argument(help="The user's name (letters, digits, _.@-).")],
    role: Annotated[list[str] | None, typer.Option("--role", "-r", help="A role, e.g. admin (repeatable).")] = None,
    attr: Annotated[list[str] | None, typer.Option("--attr", "-a", help="An attribute KEY=VALUE for row policies (repeatable).")] = None,
) -> None:
    """Add a user and print its new API key (shown this once; only its hash is stored)."""
    import time

    from server.auth import hash_key, new_key
    from server.routes.users import NAME
    from server.store import StoredUser

    roles = list(dict.fromkeys(role or []))
    if not NAME.match(name) or not all(NAME.match(r) for r in roles):
        raise typer.BadParameter("names and roles are 1-64 letters, digits or _.@- characters")
    attrs: dict[str, str] = {}
    for item in attr or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"--attr {item!r} is not KEY=VALUE")
        attrs[key] = value
    api_key = new_key()

    async def add(store: Any) -> None:
        await store.add_user(StoredUser(name, hash_key(api_key), roles, attrs, time.time()))

    try:
        asyncio.run(_with_store(add))
    except ValueError as exc:
        typer.echo(f"{exc}; revoke it first to issue a new key", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"user {name} added" + (f" (roles: {', '.join(roles)})" if roles else ""), err=True)
    typer.echo("API key (shown once, store it now):", err=True)
    typer.echo(api_key)


@users_app.command("list")
def users_list() -> None:
    """List the users of the users table (never their keys)."""

    async def rows(store: Any) -> Any:
        return await store.list_users()

    table = Table("name", "roles", "attrs", "created", "status")
    for user in asyncio.run(_with_store(rows)):
        import time

        created = time.strftime("%Y-%m-%d %H:%M", time.localtime(user.created_at))
        table.add_row(user.name, ",".join(user.roles), ",".join(f"{k}={v}" for k, v in user.attrs.items()), created,
                      "revoked" if user.revoked_at is not None else "active")
    Console().print(table)


@users_app.command("revoke")
def users_revoke(name: Annotated[str, typer.Argument(help="The user whose key stops working.")]) -> None:
    """Revoke a user's key (the name can be added again with a new key)."""

    async def revoke(store: Any) -> bool:
        return bool(await store.revoke_user(name))

    if not asyncio.run(_with_store(revoke)):
        typer.echo(f"no active user {name!r}", err=True)
        raise typer.Exit(1)
    typer.echo(f"user {name} revoked", err=True)


@app.command()
def mcp(
    user: Annotated[str | None, typer.Option(help="Ask as this user, so row and column policies apply (default: open mode).")] = None,
    role: Annotated[list[str] | None, typer.Option(help="A role of --user (repeatable).")] = None,
    attr: Annotated[list[str] | None, typer.Option(help="A user attribute for row filters, NAME=VALUE (repeatable).")] = None,
) -> None:
    """Serve the MCP tools (ask, list_datasources, describe_datasource) over stdio."""
    from graph.settings import get_settings
    from graph.state import Principal
    from server.mcp_server import stdio_server

    attrs: dict[str, str] = {}
    for item in attr or []:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise typer.BadParameter(f"--attr takes NAME=VALUE, got {item!r}")
        attrs[name] = value
    if (role or attrs) and not user:
        raise typer.BadParameter("--role and --attr need --user")
    principal = Principal(name=user, roles=list(role or []), attrs=attrs) if user else None
    stdio_server(get_settings(), principal).run("stdio")


from evals.cli import register  # noqa: E402, I001 - `sqlbot eval` and `sqlbot bench` live in evals/
register(app)
