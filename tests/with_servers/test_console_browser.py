"""The web console in a real browser: Debian's Chromium driven by Playwright.

One ``model-fetch serve`` (a subprocess on 127.0.0.1) and one file server serve the whole module;
every test opens the console in a fresh browser context, and fails if a request left 127.0.0.1,
the page threw, or it called ``console.error``.
"""

from __future__ import annotations

import json
import re
import struct
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from playwright.sync_api import Browser, Page, expect, sync_playwright

from support.browser import PageWatch, launch
from support.helpers import payload
from support.rest import RestServer, start_rest
from support.server import Fault, FileServer

TOKEN = "console-token-1234"
TIMEOUT_MS = 15_000
NOT_LOADED = "\N{EN DASH}"  # what the cache region shows until its figures arrive


def safetensors_file() -> bytes:
    """A tiny, valid safetensors file (two float32 values), so the model is ready."""
    header = json.dumps({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}).encode()
    return struct.pack("<Q", len(header)) + header + struct.pack("<2f", 1.0, 2.0)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RestServer]:
    root = tmp_path_factory.mktemp("console")
    rest = start_rest(root, root / "store", "serve", env={"NETRC": str(root / "no-netrc")})
    try:
        yield rest
    finally:
        rest.stop()


def open_console(browser: Browser, url: str, **context_options) -> tuple[Page, PageWatch]:
    context = browser.new_context(**context_options)
    watch = PageWatch(context)
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    expect.set_options(timeout=TIMEOUT_MS)
    page.goto(url + "/")
    return page, watch


@pytest.fixture
def page(browser: Browser, console: RestServer) -> Iterator[Page]:
    page, watch = open_console(browser, console.url)
    page.watch = watch
    try:
        yield page
        watch.check()
    finally:
        page.context.close()


def slow_file(files: FileServer, path: str, size: int, drip: tuple[int, float]) -> str:
    """A file served slowly and without range support, so one stream carries it all."""
    files.add_file(path, payload(size, seed=len(path)), accept_ranges=False)
    files.queue(path, Fault(drip=drip))
    return files.url(path)


def fill_form(page: Page, name: str, version: str, url: str) -> None:
    page.get_by_label("Model name", exact=True).fill(name)
    page.get_by_label("Version", exact=True).fill(version)
    page.get_by_label("Download URL", exact=True).fill(url)


def download_button(page: Page):
    return page.get_by_role("button", name="Download", exact=True)


def model_row(page: Page, name: str):
    table = page.get_by_role("table", name="Installed models")
    return table.get_by_role("row").filter(has=page.get_by_role("button", name=name, exact=True))


def cache_figure(page: Page, term: str) -> str:
    region = page.get_by_role("region", name="Cache")
    expect(region).not_to_contain_text(NOT_LOADED)
    return region.locator("div").filter(has_text=term).locator("dd").inner_text()


def install(console: RestServer, name: str, url: str, **extra) -> dict:
    body = {"model_name": name, "version": "v1", "download_url": url, **extra}
    answer = requests.post(f"{console.url}/model-download?wait=30", json=body, timeout=40)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_controls_have_their_accessible_names(page: Page, console: RestServer) -> None:
    """Every control is found by the name a screen reader announces; the page is locked down."""
    for label in ("Model name", "Version", "Download URL", "Checksum"):
        expect(page.get_by_role("textbox", name=label, exact=True)).to_be_visible()
    source = page.get_by_role("combobox", name="Source", exact=True)
    expect(source.locator("option")).to_have_text(["default", "huggingface", "local", "url"])
    expect(source).to_have_value("default")
    expect(page.get_by_role("checkbox", name="Force download", exact=True)).not_to_be_checked()
    expect(download_button(page)).to_be_enabled()
    expect(page.get_by_role("table", name="Installed models")).to_be_visible()
    expect(page.get_by_role("region", name="Cache")).to_be_visible()
    expect(page.get_by_label("API token")).to_be_hidden()
    expect(page.locator("#live")).to_have_text("Live")
    response = requests.get(console.url + "/", timeout=5)
    policy = response.headers["Content-Security-Policy"]
    for directive in ("default-src 'self'", "frame-ancestors 'none'", "base-uri 'none'"):
        assert directive in policy
    assert "unsafe-inline" not in policy


def test_form_download_reaches_the_table_and_the_cache(
    page: Page, console: RestServer, files: FileServer
) -> None:
    """A download through the form shows up as a row with one cell per fact; the cache counts it."""
    files.add_file("/ready.safetensors", safetensors_file())
    expect(page.get_by_role("region", name="Cache")).not_to_contain_text(NOT_LOADED)
    models_before = int(cache_figure(page, "Models"))
    fill_form(page, "form-model", "v1", files.url("/ready.safetensors"))
    download_button(page).click()
    row = model_row(page, "form-model")
    expect(row).to_have_count(1)
    cells = row.get_by_role("cell")
    expect(cells).to_have_count(8)
    expect(cells.nth(1)).to_have_text("v1")
    expect(cells.nth(2)).to_have_text("available")
    expect(cells.nth(3)).to_have_text(re.compile(r"^\d+\.\d MB$"))
    expect(cells.nth(4)).to_have_text("url")
    expect(cells.nth(5)).to_have_text(re.compile(r"\d"))
    expect(cells.nth(6)).to_have_text("yes")
    expect(row.get_by_role("button", name=re.compile("^Remove"))).to_be_visible()
    expect(page.get_by_role("progressbar", name="form-model")).to_have_js_property("value", 100)
    expect(page.get_by_role("region", name="Cache").locator("#cache-count")).to_have_text(
        str(models_before + 1)
    )


def test_conflict_shows_the_servers_409_message(
    page: Page, console: RestServer, files: FileServer
) -> None:
    """Downloading an installed version again shows the 409 text; Force download replaces it."""
    files.add_file("/dup.bin", payload(20_000, seed=9))
    install(console, "dup-model", files.url("/dup.bin"))
    page.reload()
    fill_form(page, "dup-model", "v1", files.url("/dup.bin"))
    download_button(page).click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("already exists. Use force_download=true to override.")
    page.get_by_label("Force download").check()
    download_button(page).click()
    expect(alert).to_be_hidden()
    item = page.get_by_role("listitem").filter(has_text="dup-model")
    expect(item).to_contain_text("completed")
    expect(item).to_have_count(1)


def test_remove_through_the_dialog(page: Page, console: RestServer, files: FileServer) -> None:
    """Remove opens a dialog; Keep keeps the model; Confirm removes the row, the cache follows."""
    files.add_file("/gone.bin", payload(30_000, seed=5))
    install(console, "gone-model", files.url("/gone.bin"))
    page.reload()
    row = model_row(page, "gone-model")
    expect(row).to_have_count(1)
    count = int(cache_figure(page, "Models"))
    remove = row.get_by_role("button", name="Remove gone-model v1")
    remove.click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("gone-model")
    dialog.get_by_role("button", name="Keep").click()
    expect(dialog).to_be_hidden()
    expect(row).to_have_count(1)
    remove.click()
    dialog.get_by_role("button", name="Confirm").click()
    expect(row).to_have_count(0)
    expect(page.locator("#cache-count")).to_have_text(str(count - 1))
    models = requests.get(console.url + "/models", timeout=5).json()["models"]
    assert "gone-model" not in [model["name"] for model in models]


def test_slow_download_shows_live_progress_and_survives_a_reload(
    page: Page, files: FileServer
) -> None:
    """A dripping download's bar sits strictly between 0 and 100 with speed, ETA and stage."""
    url = slow_file(files, "/drip.bin", 500_000, (20_000, 0.1))
    fill_form(page, "drip-model", "v1", url)
    download_button(page).click()
    bar = page.get_by_role("progressbar", name="drip-model")
    item = page.get_by_role("listitem").filter(has=bar)
    seen: list[float] = []
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and not any(0 < value < 100 for value in seen):
        seen.append(bar.evaluate("bar => bar.value"))
        time.sleep(0.1)
    assert any(0 < value < 100 for value in seen), seen
    expect(item).to_contain_text(re.compile(r"\d+\.\d MB/s"))
    expect(item).to_contain_text("ETA")
    expect(item).to_contain_text("downloading")
    expect(item.get_by_role("button", name=re.compile("^Cancel"))).to_be_visible()
    page.reload()
    expect(bar).to_be_visible()
    expect(item).to_contain_text("downloading")
    expect(model_row(page, "drip-model")).to_have_count(1)
    expect(bar).to_have_js_property("value", 100)
    assert seen == sorted(seen)


def test_cancel_a_download(page: Page, console: RestServer, files: FileServer) -> None:
    """Cancel stops a running download: it shows as cancelled and is never installed."""
    url = slow_file(files, "/cancel.bin", 2_000_000, (10_000, 0.1))
    fill_form(page, "cancel-model", "v1", url)
    download_button(page).click()
    item = page.get_by_role("listitem").filter(has_text="cancel-model")
    expect(item).to_contain_text("downloading")
    cancel = item.get_by_role("button", name="Cancel cancel-model v1")
    expect(cancel).to_be_enabled()
    cancel.click()
    expect(item).to_contain_text("cancelled")
    expect(item.get_by_role("button", name=re.compile("^Cancel"))).to_be_hidden()
    models = requests.get(console.url + "/models", timeout=5).json()["models"]
    assert "cancel-model" not in [model["name"] for model in models]
    expect(model_row(page, "cancel-model")).to_have_count(0)


def test_a_failed_download_shows_its_error(
    page: Page, console: RestServer, files: FileServer
) -> None:
    """A download that fails after it started shows the server's error in its own entry."""
    url = slow_file(files, "/corrupt.bin", 200_000, (20_000, 0.1))
    fill_form(page, "bad-model", "v1", url)
    page.get_by_label("Checksum").fill("sha256:" + "0" * 64)
    download_button(page).click()
    item = page.get_by_role("listitem").filter(has_text="bad-model")
    expect(item).to_contain_text("downloading")
    expect(item).to_contain_text("failed")
    expect(item).to_contain_text("Checksum mismatch")
    expect(page.get_by_role("alert")).to_be_hidden()
    expect(model_row(page, "bad-model")).to_have_count(0)


def test_server_strings_are_shown_as_text(
    page: Page, console: RestServer, files: FileServer
) -> None:
    """HTML and script in metadata, URLs and error messages appear literally and never run."""
    files.add_file("/html.bin", payload(10_000, seed=3))
    script = "<script>window.__pwned = 1</script>"
    image = "<img src=x onerror=window.__pwned=2>"
    install(console, "html-model", files.url("/html.bin"), metadata={"a": script, "b": image})
    page.reload()
    model_row(page, "html-model").get_by_role("button", name="html-model", exact=True).click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text(script)
    expect(dialog).to_contain_text(image)
    file_row = dialog.get_by_role("table", name="Files").get_by_role("row").nth(1)
    expect(file_row.get_by_role("cell")).to_have_text(
        ["html.bin", "9.8 KB", re.compile("^[0-9a-f]{64}$")]
    )
    assert dialog.locator("script, img").count() == 0
    dialog.get_by_role("button", name="Close").click()
    fill_form(page, "html-url", "v1", files.url("/<b>bold</b>"))
    download_button(page).click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("/<b>bold</b> (HTTP 404)")
    assert alert.locator("b").count() == 0
    page.wait_for_timeout(1000)  # the job's own failed event arrives on the stream meanwhile
    expect(page.get_by_role("listitem").filter(has_text="html-url")).to_have_count(0)
    page.get_by_label("Model name").fill('<img src=x onerror="window.__pwned = 3">')
    download_button(page).click()
    expect(alert).to_contain_text("model_name")
    assert page.locator("main img").count() == 0
    assert page.evaluate("window.__pwned") is None


@pytest.mark.slow
def test_token_pasted_and_used_at_once(browser: Browser, tmp_path: Path, files: FileServer) -> None:
    """A token pasted into the field and used by an immediate click on Download is sent."""
    rest = start_rest(tmp_path, tmp_path / "store", "token-at-once", "--token", TOKEN)
    try:
        page, watch = open_console(browser, rest.url)
        posts: list[str | None] = []
        page.on(
            "request",
            lambda request: (
                posts.append(request.headers.get("authorization"))
                if request.method == "POST"
                else None
            ),
        )
        token = page.get_by_label("API token")
        expect(token).to_be_visible()
        files.add_file("/now.bin", payload(10_000, seed=5))
        fill_form(page, "now-model", "v1", files.url("/now.bin"))
        token.fill(TOKEN)
        download_button(page).click()
        expect(model_row(page, "now-model")).to_have_count(1)
        assert posts, "the download was posted"
        assert posts[0] == f"Bearer {TOKEN}"
        watch.check()
        page.context.close()
    finally:
        rest.stop()


@pytest.mark.slow
def test_token_prompt(browser: Browser, tmp_path: Path, files: FileServer) -> None:
    """With a token the API answers 401 while the page loads; entering the token is enough."""
    rest = start_rest(tmp_path, tmp_path / "store", "token", "--token", TOKEN)
    try:
        assert requests.get(rest.url + "/models", timeout=5).status_code == 401
        for path in ("/", "/console/app.js", "/console/style.css", "/console/icon.svg"):
            assert requests.get(rest.url + path, timeout=5).status_code == 200, path
        page, watch = open_console(browser, rest.url)
        sent: list[tuple[str, str | None]] = []
        page.on(
            "request",
            lambda request: sent.append((request.url, request.headers.get("authorization"))),
        )
        token = page.get_by_label("API token")
        expect(token).to_be_visible()
        expect(token).to_have_attribute("type", "password")
        token.fill(TOKEN)
        token.press("Enter")  # the value applies on submit, change and blur (no timer)
        expect(page.locator("#cache-count")).to_have_text("0")
        expect(page.locator("#live")).to_have_text("Live")
        sent.clear()  # before the token was known, requests went without it (and got 401)
        files.add_file("/tok.bin", payload(10_000, seed=4))
        fill_form(page, "tok-model", "v1", files.url("/tok.bin"))
        download_button(page).click()
        expect(model_row(page, "tok-model")).to_have_count(1)
        page.reload()
        expect(model_row(page, "tok-model")).to_have_count(1)
        assert page.evaluate("sessionStorage.getItem('model_fetch.token')") == TOKEN
        api = [
            (url, auth) for url, auth in sent if "/console/" not in url and not url.endswith("/")
        ]
        assert api, sent
        assert all(TOKEN not in url for url, _ in sent)
        assert {auth for url, auth in api if url.endswith("/models")} == {f"Bearer {TOKEN}"}
        watch.check()
        page.context.close()
    finally:
        rest.stop()


def test_polling_takes_over_without_the_event_stream(page: Page, files: FileServer) -> None:
    """With the event stream blocked, polling the progress endpoint still shows progress."""
    page.watch.ignored_errors += ("Failed to load resource: net::ERR_FAILED",)
    page.route("**/model-download/events", lambda route: route.abort())
    page.reload()
    expect(page.locator("#live")).to_have_text("Polling every second")
    url = slow_file(files, "/poll.bin", 300_000, (20_000, 0.1))
    fill_form(page, "poll-model", "v1", url)
    download_button(page).click()
    bar = page.get_by_role("progressbar", name="poll-model")
    expect(bar).to_have_js_property("value", 100)
    expect(model_row(page, "poll-model")).to_have_count(1)


def test_phone_width_and_dark_scheme(browser: Browser, console: RestServer) -> None:
    """At a phone's width nothing scrolls sideways; dark and light schemes differ."""
    colours = {}
    for scheme in ("light", "dark"):
        page, watch = open_console(
            browser,
            console.url,
            viewport={"width": 390, "height": 844},
            color_scheme=scheme,
            is_mobile=True,
            has_touch=True,
        )
        download_button(page).scroll_into_view_if_needed()
        expect(download_button(page)).to_be_in_viewport()
        expect(page.get_by_role("region", name="Cache")).not_to_contain_text(NOT_LOADED)
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, overflow
        colours[scheme] = page.evaluate("getComputedStyle(document.body).backgroundColor")
        watch.check()
        page.context.close()
    assert colours["light"] != colours["dark"]


def test_console_works_under_a_path_prefix(
    browser: Browser, console: RestServer, files: FileServer
) -> None:
    """Behind a proxy at /mf/ (one that buffers, so no event stream), every request stays there."""
    context = browser.new_context()
    watch = PageWatch(context)
    watch.ignored_errors += ("Failed to load resource: net::ERR_FAILED",)
    prefix = console.url + "/mf/"
    outside: list[str] = []

    def proxy(route) -> None:
        if route.request.url.endswith("/events"):
            route.abort()
            return
        upstream = console.url + "/" + route.request.url.removeprefix(prefix)
        route.fulfill(response=route.fetch(url=upstream))

    context.route(prefix + "**", proxy)
    context.on("request", lambda r: None if r.url.startswith(prefix) else outside.append(r.url))
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    try:
        page.goto(prefix)
        expect(page.locator("#live")).to_have_text("Polling every second")
        expect(page.get_by_label("Source").locator("option")).to_have_count(4)
        files.add_file("/prefix.bin", payload(20_000, seed=8))
        fill_form(page, "prefix-model", "v1", files.url("/prefix.bin"))
        download_button(page).click()
        expect(model_row(page, "prefix-model")).to_have_count(1)
        model_row(page, "prefix-model").get_by_role(
            "button", name="prefix-model", exact=True
        ).click()
        expect(page.get_by_role("dialog")).to_contain_text("prefix.bin")
        assert outside == []
        watch.check()
    finally:
        context.close()


#: What scrolls sideways: the page itself, and any element wider than its own box (a table in a
#: scrolling wrapper, a form field pushed past its card), listed with its overflow in px.
OVERFLOWS = """() => {
  const width = document.documentElement.clientWidth;
  const found = [];
  if (document.documentElement.scrollWidth > width) {
    found.push(["page", document.documentElement.scrollWidth - width]);
  }
  for (const node of document.querySelectorAll("main *")) {
    const box = node.getBoundingClientRect();
    if (box.width === 0) continue;
    const wider = node.scrollWidth - node.clientWidth;
    const scrolls = node.clientWidth > 0 && wider > 0;
    if (box.right > width + 0.5 || (scrolls && getComputedStyle(node).overflowX !== "visible")) {
      const what = node.id || node.className || node.tagName;
      found.push([what, Math.round(Math.max(box.right - width, wider))]);
    }
  }
  return found;
}"""


@pytest.mark.parametrize("width", [360, 390])
def test_phone_width_table_and_forms_fit(
    browser: Browser, console: RestServer, files: FileServer, width: int
) -> None:
    """At 360 and 390 px the installed-models table and the forms fit: nothing scrolls sideways."""
    files.add_file("/phone.safetensors", safetensors_file())
    name = f"org/a-model-with-a-rather-long-name-{width}"
    install(console, name, files.url("/phone.safetensors"))
    page, watch = open_console(
        browser, console.url, viewport={"width": width, "height": 800}, is_mobile=True
    )
    try:
        row = model_row(page, name)
        expect(row).to_have_count(1)
        expect(row.get_by_role("cell")).to_have_count(8)
        expect(page.get_by_role("region", name="Cache")).not_to_contain_text(NOT_LOADED)
        assert page.evaluate(OVERFLOWS) == []
        remove = row.get_by_role("button", name=re.compile("^Remove"))
        remove.scroll_into_view_if_needed()
        box = remove.bounding_box()
        assert box is not None
        assert box["x"] >= 0
        assert box["x"] + box["width"] <= width
        for label in ("Model name", "Download URL", "Checksum"):
            field = page.get_by_label(label, exact=True).bounding_box()
            assert field is not None
            assert field["x"] + field["width"] <= width, label
        watch.check()
    finally:
        page.context.close()


def test_phone_width_token_form_fits(browser: Browser, tmp_path: Path) -> None:
    """At 360 px the sign-in form of a server with a token fits beside the others, unscrolled."""
    rest = start_rest(tmp_path, tmp_path / "store", "token-phone", "--token", TOKEN)
    try:
        page, watch = open_console(
            browser, rest.url, viewport={"width": 360, "height": 800}, is_mobile=True
        )
        expect(page.get_by_label("API token")).to_be_visible()
        assert page.evaluate(OVERFLOWS) == []
        button = page.get_by_role("button", name="Use token").bounding_box()
        assert button is not None
        assert button["x"] + button["width"] <= 360
        watch.check()
        page.context.close()
    finally:
        rest.stop()
