"""The two other sides of `bench/catalog`: the stock stac-fastapi-pgstac app and the SQL floor,
and the CPU accounting of the concurrent runs.

- The stock app: `stac_fastapi.pgstac.app:create_app` (the version in this venv) under uvicorn,
  on a free port, over the same database, default settings (in-database hydration, every
  extension, pool of 1..10 connections), one worker like ours.
- The floor: one indexed SQL query on `pgstac.items` (partitioned by collection and year) with the same
  filter, `ORDER BY datetime DESC, id DESC LIMIT 100`, through asyncpg; it returns the stored
  rows (`id`, `datetime`, the geometry as GeoJSON and the stored, dehydrated `content`),
  decoded in the client: what any search must at least read and ship. JIT off in its session.
- CPU: utime + stime from /proc of a process and all its descendants, plus the time of its
  children already reaped (cutime + cstime): the API process (uvicorn), and the PostgreSQL
  postmaster of the stack (its backends, the ones that exited during the run included).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import httpx

CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- CPU accounting -------------------------------------------------------------------------


def _stat(pid: int) -> tuple[int, float, float] | None:
    """(ppid, own utime+stime, reaped children's cutime+cstime) in seconds."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2 :].split()
    # fields[0] is field 3 (state): ppid = 4, utime = 14, stime = 15, cutime = 16, cstime = 17.
    ppid = int(fields[1])
    own = (int(fields[11]) + int(fields[12])) / CLK_TCK
    reaped = (int(fields[13]) + int(fields[14])) / CLK_TCK
    return ppid, own, reaped


def tree_cpu_s(root: int) -> float:
    """CPU seconds of `root` and every descendant alive, plus what its reaped children used."""
    stats = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            st = _stat(int(entry))
            if st is not None:
                stats[int(entry)] = st
    children: dict[int, list[int]] = {}
    for pid, (ppid, _, _) in stats.items():
        children.setdefault(ppid, []).append(pid)
    if root not in stats:
        return 0.0
    total = stats[root][2]
    todo = [root]
    while todo:
        pid = todo.pop()
        total += stats[pid][1]
        todo.extend(children.get(pid, []))
    return total


def postmaster_pid(stack_dir: str, pg_port: int) -> int | None:
    """The postmaster of the stack's PostgreSQL: its data directory's `postmaster.pid` whose
    port line is ours (the stack keeps its data under DINAMIS_STACK_DIR)."""
    for pidfile in Path(stack_dir).rglob("postmaster.pid"):
        try:
            lines = pidfile.read_text().splitlines()
        except OSError:
            continue
        if len(lines) > 3 and lines[3].strip() == str(pg_port):
            return int(lines[0])
    return None


# --- the stock app ----------------------------------------------------------------------------


def start_stock(dsn: str, port: int, log_dir: Path, ready_s: float = 60) -> subprocess.Popen:
    """`uvicorn stac_fastapi.pgstac.app:create_app --factory`, its settings from PG* (the
    installed version's `PostgresSettings`), everything else left at its default."""
    url = urlsplit(dsn)
    env = {
        **os.environ,
        "PGUSER": url.username or "",
        "PGPASSWORD": url.password or "",
        "PGHOST": url.hostname or "127.0.0.1",
        "PGPORT": str(url.port or 5432),
        "PGDATABASE": url.path.lstrip("/"),
    }
    uvicorn = Path(__file__).resolve().parents[1] / ".venv" / "bin" / "uvicorn"
    log = (log_dir / f"stock-{port}.log").open("wb")
    proc = subprocess.Popen(
        [
            str(uvicorn),
            "stac_fastapi.pgstac.app:create_app",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        env=env,
        stdout=log,
        stderr=log,
    )
    deadline = time.monotonic() + ready_s
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/_mgmt/ping", timeout=3).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"the stock stac-fastapi-pgstac app did not start; see {log.name}")
        time.sleep(0.5)


# --- the floor --------------------------------------------------------------------------------

# The floor's session: no JIT (as the catalog's pool: compiling costs more than the query).
FLOOR_SESSION = {"jit": "off"}
FLOOR_COLUMNS = "id, datetime, ST_AsGeoJSON(geometry) AS geometry, content"
FLOOR_FIELDS_COLUMNS = "id, datetime, content->'properties'->'eo:cloud_cover' AS cloud"


def floor_query(body: dict) -> tuple[str, list[Any]]:
    """The SQL of a search body (the shapes the bench sends), its parameters, and the cursor
    predicate of keyset paging (`after`: the (datetime, id) of the previous page's last row)."""
    where = ["collection = $1"]
    args: list[Any] = [body["collections"][0]]
    if "bbox" in body:
        w, s, e, n = body["bbox"]
        args += [w, s, e, n]
        k = len(args)
        where.append(f"ST_Intersects(geometry, ST_MakeEnvelope(${k - 3}, ${k - 2}, ${k - 1}, ${k}, 4326))")
    if "intersects" in body:
        args.append(json.dumps(body["intersects"]))
        where.append(f"ST_Intersects(geometry, ST_SetSRID(ST_GeomFromGeoJSON(${len(args)}), 4326))")
    if "datetime" in body:
        start, end = body["datetime"].split("/")
        args += [_ts(start), _ts(end)]
        where.append(f"datetime <= ${len(args)} AND end_datetime >= ${len(args) - 1}")
    if "filter" in body:  # the bench's only filter: eo:cloud_cover < value
        args.append(float(body["filter"]["args"][1]))
        where.append(f"(content->'properties'->>'eo:cloud_cover')::float < ${len(args)}")
    if "after" in body:
        args += list(body["after"])
        where.append(f"(datetime, id) < (${len(args) - 1}, ${len(args)})")
    columns = FLOOR_FIELDS_COLUMNS if "fields" in body else FLOOR_COLUMNS
    sql = f"SELECT {columns} FROM pgstac.items WHERE {' AND '.join(where)}"
    sql += " ORDER BY datetime DESC, id DESC LIMIT 100"
    return sql, args


def _ts(text: str) -> Any:
    from datetime import datetime

    return datetime.fromisoformat(text.replace("Z", "+00:00"))


async def floor_search(conn: asyncpg.Connection | asyncpg.Pool, body: dict) -> tuple[list[str], Any]:
    """Run the floor query; decode every row's JSON like a client would. Returns the ids and
    the (datetime, id) of the last row (the keyset cursor of the next page)."""
    sql, args = floor_query(body)
    rows = await conn.fetch(sql, *args)
    if "fields" not in body:
        for row in rows:
            json.loads(row["content"])
            json.loads(row["geometry"])
    last = (rows[-1]["datetime"], rows[-1]["id"]) if rows else None
    return [row["id"] for row in rows], last
