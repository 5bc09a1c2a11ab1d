// Jupyter Containers console. No framework, no assets from the internet. Every text that came
// from the API is put in the page with textContent, never innerHTML, so markup stays text.
"use strict";
(function () {
  const $ = (sel, root) => (root || document).querySelector(sel);
  const $$ = (sel, root) => Array.from((root || document).querySelectorAll(sel));
  const el = (tag, attrs, text) => {
    const node = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([k, v]) => node.setAttribute(k, v));
    if (text !== undefined) node.textContent = text;
    return node;
  };

  function toast(text, isError) {
    const t = $("#toast");
    t.textContent = text;
    t.className = "toast" + (isError ? " error" : "");
    t.hidden = false;
    clearTimeout(toast.timer);
    toast.timer = setTimeout(() => { t.hidden = true; }, isError ? 15000 : 5000);
  }

  async function postJSON(url, body) {
    const resp = await fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body || {}),
      credentials: "same-origin",
    });
    let data = {};
    try { data = await resp.json(); } catch (e) { data = { error: "The console answered " + resp.status + "." }; }
    if (data.apiDown) showBanner(true);
    return { ok: resp.ok, status: resp.status, data: data };
  }

  function confirmDialog(text, yes) {
    const dialog = $("#confirm");
    $("#confirm-text").textContent = text;
    $("#confirm-ok").textContent = yes;
    return new Promise((resolve) => {
      // Each question starts unanswered: Escape closes the dialog without setting one.
      dialog.returnValue = "";
      const closed = () => {
        // The close event is queued: one from the previous opening (Escape, then reopened at
        // once) can arrive while this one is open; it is not this dialog's answer.
        if (dialog.open) return;
        dialog.removeEventListener("close", closed);
        resolve(dialog.returnValue === "ok");
      };
      dialog.addEventListener("close", closed);
      dialog.showModal();
      $("#confirm-ok").focus();
    });
  }

  // ------------------------------------------------------------ copy, menus, actions
  document.addEventListener("click", async (ev) => {
    const copy = ev.target.closest("[data-copy]");
    if (copy) {
      ev.preventDefault();
      try { await navigator.clipboard.writeText(copy.dataset.copy); toast("ID copied."); }
      catch (e) { toast("Copy failed: select the ID and copy it.", true); }
      return;
    }
    const disabled = ev.target.closest("a[aria-disabled='true']");
    if (disabled) { ev.preventDefault(); return; }
    const button = ev.target.closest("button[data-action]");
    if (!button || button.disabled) return;
    const holder = button.closest("[data-name]") || $("#detail");
    const domain = holder.dataset.domain, name = holder.dataset.name;
    const action = button.dataset.action;
    if (action === "terminate") {
      const ok = await confirmDialog("Terminate '" + name + "'? Its Deployment and Service are deleted; the configuration is kept. If no persistent volume is attached, all unsaved work inside the container is lost.", "Yes, terminate it");
      if (!ok) return;
    }
    if (action === "delete") {
      const ok = await confirmDialog("Delete '" + name + "'? This is permanent: its Kubernetes resources and any On Demand PVC (with all its data) are deleted. This action cannot be undone.", "Yes, delete it");
      if (!ok) return;
    }
    const result = await postJSON("/api/domains/" + encodeURIComponent(domain) + "/containers/" + encodeURIComponent(name) + "/" + action);
    if (!result.ok) { toast(result.data.error || (result.data.errors && result.data.errors.form || []).join(" ") || "Refused.", true); return; }
    const menu = button.closest("details"); if (menu) menu.open = false;
    if (action === "delete") {
      toast("'" + name + "' deleted.");
      if ($("#detail") || $("#jc-form")) location.href = "/containers";
    } else {
      toast(action === "start" ? "Starting '" + name + "'." : "Terminating '" + name + "'.");
    }
  });

  // ------------------------------------------------------------ live status (server-sent events)
  function showBanner(down) { const b = $("#banner"); if (b) b.hidden = !down; }

  // How pages name a container (data-container) and the stream's messages are matched to it.
  function keyOf(c) { return c.domain + "/" + c.name; }

  function applyRow(c) {
    $$("[data-container]").forEach((node) => {
      if (node.dataset.container !== keyOf(c)) return;
      $$(".badge[data-phase]", node).forEach((badge) => {
        badge.textContent = c.phase;
        badge.dataset.phase = c.phase;
        badge.className = "badge " + c.phase.toLowerCase();
        if (c.error) { badge.title = c.error; badge.tabIndex = 0; } else { badge.removeAttribute("title"); }
        const err = badge.parentElement.querySelector(".badge-error");
        if (err) { err.textContent = c.error || ""; err.hidden = !c.error; }
      });
      $$("[data-action='start']", node).forEach((b) => { b.disabled = !c.canStart; });
      $$("[data-action='terminate']", node).forEach((b) => { b.disabled = !c.canTerminate; });
      $$("[data-action='configure']", node).forEach((a) => {
        if (c.canConfigure) { a.removeAttribute("aria-disabled"); a.classList.remove("disabled"); a.removeAttribute("title"); }
        else { a.setAttribute("aria-disabled", "true"); a.classList.add("disabled"); }
        const tip = $("#configure-tip"); if (tip && node.id === "detail") tip.hidden = c.canConfigure;
      });
      $$("[data-needs='active'], #open-lab", node).forEach((a) => {
        if (c.phase === "Active") a.removeAttribute("aria-disabled"); else a.setAttribute("aria-disabled", "true");
      });
    });
    const detail = $("#detail");
    if (detail && detail.dataset.container === keyOf(c)) applyDetails(c);
  }

  // The detail page's Details from a stream message (views.live_fields): what a reload shows.
  function applyDetails(c) {
    const dd = $("[data-field='status-detail']");
    if (dd) {
      let err = $("[data-field='error']", dd);
      if (c.error) { if (!err) { err = el("div", { class: "error-text", "data-field": "error" }); dd.appendChild(err); } err.textContent = c.error; }
      else if (err) err.remove();
    }
    ["bundle", "instance", "volume", "namespace"].forEach((k) => {
      const node = $("dl.details [data-field='" + k + "']");
      if (node && c[k] !== undefined) node.textContent = c[k];
    });
    const size = $("dl.details [data-field='volume-size']");
    if (size && c.volumeSize !== undefined) {
      size.textContent = c.volumeSize;
      size.hidden = !c.volumeSize;
      $("dl.details [data-field='volume-size-label']").hidden = !c.volumeSize;
    }
    const culling = $("dl.details [data-field='culling']");
    if (culling && c.culling !== undefined) {
      culling.textContent = c.culling;
      culling.hidden = !c.culling;
      $("dl.details [data-field='culling-label']").hidden = !c.culling;
    }
    const tags = $("dl.details [data-field='tags']");
    if (tags && c.tags) {
      const list = el("ul", { class: "tags" });
      c.tags.forEach(([k, v]) => list.appendChild(el("li")).appendChild(el("span", { class: "tag" }, k + "=" + v)));
      tags.replaceChildren(list);
      tags.hidden = !c.tags.length;
      $("dl.details [data-field='tags-label']").hidden = !c.tags.length;
    }
  }

  function startStream(reconnected) {
    if (!document.body.dataset.streamDomains && !$("#detail")) return;
    let broken = !!reconnected;
    // The containers this page shows: the server first sends their current state (what
    // changed between rendering the page and subscribing), then every change.
    const shown = Array.from(new Set($$("[data-container]").map((n) => n.dataset.container)));
    const source = new EventSource("/api/stream?shown=" + encodeURIComponent(shown.join(",")));
    document.body.dataset.stream = "connecting";
    source.addEventListener("open", () => {
      document.body.dataset.stream = "open";
      if (broken) { broken = false; resync(); }
    });
    source.addEventListener("error", () => {
      broken = true;
      document.body.dataset.stream = "reconnecting";
      if (source.readyState === EventSource.CLOSED) {
        // A refused (non-200) stream is not retried by the browser: start a new one.
        setTimeout(() => { startStream(true); }, 3000);
      }
    });
    source.addEventListener("api", (ev) => {
      const msg = JSON.parse(ev.data);
      const wasDown = !$("#banner").hidden;
      showBanner(!msg.up);
      if (msg.up && wasDown) resync();
    });
    source.addEventListener("container", (ev) => {
      const msg = JSON.parse(ev.data);
      if (rereading) rereading.set(keyOf(msg.container), msg);
      applyMessage(msg);
    });
  }

  function applyMessage(msg) {
    const key = keyOf(msg.container);
    if (msg.type === "DELETED") {
      $$("tr[data-container]").forEach((tr) => { if (tr.dataset.container === key) tr.remove(); });
      return;
    }
    const known = $$("[data-container]").some((n) => n.dataset.container === key);
    if (known) applyRow(msg.container);
    else if ($("#list-body")) refreshList();
  }

  // A container the list does not show yet (just created, or now in view): re-read the list's
  // table once (debounced) and swap it in; the page itself stays (no reload, no polling).
  // The table is read at one moment and swapped in later: what the stream sent meanwhile (the
  // last message of each container) is applied again to the fresh table, which would
  // otherwise show the older state until the container's next change.
  let refreshTimer = null;
  let rereading = null;
  function refreshList() {
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(async () => {
      const since = new Map();
      rereading = since;
      try {
        const resp = await fetch(location.href, { credentials: "same-origin" });
        if (!resp.ok) return;
        const doc = new DOMParser().parseFromString(await resp.text(), "text/html");
        const fresh = doc.getElementById("list-body");
        if (!fresh || rereading !== since) return;  // a later read is under way: it wins
        $("#list-body").replaceWith(document.adoptNode(fresh));
        since.forEach(applyMessage);
      } finally {
        if (rereading === since) rereading = null;
      }
    }, 300);
  }

  function resync() {
    // After a lost stream or an API outage, without a reload: a reconnected stream first sends
    // the current state of every container the page shows (and a re-established watch sends
    // them all again), which updates badges and Details; the list's table is re-read for the
    // containers created or deleted meanwhile. A form keeps what the user typed.
    if ($("#list-body")) refreshList();
  }

  // ------------------------------------------------------------ logs
  function setupLogs() {
    const form = $("#logs-form");
    if (!form) return;
    const detail = $("#detail");
    const base = "/api/domains/" + encodeURIComponent(detail.dataset.domain) + "/containers/" + encodeURIComponent(detail.dataset.name) + "/logs";
    let controller = null;
    function params(download) {
      const p = new URLSearchParams();
      ["since", "sinceTime", "until"].forEach((k) => { const v = form.elements[k].value.trim(); if (v) p.set(k, v); });
      if (download) p.set("download", "1"); else if (form.elements.follow.checked) p.set("follow", "1");
      return p.toString();
    }
    async function load() {
      if (controller) controller.abort();
      controller = new AbortController();
      const pre = $("#logs");
      pre.textContent = "";
      $("#logs-download").href = base + "?" + params(true);
      try {
        const resp = await fetch(base + "?" + params(false), { signal: controller.signal });
        if (!resp.ok) { let t = ""; try { t = (await resp.json()).error; } catch (e) { t = resp.statusText; } pre.textContent = t; return; }
        const reader = resp.body.getReader();
        const decoder = new TextDecoder();
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          pre.textContent += decoder.decode(value, { stream: true });
          pre.scrollTop = pre.scrollHeight;
        }
        pre.dataset.done = "true";
      } catch (e) { if (e.name !== "AbortError") pre.textContent += "\n[console] the log stream was interrupted."; }
    }
    form.addEventListener("submit", (ev) => { ev.preventDefault(); load(); });
    load();
  }

  // ------------------------------------------------------------ the create / configure form
  function setupForm() {
    const form = $("#jc-form");
    if (!form) return;
    const facts = JSON.parse($("#facts").textContent);
    const mode = facts.mode;
    const domain = facts.domain;
    const tabs = $$("[role='tab']", form);
    const panels = $$("[role='tabpanel']", form);
    let current = 0;

    function envRow(v) {
      v = v || { name: "", kind: "plain", value: "" };
      const i = $$(".env-row").length + 1;
      const row = el("div", { class: "env-row row" });
      const name = el("input", { "aria-label": "Variable " + i + " name", "data-k": "name", placeholder: "NAME" }); name.value = v.name || "";
      const kind = el("select", { "aria-label": "Variable " + i + " source", "data-k": "kind" });
      kind.appendChild(el("option", { value: "plain" }, "Plain text"));
      kind.appendChild(el("option", { value: "secret" }, "Secret"));
      kind.value = v.kind || "plain";
      const value = el("input", { "aria-label": "Variable " + i + " value", "data-k": "value", placeholder: "value" }); value.value = v.value || "";
      const secret = el("input", { "aria-label": "Variable " + i + " Secret name", "data-k": "secret", placeholder: "Secret name" }); secret.value = v.secret || "";
      const key = el("input", { "aria-label": "Variable " + i + " Secret key", "data-k": "key", placeholder: "key" }); key.value = v.key || "";
      const remove = el("button", { type: "button", class: "btn", "aria-label": "Remove variable " + i }, "Remove");
      remove.addEventListener("click", () => row.remove());
      function sync() { const s = kind.value === "secret"; value.hidden = s; secret.hidden = !s; key.hidden = !s; }
      kind.addEventListener("change", sync); sync();
      [name, kind, value, secret, key, remove].forEach((n) => row.appendChild(n));
      $("#env-rows").appendChild(row);
    }
    function tagRow(v) {
      v = v || { key: "", value: "" };
      const i = $$(".tag-row").length + 1;
      const row = el("div", { class: "tag-row row" });
      const key = el("input", { "aria-label": "Tag " + i + " key", "data-k": "key", placeholder: "key" }); key.value = v.key || "";
      const value = el("input", { "aria-label": "Tag " + i + " value", "data-k": "value", placeholder: "value" }); value.value = v.value || "";
      const remove = el("button", { type: "button", class: "btn", "aria-label": "Remove tag " + i }, "Remove");
      remove.addEventListener("click", () => row.remove());
      [key, value, remove].forEach((n) => row.appendChild(n));
      $("#tag-rows").appendChild(row);
    }
    (facts.values.env || []).forEach(envRow);
    (facts.values.tags || []).forEach(tagRow);
    $("#add-env").addEventListener("click", () => { envRow(); $$(".env-row input").slice(-4)[0].focus(); });
    $("#add-tag").addEventListener("click", () => { tagRow(); $$(".tag-row input").slice(-2)[0].focus(); });

    function values() {
      const rows = (sel) => $$(sel).map((r) => Object.fromEntries($$("[data-k]", r).map((n) => [n.dataset.k, n.value])));
      return {
        name: form.elements.name.value, bundle: form.elements.bundle.value, namespace: form.elements.namespace.value,
        instanceType: form.elements.instanceType.value, volume: form.elements.volume.value,
        volumeSize: form.elements.volumeSize.value,
        image: form.elements.image.value,
        env: rows(".env-row"), args: form.elements.args.value, tags: rows(".tag-row"),
      };
    }

    function clearErrors(tab) {
      $$("[data-error-for]", tab === undefined ? form : panels[tab]).forEach((n) => { n.textContent = ""; });
      $$("[aria-invalid]", tab === undefined ? form : panels[tab]).forEach((n) => n.removeAttribute("aria-invalid"));
    }
    const FIELD_INPUT = { name: "f-name", bundle: "f-bundle", namespace: "f-namespace", instanceType: "f-instance", volume: "f-volume", volumeSize: "f-volume-size", image: "f-image", args: "f-args" };
    function showErrors(errors, tabsWithErrors) {
      Object.entries(errors || {}).forEach(([field, messages]) => {
        const box = $("[data-error-for='" + field + "']", form) || $("[data-error-for='form']", form);
        box.textContent = "";
        messages.forEach((m) => box.appendChild(el("div", { class: "msg" }, m)));
        const input = FIELD_INPUT[field] && document.getElementById(FIELD_INPUT[field]);
        if (input) input.setAttribute("aria-invalid", "true");
      });
      (tabsWithErrors || []).forEach((t) => { const tab = tabs.find((x) => x.dataset.tab === t); if (tab) $(".tab-error", tab).hidden = false; });
    }
    function mark(i, bad) { $(".tab-error", tabs[i]).hidden = !bad; }

    function show(i) {
      current = i;
      tabs.forEach((t, j) => { t.setAttribute("aria-selected", j === i ? "true" : "false"); t.tabIndex = j === i ? 0 : -1; });
      panels.forEach((p, j) => { p.hidden = j !== i; });
      $("#prev").disabled = i === 0;
      $("#next").hidden = i === panels.length - 1;
      $("#submit").hidden = i !== panels.length - 1;
      if (i === panels.length - 1) review();
    }
    async function check(i) {
      const tab = tabs[i].dataset.tab;
      if (tab === "Review & Create") return true;
      clearErrors(i);
      const result = await postJSON("/api/domains/" + encodeURIComponent(domain) + "/check", { tab: tab, mode: mode, form: values() });
      const bad = !result.ok;
      mark(i, bad);
      if (bad) showErrors(result.data.errors, result.data.tabs);
      return !bad;
    }
    tabs.forEach((t, i) => t.addEventListener("click", () => show(i)));
    tabs.forEach((t, i) => t.addEventListener("keydown", (ev) => {
      if (ev.key === "ArrowRight") { show((i + 1) % tabs.length); tabs[current].focus(); }
      if (ev.key === "ArrowLeft") { show((i + tabs.length - 1) % tabs.length); tabs[current].focus(); }
    }));
    $("#next").addEventListener("click", async () => { if (await check(current)) show(current + 1); });
    $("#prev").addEventListener("click", () => show(Math.max(0, current - 1)));

    const bundle = form.elements.bundle;
    bundle.addEventListener("change", () => { if (bundle.value === "__create__") location.href = "/domains/" + encodeURIComponent(domain) + "/bundles/new"; });
    // Catalog entries restricted to bundles (data-bundles) are offered with those only.
    function offerForBundle() {
      ["instanceType", "volume", "image"].forEach((field) => {
        const select = form.elements[field];
        Array.from(select.options).forEach((o) => {
          if (o.dataset.bundles === undefined) return;
          const ok = o.dataset.bundles.split(" ").includes(bundle.value);
          o.hidden = o.disabled = !ok;
        });
        if (select.selectedOptions[0] && select.selectedOptions[0].disabled) {
          const first = Array.from(select.options).find((o) => !o.disabled);
          select.value = first ? first.value : "";
        }
      });
    }
    bundle.addEventListener("change", offerForBundle);
    offerForBundle();
    const volume = form.elements.volume;
    volume.addEventListener("change", () => {
      $("#no-volume-note").hidden = !!volume.value;
      const w = $("#volume-warning"); if (w) w.hidden = volume.value === (facts.values.volume || "");
    });
    const ns = form.elements.namespace;
    ns.addEventListener("change", () => { const w = $("#namespace-warning"); if (w) w.hidden = ns.value === facts.values.namespace; });

    function summaryRow(dl, label, value) { dl.appendChild(el("dt", {}, label)); dl.appendChild(el("dd", {}, value)); }
    async function review() {
      const box = $("#review");
      box.textContent = "Checking with the server (dry run)…";
      clearErrors(panels.length - 1);
      const v = values();
      const result = await postJSON("/api/domains/" + encodeURIComponent(domain) + "/review", { mode: mode, form: v });
      box.textContent = "";
      const dl = el("dl", { class: "details", "aria-label": "Summary" });
      summaryRow(dl, "Name", v.name); summaryRow(dl, "Bundle", v.bundle); summaryRow(dl, "Namespace", v.namespace);
      const it = facts.instanceTypes.find((x) => x.name === v.instanceType);
      summaryRow(dl, "Instance type", it ? it.text : v.instanceType);
      const vol = facts.volumes.find((x) => x.name === v.volume);
      summaryRow(dl, "Volume", v.volume ? (vol ? vol.text : v.volume) : "No volume");
      if (v.volumeSize) summaryRow(dl, "PVC size", v.volumeSize);
      const img = facts.images.find((x) => x.name === v.image);
      summaryRow(dl, "Image", v.image ? (img ? img.text : v.image) : "Default");
      const env = v.env.filter((e) => e.name);
      if (env.length) summaryRow(dl, "Environment variables", env.map((e) => e.kind === "secret" ? e.name + " = secret " + e.secret + ":" + e.key : e.name + "=" + e.value).join("\n"));
      const args = v.args.split("\n").map((a) => a.trim()).filter(Boolean);
      if (args.length) summaryRow(dl, "Arguments", args.join(" "));
      const tags = v.tags.filter((t) => t.key);
      if (tags.length) summaryRow(dl, "Tags", tags.map((t) => t.key + "=" + t.value).join("\n"));
      box.appendChild(dl);
      if (!result.ok) {
        showErrors(result.data.errors, result.data.tabs);
        (result.data.tabs || []).forEach((t) => { const i = tabs.findIndex((x) => x.dataset.tab === t); if (i >= 0) mark(i, true); });
        return;
      }
      (result.data.warnings || []).forEach((w) => box.appendChild(el("div", { class: "warn-box admission-warning", role: "alert" }, w)));
      box.appendChild(el("h2", {}, "Resource Summary"));
      if (!result.data.quotaReadable) box.appendChild(el("p", {}, "You may not read this namespace's quota; the server checks it when you submit."));
      else if (!result.data.cost.length) box.appendChild(el("p", {}, "No quota applies in this namespace."));
      else {
        const table = el("table", { class: "list", "aria-label": "Resource Summary" });
        const head = el("tr"); ["Quota", "Resource", "Requested", "Used", "Hard", "Available", ""].forEach((h) => head.appendChild(el("th", { scope: "col" }, h)));
        table.appendChild(el("thead")).appendChild(head);
        const body = el("tbody");
        result.data.cost.forEach((c) => {
          const tr = el("tr");
          [c.quota, c.resource, c.requested, c.used, c.hard, c.available, c.fits ? "ok" : "exceeds quota"].forEach((x) => tr.appendChild(el("td", {}, x)));
          body.appendChild(tr);
        });
        table.appendChild(body);
        box.appendChild(table);
      }
    }

    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const submit = $("#submit");
      submit.disabled = true;
      clearErrors();
      const result = await postJSON("/api/domains/" + encodeURIComponent(domain) + "/submit", { mode: mode, form: values(), generation: facts.generation });
      submit.disabled = false;
      if (!result.ok) {
        showErrors(result.data.errors, result.data.tabs);
        (result.data.tabs || []).forEach((t) => { const i = tabs.findIndex((x) => x.dataset.tab === t); if (i >= 0) mark(i, true); });
        // Refused on a field of another tab (e.g. the name taken meanwhile): go there, so the
        // field and its message are seen, and put the focus on the field.
        const first = tabs.findIndex((x) => (result.data.tabs || []).includes(x.dataset.tab));
        if (first >= 0 && first !== current) {
          show(first);
          const invalid = $("[aria-invalid='true']", panels[first]);
          if (invalid) invalid.focus();
        }
        return;
      }
      location.href = result.data.url;
    });
    const del = $("#form-delete");
    if (del) del.addEventListener("click", async () => {
      const ok = await confirmDialog("Delete '" + facts.values.name + "'? This is permanent: its Kubernetes resources and any On Demand PVC (with all its data) are deleted. This action cannot be undone.", "Yes, delete it");
      if (!ok) return;
      const r = await postJSON("/api/domains/" + encodeURIComponent(domain) + "/containers/" + encodeURIComponent(facts.values.name) + "/delete");
      if (r.ok) location.href = "/containers"; else toast(r.data.error || "Refused.", true);
    });
    show(0);
  }

  function setupBundleForm() {
    const form = $("#bundle-form");
    if (!form) return;
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const domain = form.dataset.domain;
      const r = await postJSON("/api/domains/" + encodeURIComponent(domain) + "/bundles", { name: form.elements.name.value, description: form.elements.description.value });
      const box = $("[data-error-for='name']", form);
      box.textContent = "";
      if (!r.ok) { (r.data.errors.name || []).forEach((m) => box.appendChild(el("div", { class: "msg" }, m))); return; }
      location.href = r.data.url;
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    setupForm();
    setupLogs();
    setupBundleForm();
    startStream();
  });
})();
