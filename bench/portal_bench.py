"""The portal's performance budget (issue 14), measured: a new search's server time and the
search page in a real browser, over a catalogue of N items (default 100,000), in one run.

Loads the items with bench/catalog_bench.py's loader (collection `bench-catalog`: SPOT
60 km and Pléiades 20 km scenes inside metropolitan France over 10 years, partitioned by
year; kept between runs when the count matches), starts the catalog and the portal from
this checkout on free ports (against the local stack), then:

- **new search, server time**: R searches at random places (a 40-80 km area in France, a
  random year, cloud cover ≤ a random bound), each asked three ways over keep-alive HTTP:
  the catalogue's own `GET /search` with the parameters the portal sends (the baseline),
  the portal's results fragment (`GET /rechercher` with `HX-Request`, what htmx asks when
  a filter changes) and the whole page. p50/p95 per way and the ratios portal/catalogue.
- **the search page in Chromium** (Debian's, headless, Playwright with `executable_path`):
  `--pages` loads of a search URL in a fresh browser context each (empty cache: the first
  visit) and as many in one context (warm cache), each timed by the browser
  (Navigation Timing: response start, DOM interactive, DOMContentLoaded end, load end) and
  until the map's first complete render (`rendercomplete`, which portal.js marks on
  `<html data-carte="prete">`); **page weight** as transferred (Resource Timing
  `transferSize`, compressed bytes), split into the page and its code, fonts, the
  basemap, and imagery (previews relayed by the portal), which the budget excludes.
- **targets**: page interactive ≤ 1,000 ms (DOMContentLoaded end and the map rendered,
  first visit, p95), a new search ≤ 300 ms server time (fragment, p95), page weight before
  imagery ≤ 500 kB (first visit).

Prints one JSON document.
   bench/portal [--items 100000] [--runs 40] [--pages 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import psycopg
from catalog_bench import COLLECTION, load

from dinamis_shared.settings import ServiceSettings
from dinamis_testkit.testing import running_services
from tests.ports import free_ports

os.environ["DINAMIS_ENVIRONMENT"] = "development"
CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
rng = random.Random(14)
# Metropolitan France, roughly (the loader's items are inside the IGN outline).
FRANCE = (-4.5, 43.0, 7.5, 50.5)


def pct(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    at = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    return {
        "p50": round(statistics.median(ordered), 1),
        "p95": round(at(0.95), 1),
        "max": round(ordered[-1], 1),
        "n": len(ordered),
    }


def random_search() -> dict[str, str]:
    side = rng.uniform(0.5, 1.0)
    west = rng.uniform(FRANCE[0], FRANCE[2] - side)
    south = rng.uniform(FRANCE[1], FRANCE[3] - side)
    year = rng.randint(2016, 2025)
    return {
        "collection": COLLECTION,
        "debut": f"{year}-01-01",
        "fin": f"{year}-12-31",
        "nuages": str(rng.choice([20, 50, 100])),
        "bbox": f"{west:.3f},{south:.3f},{west + side:.3f},{south + side * 0.7:.3f}",
    }


def catalogue_params(form: dict[str, str], limit: int) -> list[tuple[str, str]]:
    """What the portal asks the catalogue (dinamis_portal.search.SearchForm.catalogue_params)."""
    from dinamis_portal.search import parse

    return parse(httpx.QueryParams(form)).catalogue_params(limit)


async def server_times(portal: str, catalog: str, runs: int, limit: int) -> dict[str, Any]:
    times: dict[str, list[float]] = {"catalogue": [], "portal_fragment": [], "portal_page": []}
    matched: list[int] = []
    async with httpx.AsyncClient(timeout=30) as client:
        for _ in range(3):  # connections, caches of the first statements
            form = random_search()
            await client.get(f"{catalog}/search", params=catalogue_params(form, limit))
            await client.get(f"{portal}/rechercher", params=form, headers={"HX-Request": "true"})
        for _ in range(runs):
            form = random_search()
            t0 = time.perf_counter()
            answer = await client.get(f"{catalog}/search", params=catalogue_params(form, limit))
            times["catalogue"].append((time.perf_counter() - t0) * 1000)
            answer.raise_for_status()
            matched.append(len(answer.json()["features"]))
            t0 = time.perf_counter()
            fragment = await client.get(f"{portal}/rechercher", params=form, headers={"HX-Request": "true"})
            times["portal_fragment"].append((time.perf_counter() - t0) * 1000)
            fragment.raise_for_status()
            t0 = time.perf_counter()
            page = await client.get(f"{portal}/rechercher", params=form)
            times["portal_page"].append((time.perf_counter() - t0) * 1000)
            page.raise_for_status()
    out: dict[str, Any] = {way: pct(values) for way, values in times.items()}
    base = out["catalogue"]["p50"]
    out["ratios_p50"] = {way: round(out[way]["p50"] / base, 2) for way in ("portal_fragment", "portal_page")}
    out["results_per_search"] = pct([float(m) for m in matched])
    return out


KIND_RULES = (
    ("imagery", lambda url, kind: "/apercus/" in url),
    ("fonts", lambda url, kind: "/fonts/" in url or url.endswith((".woff", ".woff2"))),
    ("basemap", lambda url, kind: "/basemap/" in url),
    ("code_and_styles", lambda url, kind: kind in ("script", "link", "css") or url.endswith((".js", ".css"))),
)

TIMING_JS = """() => {
  const nav = performance.getEntriesByType('navigation')[0];
  const res = performance.getEntriesByType('resource').map(r => ({
    url: r.name, kind: r.initiatorType, transfer: r.transferSize, body: r.decodedBodySize}));
  return {responseStart: nav.responseStart, domInteractive: nav.domInteractive,
          dcl: nav.domContentLoadedEventEnd, load: nav.loadEventEnd,
          page_transfer: nav.transferSize, page_body: nav.decodedBodySize,
          map: Number(document.documentElement.dataset.carteMs || NaN), resources: res};
}"""


async def one_load(context: Any, url: str) -> dict[str, Any]:
    page = await context.new_page()
    await page.goto(url, wait_until="load")
    await page.wait_for_function("document.documentElement.dataset.carte === 'prete'", timeout=15_000)
    timing = await page.evaluate(TIMING_JS)
    await page.close()
    return timing


def weight(timing: dict[str, Any]) -> dict[str, int]:
    kinds = {
        "page": int(timing["page_transfer"]),
        "code_and_styles": 0,
        "fonts": 0,
        "basemap": 0,
        "imagery": 0,
        "other": 0,
    }
    for r in timing["resources"]:
        kind = next((name for name, rule in KIND_RULES if rule(r["url"], r["kind"])), "other")
        kinds[kind] += int(r["transfer"])
    kinds["before_imagery"] = sum(v for k, v in kinds.items() if k != "imagery")
    return kinds


async def browser_loads(portal: str, pages: int) -> dict[str, Any]:
    from playwright.async_api import async_playwright

    urls = []
    for _ in range(pages):
        form = random_search()
        urls.append(f"{portal}/rechercher?" + httpx.QueryParams(form).__str__())
    out: dict[str, Any] = {}
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        try:
            first: list[dict[str, Any]] = []
            for url in urls:
                context = await browser.new_context(viewport={"width": 1280, "height": 900})
                first.append(await one_load(context, url))
                await context.close()
            context = await browser.new_context(viewport={"width": 1280, "height": 900})
            await one_load(context, urls[0])
            warm = [await one_load(context, url) for url in urls]
            await context.close()
        finally:
            await browser.close()
    for name, loads in (("first_visit", first), ("warm_cache", warm)):
        out[name] = {
            "response_start_ms": pct([t["responseStart"] for t in loads]),
            "dom_interactive_ms": pct([t["domInteractive"] for t in loads]),
            "dom_content_loaded_ms": pct([t["dcl"] for t in loads]),
            "load_ms": pct([t["load"] for t in loads]),
            "map_rendered_ms": pct([t["map"] for t in loads]),
            "interactive_ms": pct([max(t["dcl"], t["map"]) for t in loads]),
        }
    weights = [weight(t) for t in first]
    out["first_visit"]["weight_bytes"] = {
        k: int(statistics.median(w[k] for w in weights)) for k in weights[0]
    }
    out["warm_cache"]["weight_bytes"] = weight(warm[-1])
    heaviest = sorted(first[0]["resources"], key=lambda r: -r["transfer"])[:12]
    out["first_visit"]["heaviest"] = [
        {"url": r["url"].replace(portal, ""), "transfer": r["transfer"], "body": r["body"]} for r in heaviest
    ]
    return out


def targets(result: dict[str, Any]) -> dict[str, Any]:
    browser = result["browser"]["first_visit"]
    checks = {
        "interactive_first_visit_p95_ms": (browser["interactive_ms"]["p95"], 1000),
        "new_search_server_p95_ms": (result["server"]["portal_fragment"]["p95"], 300),
        "page_weight_before_imagery_kB": (round(browser["weight_bytes"]["before_imagery"] / 1000, 1), 500),
    }
    return {name: {"measured": v, "target": t, "met": v <= t} for name, (v, t) in checks.items()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--pages", type=int, default=10)
    args = parser.parse_args()
    settings = ServiceSettings()
    dsn = settings.postgres_dsn.get_secret_value()
    result: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "loadavg_start": [round(v, 2) for v in os.getloadavg()]},
        "load": load(dsn, args.items),
    }
    with psycopg.connect(dsn) as conn:
        result["load"]["items_in_catalogue"] = conn.execute("SELECT count(*) FROM pgstac.items").fetchone()[0]
    print(json.dumps(result), file=sys.stderr)
    catalog_port, portal_port = free_ports(2)
    catalog, portal = f"http://127.0.0.1:{catalog_port}", f"http://127.0.0.1:{portal_port}"
    env = {
        "DINAMIS_PORTAL_CATALOG_URL": catalog,
        "DINAMIS_PORTAL_PUBLIC_URL": portal,
        "DINAMIS_CATALOG_PUBLIC_URL": catalog,
    }
    from dinamis_portal.settings import PortalSettings

    limit = PortalSettings().search_limit
    logs = Path(tempfile.mkdtemp(prefix="bench-portal-"))
    with running_services((("catalog", catalog_port), ("portal", portal_port)), logs, env):
        result["server"] = asyncio.run(server_times(portal, catalog, args.runs, limit))
        print(json.dumps(result["server"]), file=sys.stderr)
        result["browser"] = asyncio.run(browser_loads(portal, args.pages))
    result["machine"]["loadavg_end"] = [round(v, 2) for v in os.getloadavg()]
    result["targets"] = targets(result)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
