"""The dashboard's run page in a real browser: time to first correct paint, and frames per second
while the run updates live and while its task table scrolls, for a 10,000-task run next to a
smaller one (the baseline) measured the same way on the same daemon.

A real daemon runs as a child process on a loopback port (a fresh state dir and store). For each
size, one run of echo tasks keeps `--parallel` tasks in flight, their latencies spread evenly over
[min, max] seconds, so tasks finish all through the measurement and the page has live updates to
follow. Once the first tasks have finished, a new tab of Debian's headless Chromium
(/usr/bin/chromium, driven by Playwright, signed in through the one-time link) opens the run page.
A script injected by the driver (not part of the page, so the page's CSP is untouched) records
every change of the stat cards (done, running, failed) and every animation frame.

*First correct paint* is the time from the tab's navigation start to the first change of the stat
cards after which done, running and failed together equal the run's own numbers at some moment
between the navigation start and that change (the run's numbers at every moment come from its
`task.state` events in the store, read afterwards: a live run's counts move, so "correct" means
"true at some point since the page was asked for", never a number the run did not have). The cards
are painted in the frame that follows, at most one frame later. Any earlier change that showed
numbers (zeros while loading, say) counts as a *wrong paint*.

*Frames per second* counts `requestAnimationFrame` callbacks: `--live` seconds with the top of the
page in view (stat cards, charts, the grid of cells) while events arrive, from 1 s after the first
paint; then `--scroll` seconds with the task table in view, its scroller moved by `--scroll-px`
pixels every frame (wrapping at the end), as a fast fling would. The longest gap between two frames
in each window is the worst stall a person would see; the share of the window the renderer's main
thread was busy (Chromium's `TaskDuration` metric) says how much room is left, and is steadier than
the frame rate, which a 60 Hz display caps.

    .venv/bin/python -m bench.dashboard_paint               # 10,000 tasks, baseline 1,000 (~60 s)
    .venv/bin/python -m bench.dashboard_paint --quick       # 2,000 tasks, baseline 200 (~35 s)

The exit code is 0 when the large run's first correct paint is at most 2 s with no wrong paint,
and both frame rates are at least 50.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
import httpx

from tests.support.chromium import CHROMIUM, CHROMIUM_ARGS

TARGET_PAINT_S = 2.0
TARGET_FPS = 50.0
FINAL = {"succeeded", "failed", "cancelled", "skipped"}
CARDS = ("s-done", "s-running", "s-failed")

# Injected before the page's own script. `marks`: [ms since navigation start, done, running,
# failed] at every change of the cards; `frames`: every animation frame's timestamp. Setting
# `window.__bench.scroll` to N moves the task table N px per frame.
RECORDER = """
(() => {
  const bench = window.__bench = { marks: [], frames: [], scroll: 0, origin: performance.timeOrigin };
  const read = () => CARDS.map((id) => { const node = document.getElementById(id); return node ? node.textContent : null; });
  let last = "";
  const note = () => {
    const texts = read(), key = JSON.stringify(texts);
    if (key !== last) { last = key; bench.marks.push([performance.now(), ...texts]); }
    const count = document.getElementById("tt-count");
    if (!bench.table && count && count.textContent.endsWith(" tasks")) bench.table = performance.now();
    if (!bench.rows && document.querySelector("#tt-rows .tt-row")) bench.rows = performance.now();
  };
  document.addEventListener("DOMContentLoaded", () => {
    note();
    const observer = new MutationObserver(note), what = { subtree: true, childList: true, characterData: true };
    observer.observe(document.getElementById("stats"), what);
    observer.observe(document.getElementById("tt-count"), what);
    observer.observe(document.getElementById("tt-rows"), { childList: true });
  });
  const frame = (at) => {
    bench.frames.push(at);
    const scroller = bench.scroll && document.getElementById("tt-scroll");
    if (scroller) {
      const room = scroller.scrollHeight - scroller.clientHeight;
      scroller.scrollTop = room > 0 ? (scroller.scrollTop + bench.scroll) % room : 0;
    }
    requestAnimationFrame(frame);
  };
  requestAnimationFrame(frame);
})();
""".replace("CARDS", json.dumps(list(CARDS)))


def _work(tasks: int, min_latency: float, max_latency: float) -> dict[str, Any]:
    step = (max_latency - min_latency) / max(tasks - 1, 1)
    return {
        "strategy": "parallel",
        "tasks": [
            {
                "id": f"t{index:05d}",
                "prompt": f"prompt {index}",
                # Interleaved latencies: neighbours finish far apart, so completions stay spread out.
                "options": {"engine_options": {"latency": min_latency + step * ((index * 7919) % tasks)}},
            }
            for index in range(tasks)
        ],
    }


def _number(text: str | None) -> int | None:
    """The first number a card shows ("1,234/10,000" -> 1234); None while it shows a placeholder."""
    if text is None:
        return None
    head = text.split("/")[0].replace(",", "").strip()
    return int(head) if head.isdigit() else None


def true_counts(store: Path, run_id: str) -> list[tuple[float, tuple[int, int, int]]]:
    """(from when, (done, running, failed)) after each of the run's `task.state` events, in order;
    before the first, (0, 0, 0) from the beginning of time."""
    db = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
    try:
        rows = db.execute(
            "SELECT body FROM events WHERE run_id = ? AND type = 'task.state' ORDER BY seq", (run_id,)
        ).fetchall()
    finally:
        db.close()
    states: dict[str, str] = {}
    done = running = failed = 0
    out: list[tuple[float, tuple[int, int, int]]] = [(0.0, (0, 0, 0))]
    for (body,) in rows:
        event = json.loads(body)
        before, after = states.get(event["task_id"], "pending"), event["state"]
        states[event["task_id"]] = after
        done += (after in FINAL) - (before in FINAL)
        running += (after == "running") - (before == "running")
        failed += (after == "failed") - (before == "failed")
        out.append((float(event["at"]), (done, running, failed)))
    return out


def judge_paint(
    marks: list[list[Any]], origin_ms: float, truth: list[tuple[float, tuple[int, int, int]]]
) -> dict[str, float]:
    """When the cards first showed numbers the run had since the navigation began; how many
    changes before that showed numbers it never had in that time."""
    nav_start = origin_ms / 1000
    wrong = 0
    for at_ms, *texts in marks:
        shown = tuple(_number(text) for text in texts)
        if any(value is None for value in shown):
            continue  # a placeholder, not yet a number
        now = nav_start + at_ms / 1000
        for index, (since, counts) in enumerate(truth):
            until = truth[index + 1][0] if index + 1 < len(truth) else float("inf")
            if counts == shown and since <= now and until >= nav_start:
                return {"first_paint_ms": at_ms, "wrong_paints": wrong, "shown_done": shown[0] or 0}
        wrong += 1
    raise RuntimeError(f"the cards never showed the run's numbers: {marks[-5:]}")


def frame_rate(frames: list[float], start_ms: float, end_ms: float) -> tuple[float, float, int]:
    """Frames per second and the longest gap (ms) between `start_ms` and `end_ms`, and the count."""
    inside = [at for at in frames if start_ms <= at <= end_ms]
    if len(inside) < 2:
        return 0.0, end_ms - start_ms, len(inside)
    gaps = [b - a for a, b in itertools.pairwise(inside)]
    return (len(inside) - 1) / ((inside[-1] - inside[0]) / 1000), max(gaps), len(inside)


async def _bench_state(tab: Any) -> dict[str, Any]:
    state: dict[str, Any] = await tab.evaluate("window.__bench")
    return state


async def _now_ms(tab: Any) -> float:
    now: float = await tab.evaluate("performance.now()")
    return now


async def measure_one(
    http: httpx.AsyncClient,
    context: Any,
    store: Path,
    tasks: int,
    parallel: int,
    latency: tuple[float, float],
    live_s: float,
    scroll_s: float,
    scroll_px: int,
) -> dict[str, float]:
    from playwright.async_api import expect

    body = {
        "name": f"dashboard bench {tasks}",
        "engine": "echo",
        "work": _work(tasks, *latency),
        "parallel": parallel,
        "use_cache": False,
    }
    created = await http.post("/v1/runs", json=body)
    created.raise_for_status()
    run_id = created.json()["id"]
    # Open the page once the first tasks have finished, so every card has a number to get right.
    while True:
        run = (await http.get(f"/v1/runs/{run_id}")).json()
        if run["counts"].get("succeeded", 0) >= 1:
            break
        await anyio.sleep(0.1)
    tab = await context.new_page()
    try:
        # The renderer's main-thread time (Chromium's own metric), read at the edges of each window.
        cdp = await context.new_cdp_session(tab)
        await cdp.send("Performance.enable")

        async def busy_s() -> float:
            metrics = (await cdp.send("Performance.getMetrics"))["metrics"]
            return float(next(m["value"] for m in metrics if m["name"] == "TaskDuration"))

        await tab.goto(f"{http.base_url}/#/runs/{run_id}", wait_until="commit")
        await tab.locator('#stats[aria-busy="false"]').wait_for(timeout=60_000)
        # The page's CSP allows no eval, so wait with a locator (polled by the driver), not a script.
        await expect(tab.locator("#tt-count")).to_have_text(re.compile(r" tasks$"), timeout=60_000)
        shown_at = await _now_ms(tab)
        # Live: the top of the page in view while the run's events arrive.
        live_from = shown_at + 1000
        await anyio.sleep(1)
        live_busy = await busy_s()
        await anyio.sleep(live_s)
        live_busy = await busy_s() - live_busy
        # Scrolling: the task table in view, moved a fling's distance every frame.
        await tab.locator("#tt-scroll").scroll_into_view_if_needed()
        scroll_from = await _now_ms(tab)
        scroll_busy = await busy_s()
        await tab.evaluate(f"window.__bench.scroll = {scroll_px}")
        await anyio.sleep(scroll_s)
        await tab.evaluate("window.__bench.scroll = 0")
        scroll_busy = await busy_s() - scroll_busy
        scroll_to = await _now_ms(tab)
        bench = await _bench_state(tab)
        resources = await tab.evaluate(
            "performance.getEntriesByType('resource').map((e) => [e.name, e.startTime, e.responseEnd,"
            " e.encodedBodySize, e.responseStart])"
        )
        still_running = await http.get(f"/v1/runs/{run_id}")
        active = bool(still_running.json()["active"])
        tab_s = scroll_to / 1000  # the tab's life so far, from its navigation start
    finally:
        await tab.close()
        try:
            endpoints = await time_endpoints(http, run_id)  # while the run still goes on
        finally:
            await http.post(f"/v1/runs/{run_id}/cancel")
    paint = judge_paint(bench["marks"], bench["origin"], true_counts(store, run_id))
    live_fps, live_worst, _ = frame_rate(bench["frames"], live_from, live_from + live_s * 1000)
    scroll_fps, scroll_worst, _ = frame_rate(bench["frames"], scroll_from, scroll_to)
    # The page's reads of the task table: the first (the whole table, or its first rows), the one
    # that completed it, and the later ones while the run went on (whole tables, or only changes).
    reads = [entry for entry in resources if re.search(rf"/v1/runs/{run_id}/tasks(\?|$)", str(entry[0]))]
    initial = [entry for entry in reads if "changed_after=" not in str(entry[0])][:2]
    if len(initial) == 2 and "offset=" not in str(initial[1][0]):
        initial = initial[:1]  # the whole table in one read, then a poll of the whole table again
    tasks_fetch = initial[0] if initial else None
    later = [entry for entry in reads if entry not in initial]
    found = {
        "tasks": tasks,
        **paint,
        "table_ms": float(bench["table"]),
        "rows_ms": float(bench.get("rows") or bench["table"]),
        "later_reads": float(len(later)),
        "later_kb_per_10s": sum(entry[3] for entry in later) / 1024 / tab_s * 10,
        **endpoints,
        "live_fps": live_fps,
        "live_worst_ms": live_worst,
        "live_busy": live_busy / live_s,
        "scroll_fps": scroll_fps,
        "scroll_worst_ms": scroll_worst,
        "scroll_busy": scroll_busy / ((scroll_to - scroll_from) / 1000),
        "active_throughout": float(active),
    }
    if tasks_fetch is not None:
        _, start, end, size, first_byte = tasks_fetch
        found |= {
            "tasks_fetch_start_ms": start,
            "tasks_fetch_first_byte_ms": first_byte,
            "tasks_fetch_end_ms": end,
            "tasks_fetch_kb": size / 1024,
            "tasks_whole_end_ms": initial[-1][2],
        }
    return found


async def time_endpoints(http: httpx.AsyncClient, run_id: str, rounds: int = 5) -> dict[str, float]:
    """The daemon's answer time (median of `rounds`, ms) and size (KiB) for the reads the run page
    makes, on the run just measured while it goes on: the whole task list, its first 200 rows, the
    tasks changed in the 2 s after a read (the page's poll), and one task with its log. `-1` where
    the daemon does not page or has no cursor (its answer is then the whole list)."""

    async def timed(path: str) -> tuple[float, float, httpx.Response]:
        times: list[float] = []
        response = None
        for _ in range(rounds):
            started = time.perf_counter()
            response = await http.get(path)
            times.append((time.perf_counter() - started) * 1000)
            response.raise_for_status()
        assert response is not None
        return sorted(times)[rounds // 2], len(response.content) / 1024, response

    base = f"/v1/runs/{run_id}"
    found: dict[str, float] = {}
    found["ep_all_ms"], found["ep_all_kb"], whole = await timed(f"{base}/tasks")
    cursor = whole.headers.get("ParallelAI-Cursor")
    found["ep_page_ms"], found["ep_page_kb"], page = await timed(f"{base}/tasks?limit=200")
    if cursor is None or len(page.json()) != 200:
        found["ep_page_ms"] = found["ep_page_kb"] = -1.0
    found["ep_changed_ms"] = found["ep_changed_kb"] = found["ep_changed_n"] = -1.0
    if cursor is not None:
        await anyio.sleep(2)
        found["ep_changed_ms"], found["ep_changed_kb"], changed = await timed(
            f"{base}/tasks?changed_after={cursor}"
        )
        found["ep_changed_n"] = float(len(changed.json()))
    task_id = whole.json()[len(whole.json()) // 2]["id"]
    found["ep_task_ms"], found["ep_task_kb"], _ = await timed(f"{base}/tasks/{task_id}")
    return found


async def measure(
    sizes: list[int],
    parallel: int,
    latency: tuple[float, float],
    live_s: float,
    scroll_s: float,
    scroll_px: int,
) -> list[dict[str, float]]:
    """Each size in turn, on one daemon and one browser: a fresh run and a fresh tab each."""
    from playwright.async_api import async_playwright

    from parallelai.client.launcher import start_detached, stop_daemon

    if not await anyio.Path(CHROMIUM).exists():
        raise SystemExit("Chromium is not installed: run `bash scripts/setup.sh --browser`")
    results: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory(prefix="parallelai-dashboard-bench-") as tmp:
        os.environ["PARALLELAI_STATE_DIR"] = tmp
        store = Path(tmp) / "bench.db"
        info = await start_detached("127.0.0.1", 0, store)
        try:
            headers = {"Authorization": f"Bearer {info.token}"}
            async with (
                httpx.AsyncClient(base_url=info.url, headers=headers, timeout=None) as http,
                async_playwright() as driver,
            ):
                browser = await driver.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
                try:
                    context = await browser.new_context(viewport={"width": 1280, "height": 1000})
                    link = (await http.post("/v1/dashboard/link")).json()["url"]
                    signing_in = await context.new_page()
                    await signing_in.goto(link)  # the session cookie, for every tab of the context
                    await signing_in.close()
                    await context.add_init_script(RECORDER)
                    for tasks in sizes:
                        results.append(
                            await measure_one(
                                http, context, store, tasks, parallel, latency, live_s, scroll_s, scroll_px
                            )
                        )
                finally:
                    await browser.close()
        finally:
            await stop_daemon()
    return results


def passed(large: dict[str, float]) -> bool:
    return (
        large["first_paint_ms"] <= TARGET_PAINT_S * 1000
        and large["wrong_paints"] == 0
        and large["live_fps"] >= TARGET_FPS
        and large["scroll_fps"] >= TARGET_FPS
    )


def render(results: list[dict[str, float]]) -> str:
    header = (
        "tasks",
        "first correct paint",
        "wrong paints",
        "first rows shown",
        "table shown",
        "fps live (worst frame; main thread busy)",
        "fps scrolling (worst frame; busy)",
        "/tasks read",
    )
    rows = [header]
    for found in results:
        fetched = (
            f"{found['tasks_fetch_end_ms']:.0f} ms ({found['tasks_fetch_kb']:,.0f} KiB)"
            if "tasks_fetch_end_ms" in found
            else "-"
        )
        rows.append(
            (
                f"{found['tasks']:,.0f}",
                f"{found['first_paint_ms'] / 1000:.2f} s",
                f"{found['wrong_paints']:.0f}",
                f"{found['rows_ms'] / 1000:.2f} s",
                f"{found['table_ms'] / 1000:.2f} s",
                f"{found['live_fps']:.1f} ({found['live_worst_ms']:.0f} ms; {found['live_busy']:.0%})",
                f"{found['scroll_fps']:.1f} ({found['scroll_worst_ms']:.0f} ms; {found['scroll_busy']:.0%})",
                fetched,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]

    def line(row: tuple[str, ...]) -> str:
        return "| " + " | ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) + " |"

    rule = "|" + "|".join("-" * (width + 2) for width in widths) + "|"
    return "\n".join([line(rows[0]), rule, *(line(row) for row in rows[1:])])


def render_reads(results: list[dict[str, float]]) -> str:
    """What the page and the daemon read: the first /tasks read and the one that completed the
    table (end ms; KiB of the first), the page's later /tasks reads while it was open, and the
    daemon's answer times for each kind of read (median ms, KiB)."""

    def cell(ms: float, kb: float) -> str:
        return "-" if ms < 0 else f"{ms:.0f} ms ({kb:,.0f} KiB)"

    lines = [
        "| tasks | first /tasks read | table complete | later reads (KiB per 10 s) | GET /tasks | "
        "?limit=200 | ?changed_after (tasks) | GET /tasks/{task} |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for found in results:
        changed = cell(found["ep_changed_ms"], found["ep_changed_kb"])
        if found["ep_changed_ms"] >= 0:
            changed += f" ({found['ep_changed_n']:.0f})"
        lines.append(
            f"| {found['tasks']:,.0f} | {cell(found.get('tasks_fetch_end_ms', -1), found.get('tasks_fetch_kb', 0))} | "
            f"{found.get('tasks_whole_end_ms', -1):.0f} ms | {found['later_reads']:.0f} "
            f"({found['later_kb_per_10s']:,.0f}) | {cell(found['ep_all_ms'], found['ep_all_kb'])} | "
            f"{cell(found['ep_page_ms'], found['ep_page_kb'])} | {changed} | "
            f"{cell(found['ep_task_ms'], found['ep_task_kb'])} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--baseline", type=int, default=1000, help="tasks of the baseline run")
    parser.add_argument("--parallel", type=int, default=100, help="tasks in flight")
    parser.add_argument("--min-latency", type=float, default=2.0)
    parser.add_argument("--max-latency", type=float, default=4.0)
    parser.add_argument("--live", type=float, default=5.0, help="seconds of live updates measured")
    parser.add_argument("--scroll", type=float, default=5.0, help="seconds of scrolling measured")
    parser.add_argument("--scroll-px", type=int, default=280, help="pixels scrolled per frame")
    parser.add_argument("--quick", action="store_true", help="2,000 tasks, baseline 200, 3 s windows")
    args = parser.parse_args(argv)
    if args.quick:
        args.tasks, args.baseline, args.live, args.scroll = 2000, 200, 3.0, 3.0
    print(
        f"{args.tasks:,} and {args.baseline:,} echo tasks, {args.parallel} in flight, latencies "
        f"{args.min_latency:g}-{args.max_latency:g} s; daemon in a child process, headless Chromium",
        file=sys.stderr,
        flush=True,
    )
    started = time.perf_counter()
    results = anyio.run(
        measure,
        [args.baseline, args.tasks],
        args.parallel,
        (args.min_latency, args.max_latency),
        args.live,
        args.scroll,
        args.scroll_px,
    )
    print(render(results))
    print(render_reads(results))
    large = results[-1]
    verdict = "PASS" if passed(large) else "FAIL"
    print(
        f"{args.tasks:,} tasks: first correct paint {large['first_paint_ms'] / 1000:.2f} s (target <= "
        f"{TARGET_PAINT_S:g} s, no wrong paint), fps live {large['live_fps']:.1f} / scrolling "
        f"{large['scroll_fps']:.1f} (target >= {TARGET_FPS:g}): {verdict}; "
        f"{time.perf_counter() - started:.0f} s in all"
    )
    if not all(found["active_throughout"] for found in results):
        print("note: a run finished before its measurement ended (no live updates at the end)")
    return 0 if passed(large) else 1


if __name__ == "__main__":
    sys.exit(main())
