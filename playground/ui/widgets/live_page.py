"""The page side of the live view: its styles and the one page script (installed by live.wire_page).

PAGE_JS runs once per page. Every 2 s (5 s when no visible panel follows a live run), while the browser tab is visible (and right after a click, which may have
shown another tab), it sends one plain HTTP call to the app's `page_poll` endpoint (Gradio's `/call/` REST route:
signed-in like the page, role-checked on the server, no front-end state touched) with the followed run and
fingerprint of each live panel that is visible and live. It writes the returned inner HTML into those panels,
keeps the log pane scrolled to its end (unless the reader scrolled up), clicks a panel's hidden "poke" button
when a per-run view listens and the run has a new update or state, and clicks the hidden pickers button when
what the workspace's pickers would list changed. Nothing else: no Gradio event while nothing changed.

The poll reads Gradio's `/call/` reply (a short event stream) with a regex written against GRADIO_VERSION. A
Gradio upgrade that changes that reply must not freeze the live view silently: `gradio_mismatch()` (checked by
build_app at start) names both versions when the installed Gradio differs, and after POLL_FAILURES polls in a row
that fail the script says so in the browser console and in every live panel's header, with the reason.
"""

from __future__ import annotations

GRADIO_VERSION = "6.31.0"  # the Gradio whose /call/ reply and frame loops this module was written and tested against
POLL_FAILURES = 3  # failed polls in a row before the page says that live updates stopped


def gradio_mismatch(installed: str | None = None) -> str:
    """A one-line warning when the installed Gradio is not the one the page script was written against ('' when
    it is). Major.minor decide: a patch release keeps the reply format."""
    if installed is None:
        import gradio

        installed = gradio.__version__
    if installed.split(".")[:2] == GRADIO_VERSION.split(".")[:2]:
        return ""
    return (f"Gradio {installed} is installed, but the live view's page script (playground/ui/widgets/live_page.py) "
            f"was written against Gradio {GRADIO_VERSION}: if live panels stop updating, their header says why; "
            f"pin gradio=={GRADIO_VERSION} (requirements.txt) or update the script.")

CSS = """
.pg-objective .katex-display {overflow-x: auto; overflow-y: hidden; max-width: 100%; padding: 2px 0;}
.pg-objective .katex-display > .katex {font-size: 0.95em;}
.pg-chart svg {height: auto;}
.pg-compare {max-width: 440px;}  /* a chart alone on a row: as wide as the live panel's, not 3x its fonts */
.pg-charts {display: grid; grid-template-columns: repeat(auto-fit, minmax(300px, 1fr)); gap: 8px; margin-top: 8px;}
.pg-status p {margin: 0 0 4px 0;}
.pg-log-label {font-size: 12px; opacity: .75; margin-top: 8px;}
.pg-log {max-height: 14em; overflow: auto; font-size: 12px; white-space: pre-wrap; margin: 2px 0 0 0;
  padding: 6px 8px; border: 1px solid var(--border-color-primary); border-radius: 6px;}
.pg-run-table {margin-top: 10px; max-height: 32em; overflow: auto;}
.pg-run-table .pg-table {width: 100%; border-collapse: collapse; table-layout: fixed; font-size: 13px;}
.pg-run-table th, .pg-run-table td {padding: 4px 6px; border-bottom: 1px solid var(--border-color-primary);
  text-align: left; vertical-align: top; white-space: pre-wrap; overflow-wrap: anywhere;}
.pg-run-table th {overflow-wrap: normal; hyphens: auto;}  /* a header breaks between words, not inside one */
.pg-table-samples th:nth-child(1) {width: 18%;} .pg-table-samples th:nth-child(2), .pg-table-samples th:nth-child(4)
  {width: 29%;} .pg-table-samples th:nth-child(3), .pg-table-samples th:nth-child(5),
  .pg-table-samples th:nth-child(6) {width: 8%;}
.pg-table-groups th:nth-child(1) {width: 6%;} .pg-table-groups th:nth-child(2) {width: 20%;}
.pg-table-groups th:nth-child(3) {width: 11%;} .pg-table-groups th:nth-child(4) {width: 33%;}
.pg-table-groups th:nth-child(5), .pg-table-groups th:nth-child(7) {width: 9%;}
.pg-table-groups th:nth-child(6) {width: 12%;}
.pg-warning {margin: 8px 0; padding: 4px 10px; border-radius: 6px; background: rgba(245, 158, 11, .14);
  border-left: 4px solid #f59e0b;}
.pg-rl-view .pg-fn-chart {margin-top: 10px;}
.pg-advanced > button {font-weight: 600;}
.pg-hidden {display: none !important;}
.pg-poll-warn {margin: 0 0 6px 0; padding: 4px 8px; border-radius: 6px; font-size: 13px;
  background: rgba(239, 68, 68, .12); border-left: 4px solid #ef4444;}
"""

# Gradio 6.31 leaves frame loops running on every page, even a bare one with nothing pending: its status trackers
# tick their elapsed-time label, Svelte's animation loop and Blocks each re-arm requestAnimationFrame, 60 times a
# second, for as long as the page is open (6.4% of a core for a one-Markdown page here). Their modules keep the
# function they found when they loaded, so this script must run before Gradio's bundle: HeadFirst puts it first
# in the page's <head> (Gradio's own `head` option inserts it only after the bundle ran). It counts how many
# frames in a row a chain of callbacks has re-armed itself; past 30 frames (half a second: longer than any
# transition), while nobody has touched the page for a second, the chain gets its next frame after 500 ms
# (2 frames a second). The bare page then costs 0.4% (bench/page_cpu.py --floor). Frames within a second of a
# click, a key or a scroll are untouched, and so is the first half second of an animation started outside such a
# chain (one started from inside a long chain's frame counts as part of it).
PAGE_HEAD = r"""<script>
(() => {
  if (window.__pgRaf) return;
  window.__pgRaf = {throttled: 0};
  const raf = window.requestAnimationFrame.bind(window);
  let input = 0, frame = -1, reset = false, seq = 1e9;
  for (const ev of ["pointerdown", "pointermove", "keydown", "wheel", "touchstart"])
    addEventListener(ev, () => { input = performance.now(); }, {capture: true, passive: true});
  const dead = new Set();  // throttled requests cancelled before their frame
  // A request made while a frame's callbacks (or the microtasks they queue) run continues the deepest chain of
  // that frame; one made anywhere else starts a chain at 0. The frame's depth is forgotten in the next task.
  window.requestAnimationFrame = (cb) => {
    const d = frame + 1;
    const run = (t) => {
      frame = Math.max(frame, d);
      if (!reset) { reset = true; setTimeout(() => { frame = -1; reset = false; }, 0); }
      cb(t);
    };
    if (d > 30 && performance.now() - input > 1000) {
      window.__pgRaf.throttled++;
      const id = ++seq;  // kept apart from the browser's own ids
      setTimeout(() => raf((t) => { if (!dead.delete(id)) run(t); }), 500);
      return id;
    }
    return raf(run);
  };
  const cancel = window.cancelAnimationFrame.bind(window);
  window.cancelAnimationFrame = (id) => (id > 1e9 ? dead.add(id) : cancel(id));
})();
</script>"""

PAGE_JS = r"""
if (!window.__pgLive) {
  window.__pgLive = true;
  const base = () => ((window.gradio_config && window.gradio_config.root) ||
                      (location.origin + location.pathname)).replace(/\/+$/, "");
  let rev = null, busy = false, failed = 0;
  async function poll(ask) {
    const url = base() + "/gradio_api/call/page_poll";
    const r = await fetch(url, {method: "POST", headers: {"Content-Type": "application/json"},
                                body: JSON.stringify({data: [JSON.stringify(ask)]})});
    if (!r.ok) throw new Error("the poll was refused: HTTP " + r.status);
    const id = (await r.json()).event_id;
    const text = await (await fetch(url + "/" + id)).text();
    const m = /event: complete\s*\ndata: (.*)/.exec(text);
    if (!m) throw new Error("no 'event: complete' in the reply: " + JSON.stringify(text.slice(0, 120)));
    return JSON.parse(JSON.parse(m[1])[0]);
  }
  // a poll that keeps failing is said, not swallowed: the console and each live panel's header name the reason
  function pollFailed(e) {
    failed++;
    if (failed < __FAILURES__) return;
    const have = (window.gradio_config && window.gradio_config.version) || "unknown";
    const msg = `Live updates stopped: ${failed} polls in a row failed (${e && e.message || e}). ` +
      `This page script was written for Gradio __GRADIO__; this server runs Gradio ${have}. ` +
      "Reload the page; if it keeps failing, see the app's log.";
    if (failed === __FAILURES__) console.error("[playground] " + msg);
    for (const p of document.querySelectorAll(".pg-live")) {
      let w = p.querySelector(".pg-poll-warn");
      if (!w) { w = document.createElement("div"); w.className = "pg-poll-warn"; p.prepend(w); }
      w.textContent = "⚠️ " + msg;
    }
  }
  function pollWorked() {
    if (failed >= __FAILURES__) console.info("[playground] live updates work again");
    failed = 0;
    document.querySelectorAll(".pg-poll-warn").forEach(w => w.remove());
  }
  // replace only the parts that changed (a chart redraws when a metric arrived, the header every few seconds)
  function patch(el, html) {
    const t = document.createElement("template");
    t.innerHTML = html;
    const now = [...t.content.children], old = [...el.children];
    if (now.length !== old.length) { el.replaceChildren(...now); return; }
    now.forEach((n, i) => {
      if (old[i].outerHTML === n.outerHTML) return;
      if (n.classList.contains("pg-charts") && old[i].children.length === n.children.length) patch(old[i], n.innerHTML);
      else old[i].replaceWith(n);
    });
  }
  async function tick() {
    if (busy || document.hidden) return;
    busy = true;
    try {
      const views = [...document.querySelectorAll(".pg-live[data-pg-run]")].filter(
        p => p.dataset.pgRun && p.dataset.pgLive === "1" && p.offsetParent !== null);
      const runs = {};
      for (const p of views) runs[p.dataset.pgRun] = {stage: p.dataset.pgStage, fp: p.dataset.pgFp};
      let out;
      try { out = await poll({runs}); } catch (e) { pollFailed(e); return; }
      pollWorked();
      if (rev !== null && out.rev !== rev) document.getElementById("pg-pickers-poke")?.click();
      rev = out.rev;
      const dev = document.getElementById("pg-device");  // the header's device line: GPU memory in use, live
      if (dev && out.device && dev.textContent !== out.device) dev.textContent = out.device;
      for (const p of views) {
        const u = out.runs[p.dataset.pgRun];
        if (!u || !p.isConnected) continue;
        const log = p.querySelector(".pg-log");
        const atEnd = !log || log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
        const before = p.dataset.pgCoarse;
        patch(p, u.html);
        p.dataset.pgFp = u.fp; p.dataset.pgLive = u.live; p.dataset.pgCoarse = u.coarse;
        const now = p.querySelector(".pg-log");
        if (now && atEnd) now.scrollTop = now.scrollHeight;
        if (p.dataset.pgPoke && before !== u.coarse) document.getElementById(p.dataset.pgPoke)?.click();
      }
    } catch (e) {
      console.error("[playground] a live panel update failed:", e);  // the next tick tries again
    } finally {
      busy = false;
    }
  }
  // every 2 s while a visible panel follows a live run, else every 5 s (pickers only)
  let last = 0;
  setInterval(() => {
    const live = document.querySelector(".pg-live[data-pg-live='1']");
    if (Date.now() - last >= (live && live.offsetParent !== null ? 1900 : 4900)) { last = Date.now(); tick(); }
  }, 1000);
  document.addEventListener("visibilitychange", () => { if (!document.hidden) tick(); });
  document.addEventListener("click", (e) => { if (!e.target.closest?.(".pg-hidden")) setTimeout(tick, 300); }, true);
}
""".replace("__FAILURES__", str(POLL_FAILURES)).replace("__GRADIO__", GRADIO_VERSION)


class HeadFirst:
    """ASGI middleware: PAGE_HEAD as the first thing in the <head> of every HTML page the app serves (before
    Gradio's module script, which must find the throttled requestAnimationFrame). Other responses pass through
    untouched; an HTML page is at most a few hundred KB, so it is rewritten whole."""

    def __init__(self, app) -> None:
        self.app = app
        self.script = PAGE_HEAD.encode()

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope.get("method") != "GET" or "file=" in scope.get("path", ""):
            await self.app(scope, receive, send)  # a file a user downloads is served as it is, HTML or not
            return
        start: dict | None = None
        chunks: list[bytes] = []

        async def send_page(message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                headers = dict(message.get("headers") or [])
                if headers.get(b"content-type", b"").startswith(b"text/html") and b"content-encoding" not in headers:
                    start = message  # held until the whole page is here
                    return
            elif message["type"] == "http.response.body" and start is not None:
                chunks.append(message.get("body", b""))
                if message.get("more_body"):
                    return
                body = b"".join(chunks).replace(b"<head>", b"<head>" + self.script, 1)
                headers = [(k, v) for k, v in start.get("headers") or [] if k.lower() != b"content-length"]
                await send({**start, "headers": [*headers, (b"content-length", str(len(body)).encode())]})
                await send({"type": "http.response.body", "body": body})
                return
            await send(message)

        await self.app(scope, receive, send_page)
