"""The page side of the live view: its styles and the one page script (installed by live.wire_page).

PAGE_JS runs once per page. Every 2 s (5 s when no visible panel follows a live run), while the browser tab is visible (and right after a click, which may have
shown another tab), it sends one plain HTTP call to the app's `page_poll` endpoint (Gradio's `/call/` REST route:
signed-in like the page, role-checked on the server, no front-end state touched) with the followed run and
fingerprint of each live panel that is visible and live. It writes the returned inner HTML into those panels,
keeps the log pane scrolled to its end (unless the reader scrolled up), clicks a panel's hidden "poke" button
when a per-run view listens and the run has a new update or state, and clicks the hidden pickers button when
what the workspace's pickers would list changed. Nothing else: no Gradio event while nothing changed.
"""

CSS = """
.pg-objective .katex-display {overflow-x: auto; overflow-y: hidden; max-width: 100%; padding: 2px 0;}
.pg-objective .katex-display > .katex {font-size: 0.95em;}
.pg-chart svg {height: auto;}
.pg-charts {display: grid; grid-template-columns: repeat(auto-fit, minmax(300px, 1fr)); gap: 8px; margin-top: 8px;}
.pg-status p {margin: 0 0 4px 0;}
.pg-log-label {font-size: 12px; opacity: .75; margin-top: 8px;}
.pg-log {max-height: 14em; overflow: auto; font-size: 12px; white-space: pre-wrap; margin: 2px 0 0 0;
  padding: 6px 8px; border: 1px solid var(--border-color-primary); border-radius: 6px;}
.pg-advanced > button {font-weight: 600;}
.pg-hidden {display: none !important;}
"""

# Gradio 6.31's status trackers tick their elapsed-time label through Svelte's animation loop, and on every page
# one of them stays "pending" with nothing running, so the loop asks for all 60 frames a second for as long as the
# page is open: a few % of a core in an idle tab. Before Gradio's bundle loads, this head script gives that loop
# (recognised by its call stack: Svelte's frame loop re-arming itself) a frame at most four times a second; every
# other requestAnimationFrame caller (first frames of transitions, iframe resizing, charts) is untouched.
PAGE_HEAD = r"""<script>
(() => {
  const raf = window.requestAnimationFrame.bind(window);
  window.requestAnimationFrame = (cb) => {
    const stack = (new Error().stack || "").split("\n");
    const rearm = stack.length > 3 && /at Object\.tick /.test(stack[2]) && / at (\w+) /.exec(stack[3])?.[1] === cb.name;
    return rearm ? setTimeout(() => raf(cb), 250) : raf(cb);
  };
})();
</script>"""

PAGE_JS = r"""
if (!window.__pgLive) {
  window.__pgLive = true;
  const base = () => ((window.gradio_config && window.gradio_config.root) ||
                      (location.origin + location.pathname)).replace(/\/+$/, "");
  let rev = null, busy = false;
  async function poll(ask) {
    const url = base() + "/gradio_api/call/page_poll";
    const r = await fetch(url, {method: "POST", headers: {"Content-Type": "application/json"},
                                body: JSON.stringify({data: [JSON.stringify(ask)]})});
    if (!r.ok) return null;
    const id = (await r.json()).event_id;
    const text = await (await fetch(url + "/" + id)).text();
    const m = /event: complete\s*\ndata: (.*)/.exec(text);
    return m ? JSON.parse(JSON.parse(m[1])[0]) : null;
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
      const out = await poll({runs});
      if (!out) return;
      if (rev !== null && out.rev !== rev) document.getElementById("pg-pickers-poke")?.click();
      rev = out.rev;
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
      /* the server restarting or a network blip: the next tick tries again */
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
"""
