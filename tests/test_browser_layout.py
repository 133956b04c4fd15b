"""Layout as a person sees it (issue 14, items 8 and 9), at a laptop viewport (1280x800) and a narrow one (900 px):
formulas and labels are not clipped, run ids in pickers are whole, the PPO samples table keeps "now" reachable,
table headers do not break words ("s/y/s/t/e/m", "turn/s"), the forms show a handful of fields with the rest in a
closed "Advanced", and "Delete dataset" is off with no dataset. One app, one browser, and one page per viewport for
the whole module (a page load of this ~900-component app is most of each test's time): each test opens the tab it
needs and puts back what it opened (an "Advanced" accordion, a sub-tab). Screenshots of every tab at 1280x800 go to
tests/artifacts/layout-<tab>.png."""

from __future__ import annotations

import json
from contextlib import contextmanager

import pytest

from tests.conftest import ARTIFACTS, CHROMIUM, wait_loaded

pytestmark = [pytest.mark.browser, pytest.mark.slow,  # 18 page loads: ~75 s for 5 tests, minutes under load
              pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium is not installed (.ci/run installs it)")]

VIEWPORTS = {"laptop": {"width": 1280, "height": 800}, "narrow": {"width": 900, "height": 800}}
RM = "reward-20261130-142233-a1b2"  # run ids have this shape: 'rm:' + id is 30 characters
SFT = "sft-20261130-141502-e5f6"
PPO = "ppo-20261130-150000-c3d4"
NOW = "LASTWORDSNOW"  # ends every 'now' answer of the PPO samples

# Why the text of `el` is not wholly visible, as a list of reasons ([] when it is): a word broken over two lines
# ("ada|ptive", "turn|s"), or the text reaching past an ancestor that clips it (overflow hidden) or past the
# viewport. An ancestor that scrolls (overflow-x auto / scroll) makes what is inside reachable: from there on,
# the scroller's own box must be visible.
JS = """() => {
window.pgReach = (el, r) => {
  for (let a = el.parentElement; a && a !== document.documentElement; a = a.parentElement) {
    const s = getComputedStyle(a), b = a.getBoundingClientRect();
    if (s.overflowX === 'auto' || s.overflowX === 'scroll') { r = b; continue; }
    if ((s.overflowX === 'hidden' || s.overflowX === 'clip') && (r.right > b.right + 1 || r.left < b.left - 1))
      return `clipped by <${a.tagName.toLowerCase()} class="${a.className}"> (${Math.round(r.left)}..${
        Math.round(r.right)} shown in ${Math.round(b.left)}..${Math.round(b.right)})`;
  }
  return r.right > innerWidth + 1 || r.left < -1 ? `past the viewport (right edge ${Math.round(r.right)})` : '';
};
window.pgWhole = (el) => {
  const why = [], walk = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
  const all = document.createRange();
  all.selectNodeContents(el);
  for (let n = walk.nextNode(); n; n = walk.nextNode())
    for (const m of n.data.matchAll(/\\S+/g)) {
      const w = document.createRange();
      w.setStart(n, m.index);
      w.setEnd(n, m.index + m[0].length);
      const tops = new Set([...w.getClientRects()].map(q => Math.round(q.top)));
      if (tops.size > 1) why.push(`'${m[0]}' broken over ${tops.size} lines`);
    }
  const reach = pgReach(el, all.getBoundingClientRect());
  if (reach) why.push(reach);
  return why;
};
window.pgLines = (el) => {
  const r = document.createRange();
  r.selectNodeContents(el);
  return new Set([...r.getClientRects()].filter(q => q.width > 0).map(q => Math.round(q.top))).size;
};
window.pgShown = (el) => el.checkVisibility() && el.getBoundingClientRect().width > 0;
}"""


@pytest.fixture(scope="module")
def seeded(app_server):  # noqa: ANN001, ANN201
    """A finished reward run, a finished SFT run, and the newest PPO run: rewarded by that reward model, with
    adaptive KL, and samples with long answers (a page opened now follows it and fills its form from it)."""
    from playground.core.config import save_config, to_dict
    from playground.core.paths import runs_dir
    from playground.core.runs import write_status
    from playground.stages.registry import load_config

    ws = app_server["ctx"].ws
    for run_id, stage in ((RM, "reward"), (SFT, "sft")):
        cfg = load_config(stage, f"presets/{stage}/tiny-cpu.yaml")
        d = runs_dir() / run_id
        save_config(cfg, d / "config.yaml")
        (d / "adapter").mkdir(parents=True, exist_ok=True)
        write_status(d, state="succeeded")
        ws.register_run(run_id, stage, d, to_dict(cfg))
    cfg = load_config("ppo", "presets/ppo/tiny-cpu.yaml", [f"reward=rm:{RM}", "adaptive_kl=true"])
    d = runs_dir() / PPO
    save_config(cfg, d / "config.yaml")
    write_status(d, state="succeeded")
    answer = "The quick brown fox jumps over the lazy dog while the policy learns to please the reward. " * 3
    with open(d / "samples.jsonl", "w") as f:
        for update in (0, 4):
            for i in range(3):
                f.write(json.dumps({"prompt": f"Write a short poem about the sea, number {i}", "update": update,
                                    "response": answer + (NOW if update else "BEFORE"), "score": 0.1 * i}) + "\n")
    ws.register_run(PPO, "ppo", d, to_dict(cfg))
    return app_server


@pytest.fixture(scope="module", params=list(VIEWPORTS))
def page(request, chromium, seeded):  # noqa: ANN001, ANN201
    """One page at this viewport for the module's tests (a fresh context in the session's chromium, conftest)."""
    ctx = chromium.new_context(viewport=VIEWPORTS[request.param])
    pg = ctx.new_page()
    pg.set_default_timeout(60_000)
    pg.goto(seeded["url"])
    pg.get_by_text("RLHF Playground").first.wait_for()
    wait_loaded(pg)  # the page-load event has filled the tabs
    pg.evaluate(JS)
    pg.viewport_name = request.param
    yield pg
    ctx.close()


def open_tab(page, name: str) -> None:  # noqa: ANN001
    tab = page.get_by_role("tab", name=name, exact=True)
    if not tab.count():  # a narrow window folds the last tabs into the tab bar's "More tabs" menu: open it there
        page.get_by_role("button", name="More tabs", exact=True).locator("visible=true").first.click()
        page.get_by_role("button", name=name, exact=True).locator("visible=true").first.click()
        page.wait_for_function("""n => [...document.querySelectorAll('button.selected')].some(
            b => b.textContent.trim() === n)""", arg=name)
        return
    if tab.get_attribute("aria-selected") != "true":
        tab.click()
    page.wait_for_function("t => t.getAttribute('aria-selected') === 'true'", arg=tab.element_handle())


@contextmanager
def advanced(page):  # noqa: ANN001, ANN201
    """The open tab's "Advanced" accordion (its button reads "Advanced ▼") opened for the block, closed after it: the
    next test on this page finds the tab as the app shows it."""
    button = page.locator("button.label-wrap").filter(has_text="Advanced").locator("visible=true").first
    handle = button.element_handle()
    handle.click()
    try:
        yield
    finally:
        handle.click()


def not_whole(page, selector: str) -> dict[str, list[str]]:  # noqa: ANN001
    """{text: reasons} for every shown element matching `selector` whose text is not wholly visible."""
    return page.evaluate("""sel => Object.fromEntries([...document.querySelectorAll(sel)].filter(pgShown)
        .map(e => [e.textContent.trim(), pgWhole(e)]).filter(([t, w]) => t && w.length))""", selector)


def shown_labels(page) -> list[str]:  # noqa: ANN001
    """The field labels a person sees on the open tab (text boxes, dropdowns, numbers, sliders, checkboxes)."""
    return page.evaluate("""() => [...document.querySelectorAll('[data-testid=block-info], label[data-testid]')]
        .filter(pgShown).map(e => e.textContent.trim())""")


LABELS = "[data-testid=block-info], label[data-testid] span"


def test_ppo_formulas_and_labels_are_not_clipped(page) -> None:  # noqa: ANN001
    """The objective's formulas either fit their column or scroll inside it; no field label loses letters
    ("adaptive kl" read "ada kl")."""
    open_tab(page, "5 · PPO")
    formulas = page.locator(".pg-objective .katex-display")
    formulas.first.wait_for()
    assert formulas.count() >= 2
    clipped = page.evaluate("""() => [...document.querySelectorAll('.pg-objective .katex-display > .katex')]
        .filter(pgShown).map(k => pgReach(k, k.getBoundingClientRect())).filter(Boolean)""")
    assert clipped == [], f"{page.viewport_name}: objective formula not reachable: {clipped}"
    with advanced(page):
        kl = page.get_by_text("adaptive kl", exact=True).locator("visible=true").first
        kl.wait_for()
        assert page.evaluate("e => pgWhole(e)", kl.element_handle()) == []
        assert not_whole(page, LABELS) == {}, page.viewport_name


def test_run_ids_in_pickers_are_shown_whole(page) -> None:  # noqa: ANN001
    """A reward model picked as PPO's reward, or as the arena's RM judge, reads in full in its box."""
    open_tab(page, "5 · PPO")
    reward = page.get_by_label("reward", exact=True).locator("visible=true").first
    page.wait_for_function("([e, v]) => e.value === v", arg=[reward.element_handle(), f"rm:{RM}"])
    cut = reward.evaluate("e => e.scrollWidth > e.clientWidth + 1 ? [e.scrollWidth, e.clientWidth] : null")
    assert cut is None, f"{page.viewport_name}: 'rm:{RM}' needs {cut[0]} px in a {cut[1]} px box"
    open_tab(page, "3 · Preferences")
    judge = page.get_by_label("RM judge (shown after your vote)", exact=True).locator("visible=true").first
    judge.click()
    page.get_by_role("option", name=RM).click()
    page.wait_for_function("([e, v]) => e.value.startsWith(v)", arg=[judge.element_handle(), RM])
    cut = judge.evaluate("e => e.scrollWidth > e.clientWidth + 1 ? [e.value, e.scrollWidth, e.clientWidth] : null")
    assert cut is None, f"{page.viewport_name}: RM judge '{cut[0]}' needs {cut[1]} px in a {cut[2]} px box"


def test_ppo_samples_keep_now_on_screen(page) -> None:  # noqa: ANN001
    """The samples table, with long answers, keeps its 'now' column (and its last words) reachable."""
    open_tab(page, "5 · PPO")
    cell = page.get_by_text(NOW, exact=False).locator("visible=true").first
    cell.wait_for()
    header = page.locator("th").filter(has_text="now").filter(has_not_text="score").first
    where = header.evaluate("e => pgReach(e, e.getBoundingClientRect())")
    assert where == "", f"{page.viewport_name}: the 'now' column header is {where}"
    assert cell.evaluate("e => pgWhole(e)") == [], page.viewport_name


def test_dataset_table_headers_keep_their_words(page) -> None:  # noqa: ANN001
    """Rows and import-preview headers: 'system' is not one letter per line, 'turns' is not 'turn/s', in the
    empty tables and in a preview whose system column is empty; each header takes one or two lines."""
    open_tab(page, "1 · Dataset")
    headers = "th .header"

    def check(where: str) -> None:
        # the table draws its headers after the tab opens: wait for them (a loaded machine took longer than none)
        page.wait_for_function("s => [...document.querySelectorAll(s)].filter(pgShown).some(e => "
                               "e.textContent.trim() === 'turns')", arg=headers)
        shown = page.evaluate("s => [...document.querySelectorAll(s)].filter(pgShown).map(e => e.textContent)",
                              headers)
        assert {"system", "turns"} <= {h.strip() for h in shown}, f"{where}: headers {shown}"
        assert not_whole(page, headers) == {}, f"{page.viewport_name}, {where}"
        lines = page.evaluate("s => [...document.querySelectorAll(s)].filter(pgShown).map(pgLines)", headers)
        assert max(lines) <= 2, f"{page.viewport_name}, {where}: header lines {lines}"

    check("empty Rows table")
    page.get_by_role("tab", name="Import", exact=True).click()
    page.get_by_text("Import preview", exact=True).wait_for()
    check("empty import preview")
    page.get_by_label("Start from a starter dataset", exact=True).click()
    page.get_by_role("option").filter(has_text="answer —").first.click()  # its rows have no system prompt
    page.get_by_role("button", name="Load starter", exact=True).click()
    page.get_by_text("starter:answer", exact=True).wait_for()
    page.get_by_text("What is the capital of Canada?").locator("visible=true").first.wait_for()
    check("import preview of a starter (empty system column)")
    page.get_by_role("tab", name="Rows", exact=True).click()  # the sub-tab the next test on this page expects


# what a learner changes, per tab; the rest waits under "Advanced" ("report to", the tracker, sits beside Start)
BASIC_SEEN = {
    "2 · SFT": ("SFTRun", {"model", "dataset", "max steps", "learning rate", "lora r", "report to"}, "lora alpha"),
    "4 · Reward model": ("RewardRun", {"model", "dataset", "max steps", "learning rate", "eval fraction",
                                       "report to"}, "lora alpha"),
    "5 · PPO": ("PPORun", {"model", "reward", "prompts", "total updates", "kl coef", "report to"}, "adaptive kl"),
}


@pytest.mark.parametrize("tab", list(BASIC_SEEN))
def test_forms_show_the_basic_fields_and_fold_the_rest(page, tab: str) -> None:  # noqa: ANN001
    import dataclasses

    from playground.stages.registry import STAGES

    cls_name, basic, folded = BASIC_SEEN[tab]
    cls = next(c for c in STAGES.values() if c.__name__ == cls_name)
    fields = {f.name.replace("_", " ") for f in dataclasses.fields(cls)}
    open_tab(page, tab)
    # visible ones only: the tabs this page opened before keep their (hidden) fields of the same names
    page.get_by_text(sorted(basic)[0], exact=True).locator("visible=true").first.wait_for()
    seen = {t for t in shown_labels(page) if t in fields}
    assert seen == basic, f"{tab}: config fields on screen {sorted(seen)}"
    assert page.get_by_text(folded, exact=True).locator("visible=true").count() == 0
    with advanced(page):
        page.get_by_text(folded, exact=True).locator("visible=true").first.wait_for()
        assert len({t for t in shown_labels(page) if t in fields}) > len(basic) + 5  # folded, not dropped


def test_delete_dataset_is_off_with_no_dataset(page) -> None:  # noqa: ANN001
    open_tab(page, "1 · Dataset")
    assert page.get_by_label("Dataset", exact=True).locator("visible=true").first.input_value() == ""
    assert page.get_by_role("button", name="🗑 Delete dataset", exact=True).is_disabled()


def test_no_tab_is_wider_than_the_window(page) -> None:  # noqa: ANN001
    """Every tab fits the window's width (no sideways page scroll); screenshots of each at 1280x800."""
    from playground.ui.app import TABS

    for tab_id, title, _, _ in TABS:
        open_tab(page, title)
        page.wait_for_timeout(500)
        if page.viewport_name == "laptop":
            page.screenshot(path=str(ARTIFACTS / f"layout-{tab_id.value}.png"), full_page=True)
        width = page.evaluate("() => document.documentElement.scrollWidth")
        assert width <= page.viewport_size["width"], f"{page.viewport_name}: {title} is {width} px wide"
