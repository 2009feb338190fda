// The live wallboard: renders each snapshot pushed on /supervisor/api/stream (Server-Sent
// Events; EventSource reconnects by itself when the server ends a stream), and posts the
// dispatch actions as JSON with the session's CSRF token.
"use strict";
(function () {
  const base = "/supervisor/api";
  const csrf = document.querySelector("meta[name=csrf-token]").content;
  let last = null;

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") node.className = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v);
    }
    for (const c of children) node.append(c instanceof Node ? c : String(c ?? ""));
    return node;
  }
  const secs = (s) => (s == null ? "–" : s < 60 ? `${s}s` : `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`);
  const pct = (v) => (v == null ? "–" : `${v}%`);

  async function act(path, body) {
    const msg = document.getElementById("message");
    try {
      const r = await fetch(base + path, {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
        body: JSON.stringify(body || {}),
      });
      const data = await r.json();
      msg.textContent = r.ok ? `done: ${path}` : `refused: ${data.error ? data.error.message : r.status}`;
      msg.dataset.ok = r.ok ? "1" : "0";
    } catch (e) {
      msg.textContent = `failed: ${e}`;
    }
  }

  function queueNames(snap) { return snap.queues.map((q) => q.queue); }

  function renderNotices(snap) {
    const ul = document.getElementById("notices");
    ul.replaceChildren(...(snap.notices || []).map((n) => el("li",
      { class: "notice", "data-kind": n.kind, "data-at": n.at },
      `${n.at.slice(11, 19)} 队列已从数据库重建 Queues rebuilt from the database`
      + ` (${n.reason === "redis-lost" ? "Redis lost its data" : "on request"}):`
      + ` ${n.callers} waiting callers, ${n.agents} available agents`)));
  }

  function renderAlerts(snap) {
    const ul = document.getElementById("alerts");
    ul.replaceChildren(...snap.alerts.map((a) => el("li",
      { class: a.holding ? "holding" : "cleared", "data-kind": a.kind, "data-id": a.id },
      `${a.raised_at.slice(11, 19)} ${a.message} `,
      el("button", { class: "ack", onclick: () => act(`/alerts/${a.id}/ack`) }, "Acknowledge"))));
  }

  function renderQueues(snap) {
    const tbody = document.querySelector("#queues tbody");
    tbody.replaceChildren(...snap.queues.map((q) => {
      const slBad = q.sl_30m != null && q.sl_target != null && q.sl_30m < q.sl_target;
      const agents = Object.entries(q.agents).map(([s, n]) => `${s} ${n}`).join(", ");
      return el("tr", { "data-queue": q.queue },
        el("td", {}, q.queue),
        el("td", { class: "num waiting" }, q.waiting),
        el("td", { class: "num longest" }, secs(q.longest_wait_s)),
        el("td", { class: "num" }, secs(q.vip_wait_s)),
        el("td", { class: "num callbacks" }, q.callbacks),
        el("td", { class: "num" }, pct(q.sl_today)),
        el("td", { class: "num" + (slBad ? " bad" : "") }, pct(q.sl_30m)),
        el("td", { class: "num" }, `${q.sl_target}% / ${q.sl_within_s}s`),
        el("td", { class: "num" }, secs(q.asa_s)),
        el("td", { class: "num" }, pct(q.abandon_rate)),
        el("td", { class: "num" }, q.answered),
        el("td", {}, agents || "–"));
    }));
  }

  function renderChart(snap) {
    const svg = document.getElementById("chart");
    const h = snap.history;
    const ns = "http://www.w3.org/2000/svg";
    svg.replaceChildren();
    if (h.length === 0) return;
    const W = 800, H = 180, pad = 20;
    const maxW = Math.max(1, ...h.map((p) => p.waiting));
    const x = (i) => pad + (h.length === 1 ? 0 : (i * (W - 2 * pad)) / (h.length - 1));
    const yW = (v) => H - pad - (v / maxW) * (H - 2 * pad);
    const yS = (v) => H - pad - (v / 100) * (H - 2 * pad);
    const line = (pts, color) => {
      const p = document.createElementNS(ns, "polyline");
      p.setAttribute("points", pts.join(" "));
      p.setAttribute("fill", "none"); p.setAttribute("stroke", color); p.setAttribute("stroke-width", "2");
      svg.append(p);
    };
    line(h.map((p, i) => `${x(i)},${yW(p.waiting)}`), "#0b57d0");
    line(h.filter((p) => p.sl != null).map((p) => `${x(h.indexOf(p))},${yS(p.sl)}`), "#1b7f3b");
    const label = (text, y, color) => {
      const t = document.createElementNS(ns, "text");
      t.setAttribute("x", 2); t.setAttribute("y", y); t.setAttribute("fill", color);
      t.setAttribute("font-size", "11"); t.textContent = text; svg.append(t);
    };
    label(`max ${maxW} waiting`, 12, "#0b57d0");
    label(`${h[0].t.slice(11, 16)} – ${h[h.length - 1].t.slice(11, 16)} UTC, ${h.length} samples`, H - 4, "#555");
    for (const [i, p] of h.entries()) {
      const c = document.createElementNS(ns, "circle");
      c.setAttribute("cx", x(i)); c.setAttribute("cy", yW(p.waiting)); c.setAttribute("r", 2.5);
      c.setAttribute("fill", "#0b57d0"); svg.append(c);
    }
  }

  // Tables are rebuilt at every push: keep what the supervisor picked in their selects.
  function keepChoices(tbody, key, build) {
    const chosen = new Map();
    for (const sel of tbody.querySelectorAll("select")) chosen.set(`${sel.closest("tr").dataset[key]}|${sel.className}`, sel.value);
    build();
    for (const sel of tbody.querySelectorAll("select")) {
      const v = chosen.get(`${sel.closest("tr").dataset[key]}|${sel.className}`);
      if (v !== undefined && [...sel.options].some((o) => o.value === v)) sel.value = v;
    }
  }

  function renderWaiting(snap) {
    const tbody = document.querySelector("#waiting tbody");
    keepChoices(tbody, "entry", () => buildWaiting(snap, tbody));
  }

  function buildWaiting(snap, tbody) {
    const available = snap.agents.filter((a) => a.state === "available");
    tbody.replaceChildren(...snap.waiting.map((w) => {
      const to = el("select", { class: "move-to" }, ...queueNames(snap).filter((q) => q !== w.queue)
        .map((q) => el("option", { value: q }, q)));
      const agent = el("select", { class: "assign-to" }, ...available.map((a) => el("option", { value: a.id }, a.name)));
      return el("tr", { "data-entry": w.entry_id, "data-queue": w.queue },
        el("td", {}, w.entry_id), el("td", { class: "queue" }, w.queue),
        el("td", {}, (w.vip ? "★ " : "") + w.tier + (w.callback ? " (callback)" : "")),
        el("td", { class: "num" }, secs(w.waited_s)), el("td", { class: "num" }, w.priority),
        el("td", {}, to, el("button", { class: "move", onclick: () => act(`/entries/${w.entry_id}/move`, { queue: to.value }) }, "Move"),
          el("button", { class: "bump", onclick: () => act(`/entries/${w.entry_id}/priority`, { by: 10 }) }, "+10"),
          agent, el("button", { class: "assign", onclick: () => act(`/entries/${w.entry_id}/assign`, { agent_id: Number(agent.value) }) }, "Hand over")));
    }));
  }

  function renderAgents(snap) {
    const tbody = document.querySelector("#agents tbody");
    keepChoices(tbody, "agent", () => buildAgents(snap, tbody));
  }

  function buildAgents(snap, tbody) {
    tbody.replaceChildren(...snap.agents.map((a) => {
      const state = el("select", { class: "set-state" }, ...["available", "break", "offline"].map((s) => el("option", { value: s }, s)));
      const actions = [state, el("button", { onclick: () => act(`/agents/${a.id}/state`, { state: state.value, reason: state.value === "break" ? "meeting" : null }) }, "Set")];
      if (a.call && a.call.connected) {
        for (const mode of ["listen", "whisper", "barge"]) {
          actions.push(el("button", { class: mode, onclick: () => act(`/entries/${a.call.entry_id}/monitor`, { mode }) }, mode));
        }
      }
      const call = !a.call ? "–"
        : a.call.outbound ? `${a.call.outbound} ${secs(a.call.since_s)}`
        : `${a.call.queue} #${a.call.entry_id} ${a.call.tier} ${secs(a.call.since_s)}`;
      return el("tr", { "data-agent": a.id },
        el("td", {}, a.name), el("td", {}, a.team),
        el("td", { class: `state-${a.state}` }, a.state + (a.reason ? ` (${a.reason})` : "")),
        el("td", { class: "num" }, secs(a.in_state_s)), el("td", {}, call),
        el("td", { class: "num" }, a.handled), el("td", { class: "num" }, secs(a.aht_s)),
        el("td", { class: "num" }, pct(a.fcr_7d)),
        el("td", {}, ...actions));
    }));
  }

  function renderSupport(snap) {
    const group = document.getElementById("support-group");
    const queue = document.getElementById("support-queue");
    if (!group.options.length) {
      group.replaceChildren(...snap.groups.map((g) => el("option", { value: g }, g)));
      queue.replaceChildren(...queueNames(snap).map((q) => el("option", { value: q }, q)));
    }
    document.getElementById("support").replaceChildren(...snap.support.map((s) =>
      el("li", {}, `${s.group} → ${s.queue}: ${s.agents.length} agents${s.automatic ? " (by rule)" : ""}`)));
  }

  function render(snap) {
    last = snap;
    document.getElementById("total-waiting").textContent = snap.totals.waiting;
    document.getElementById("total-sl").textContent = pct(snap.totals.sl_30m);
    document.getElementById("total-fcr").textContent = pct(snap.totals.fcr_7d);
    const updated = document.getElementById("updated");
    updated.textContent = `updated ${snap.at.slice(11, 19)} UTC`;
    updated.dataset.at = snap.at;
    renderAlerts(snap); renderNotices(snap); renderQueues(snap); renderChart(snap); renderWaiting(snap); renderAgents(snap); renderSupport(snap);
  }

  document.getElementById("support-pull").addEventListener("click", () =>
    act(`/support/${document.getElementById("support-group").value}/pull`, { queue: document.getElementById("support-queue").value }));
  document.getElementById("support-release").addEventListener("click", () =>
    act(`/support/${document.getElementById("support-group").value}/release`, { queue: document.getElementById("support-queue").value }));

  // Pushed snapshots; if the stream never opens (the server serves a few streams per process
  // and answers 503 to the rest), poll the same snapshot instead.
  let received = false;
  let failures = 0;
  const source = new EventSource(base + "/stream");
  source.addEventListener("snapshot", (e) => { received = true; failures = 0; render(JSON.parse(e.data)); });
  source.onerror = () => {
    document.getElementById("updated").textContent = "reconnecting…";
    if (!received && ++failures >= 2) {
      source.close();
      const poll = () => fetch(base + "/snapshot", { credentials: "same-origin" })
        .then((r) => (r.ok ? r.json() : null)).then((snap) => { if (snap) render(snap); })
        .catch(() => {});
      poll();
      setInterval(poll, 2000);
    }
  };
  window.wallboard = { last: () => last };
})();
