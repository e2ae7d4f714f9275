// gatehouse admin dashboard: polls /status (JSON) and /metrics (Prometheus
// text) and computes rates and latency from two successive scrapes. No
// libraries; every value shown goes through textContent (never innerHTML).
"use strict";
(function () {
  const TOKEN_KEY = "gatehouse-admin-token";
  const FETCH_TIMEOUT_MS = 5000;
  const DASH = "\u2014";

  // ?refresh=SECONDS (at least 0.5, default 2).
  function refreshSeconds() {
    const v = parseFloat(new URLSearchParams(location.search).get("refresh"));
    if (!isFinite(v)) return 2;
    return Math.min(Math.max(v, 0.5), 3600);
  }
  const REFRESH_MS = refreshSeconds() * 1000;

  const $ = (id) => document.getElementById(id);
  let prev = null;          // {t, status, metrics} of the previous good scrape
  let updates = 0;
  let timer = null;

  // ---- token ----
  function storedToken() {
    try { return sessionStorage.getItem(TOKEN_KEY) || ""; } catch (e) { return ""; }
  }
  function storeToken(t) {
    try {
      if (t) sessionStorage.setItem(TOKEN_KEY, t); else sessionStorage.removeItem(TOKEN_KEY);
    } catch (e) { /* storage disabled: the token lives until reload */ }
    memoryToken = t;
  }
  let memoryToken = storedToken();

  function showTokenPanel(message) {
    $("token-panel").hidden = false;
    $("data").hidden = true;
    $("banner").hidden = true;
    $("forget-token").hidden = !memoryToken;
    const err = $("token-error");
    err.hidden = !message;
    err.textContent = message || "";
    $("updated").textContent = "token needed";
    $("refresh-info").textContent = "";
    $("sources").textContent = "";
    document.body.dataset.mode = "token";
    $("token-input").focus();
  }

  $("token-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const t = $("token-input").value.trim();
    if (!t) return;
    storeToken(t);
    $("token-input").value = "";
    $("token-error").hidden = true;
    restart();
  });
  $("forget-token").addEventListener("click", () => {
    storeToken("");
    prev = null;
    restart();
  });

  // ---- fetching ----
  class HttpError extends Error {
    constructor(status, what) { super(what + " answered " + status); this.status = status; }
  }

  async function get(path) {
    const ctl = new AbortController();
    const t = setTimeout(() => ctl.abort(), FETCH_TIMEOUT_MS);
    const headers = {};
    if (memoryToken) headers["Authorization"] = "Bearer " + memoryToken;
    try {
      const r = await fetch(path, { headers, cache: "no-store", signal: ctl.signal, credentials: "omit" });
      const body = await r.text();
      return { status: r.status, body };
    } catch (e) {
      throw new Error(path + ": " + (e.name === "AbortError" ? "no answer within " + FETCH_TIMEOUT_MS / 1000 + " s" : "cannot connect (" + e.message + ")"));
    } finally {
      clearTimeout(t);
    }
  }

  // ---- Prometheus text format (0.0.4) ----
  // Returns a list of {name, labels, value}; comments and bad lines are skipped.
  function parseMetrics(text) {
    const out = [];
    out.declared = new Set();   // families named by "# TYPE" lines, with or without samples
    for (const raw of text.split("\n")) {
      const line = raw.trim();
      if (line.startsWith("# TYPE ")) {
        const name = line.slice(7).trim().split(/\s+/)[0];
        if (name) out.declared.add(name);
        continue;
      }
      if (!line || line[0] === "#") continue;
      let i = 0;
      while (i < line.length && /[a-zA-Z0-9_:]/.test(line[i])) i++;
      const name = line.slice(0, i);
      if (!name) continue;
      const labels = {};
      if (line[i] === "{") {
        i++;
        for (;;) {
          while (line[i] === " " || line[i] === ",") i++;
          if (line[i] === "}") { i++; break; }
          const eq = line.indexOf("=", i);
          if (eq < 0 || line[eq + 1] !== '"') { i = -1; break; }
          const key = line.slice(i, eq).trim();
          let j = eq + 2, val = "";
          while (j < line.length && line[j] !== '"') {
            if (line[j] === "\\" && j + 1 < line.length) {
              const c = line[j + 1];
              val += c === "n" ? "\n" : c;
              j += 2;
            } else {
              val += line[j++];
            }
          }
          if (j >= line.length) { i = -1; break; }
          labels[key] = val;
          i = j + 1;
        }
        if (i < 0) continue;
      }
      const rest = line.slice(i).trim().split(/\s+/);
      const value = parseFloat(rest[0] === "+Inf" ? "Infinity" : rest[0] === "-Inf" ? "-Infinity" : rest[0]);
      if (rest[0] === undefined || (isNaN(value) && rest[0] !== "NaN")) continue;
      out.push({ name, labels, value });
    }
    return out;
  }

  // Metrics indexed for lookups: sum(name, filter) over matching label values.
  class Metrics {
    constructor(samples) {
      this.declared = samples.declared || new Set();
      this.byName = new Map();
      for (const s of samples) {
        if (!this.byName.has(s.name)) this.byName.set(s.name, []);
        this.byName.get(s.name).push(s);
      }
    }
    // Whether the family is exported: it has samples, or a "# TYPE" line
    // (a counter with no series yet counts nothing so far: 0, not absent).
    has(name) {
      return this.byName.has(name) || this.declared.has(name) ||
        this.declared.has(name.replace(/_(bucket|sum|count)$/, ""));
    }
    all(name) { return this.byName.get(name) || []; }
    // Sum of `name` over samples whose labels match every key of `filter`
    // (a function value is a predicate); null when the family is not exported.
    sum(name, filter) {
      const list = this.byName.get(name);
      if (!list) return this.has(name) ? 0 : null;
      let total = 0;
      for (const s of list) if (matches(s.labels, filter)) total += s.value;
      return total;
    }
  }
  function matches(labels, filter) {
    for (const k in filter || {}) {
      const f = filter[k];
      if (typeof f === "function" ? !f(labels[k]) : labels[k] !== f) return false;
    }
    return true;
  }

  // Counter increase between two scrapes; a counter that went down was reset
  // (a restart), so its whole new value is the increase.
  function increase(now, before) {
    if (now === null || now === undefined) return null;
    if (before === null || before === undefined) return null;
    return now >= before ? now - before : now;
  }

  // Quantile of a histogram's increase between scrapes (linear within the
  // bucket, as Prometheus's histogram_quantile does). null: no observations.
  // In the lowest bucket the answer is only "below its bound" (interpolating
  // from 0 would make it up), past the highest "above the last bound": those
  // come back as {below: le} and {above: le}.
  function quantile(q, name, filter, cur, old) {
    if (!old) return null;
    const buckets = new Map();
    for (const s of cur.all(name + "_bucket")) {
      if (!matches(s.labels, filter)) continue;
      const le = s.labels.le === "+Inf" ? Infinity : parseFloat(s.labels.le);
      buckets.set(le, (buckets.get(le) || 0) + s.value);
    }
    const before = new Map();
    for (const s of old.all(name + "_bucket")) {
      if (!matches(s.labels, filter)) continue;
      const le = s.labels.le === "+Inf" ? Infinity : parseFloat(s.labels.le);
      before.set(le, (before.get(le) || 0) + s.value);
    }
    const les = [...buckets.keys()].sort((a, b) => a - b);
    if (!les.length || les[les.length - 1] !== Infinity) return null;
    const counts = les.map((le) => increase(buckets.get(le), before.get(le) || 0));
    const total = counts[counts.length - 1];
    if (!total) return null;
    const rank = q * total;
    for (let k = 0; k < les.length; k++) {
      if (counts[k] >= rank) {
        if (les[k] === Infinity) return les.length > 1 ? { above: les[les.length - 2] } : null;
        if (k === 0) return { below: les[0] };
        const lo = les[k - 1];
        const below = counts[k - 1];
        const inBucket = counts[k] - below;
        return inBucket > 0 ? lo + (les[k] - lo) * ((rank - below) / inBucket) : les[k];
      }
    }
    return null;
  }

  // ---- formatting ----
  function fmtRate(v) {
    if (v === null || v === undefined || !isFinite(v)) return DASH;
    return v >= 100 ? v.toFixed(0) : v.toFixed(1);
  }
  function fmtCount(v) {
    if (v === null || v === undefined || !isFinite(v)) return DASH;
    return Math.round(v).toLocaleString("en-US");
  }
  function fmtSeconds(v) {
    if (v && typeof v === "object") return v.below !== undefined ? "< " + fmtSeconds(v.below) : "> " + fmtSeconds(v.above);
    if (v === null || v === undefined || !isFinite(v)) return DASH;
    if (v < 0.001) return (v * 1000).toFixed(2) + " ms";
    if (v < 1) return (v * 1000).toFixed(v < 0.01 ? 1 : 0) + " ms";
    return v.toFixed(2) + " s";
  }
  function fmtPercent(part, whole) {
    if (part === null || whole === null || !whole) return DASH;
    return (100 * part / whole).toFixed(1) + " %";
  }
  function fmtDuration(s) {
    s = Math.max(0, Math.floor(s));
    const d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60);
    if (d) return d + "d " + h + "h";
    if (h) return h + "h " + m + "m";
    if (m) return m + "m " + (s % 60) + "s";
    return s + "s";
  }

  function cell(tr, text, cls, title) {
    const td = document.createElement("td");
    td.textContent = text;
    if (cls) td.className = cls;
    if (text === DASH) td.classList.add("absent");
    if (title) td.title = title;
    tr.appendChild(td);
    return td;
  }
  function badge(state) {
    const span = document.createElement("span");
    const known = ["up", "down", "ejected"].includes(state);
    span.className = "badge state-" + (known ? state : "unknown");
    span.textContent = state || "unknown";
    return span;
  }

  // ---- one refresh ----
  function backendKey(route, b) { return route.path + "\u0000" + b.name; }

  function render(status, metrics, now) {
    const dt = prev ? (now - prev.t) / 1000 : null;
    const old = prev && prev.metrics;
    const rate = (cur, before) => {
      const inc = increase(cur, before);
      return inc === null || !dt ? null : inc / dt;
    };
    const m = metrics;
    const mhas = (name) => m !== null && m.has(name);
    const oldBackends = new Map();
    if (prev) for (const r of prev.status.routes || []) for (const b of r.backends || []) oldBackends.set(backendKey(r, b), b);

    // Header and cards.
    if (mhas("gatehouse_build_info")) {
      const v = m.all("gatehouse_build_info")[0].labels.version;
      $("version").textContent = v ? "v" + v : "";
    }
    const start = mhas("gatehouse_start_time_seconds") ? m.sum("gatehouse_start_time_seconds")
      : mhas("process_start_time_seconds") ? m.sum("process_start_time_seconds") : null;
    $("uptime").textContent = start ? "up " + fmtDuration(Date.now() / 1000 - start) : "";
    $("connections").textContent = mhas("gatehouse_downstream_connections_active") ? fmtCount(m.sum("gatehouse_downstream_connections_active")) : DASH;
    $("tunnels").textContent = mhas("gatehouse_tunnels_active") ? fmtCount(m.sum("gatehouse_tunnels_active")) : DASH;
    $("streams").textContent = mhas("gatehouse_http2_streams_active") ? fmtCount(m.sum("gatehouse_http2_streams_active")) : DASH;

    const haveReqMetric = mhas("gatehouse_http_requests_total");
    let totalRate = null, totalErr = null, upCount = 0, allCount = 0;
    const routesBody = $("routes").tBodies[0];
    const backendsBody = $("backends").tBodies[0];
    const routeRows = [], backendRows = [];
    let fallbackUsed = false;

    for (const r of status.routes || []) {
      const filt = { route: r.path };
      const backends = r.backends || [];
      let reqs = null, reqRate = null, errRate = null, errShare = "", pxRate = null;
      let p50 = null, p95 = null, mean = null;
      let fromBackends = false;
      if (haveReqMetric) {
        reqs = m.sum("gatehouse_http_requests_total", filt);
        reqRate = old ? rate(reqs, old.sum("gatehouse_http_requests_total", filt)) : null;
        const f5 = { route: r.path, status_class: "5xx" };
        const e5 = m.sum("gatehouse_http_requests_total", f5);
        const e5inc = old ? increase(e5, old.sum("gatehouse_http_requests_total", f5)) : null;
        errRate = e5inc !== null && dt ? e5inc / dt : null;
        const reqInc = old ? increase(reqs, old.sum("gatehouse_http_requests_total", filt)) : null;
        errShare = reqInc ? fmtPercent(e5inc, reqInc) : DASH;
      } else {
        // No /metrics (or an older gatehouse): the backends' own request
        // counters from /status (attempts sent upstream, retries included).
        fromBackends = true;
        fallbackUsed = true;
        reqs = backends.reduce((a, b) => a + (b.requests || 0), 0);
        if (prev) {
          let inc = 0, failInc = 0;
          for (const b of backends) {
            const ob = oldBackends.get(backendKey(r, b));
            inc += ob ? increase(b.requests || 0, ob.requests || 0) : 0;
            failInc += ob ? increase(b.failures || 0, ob.failures || 0) : 0;
          }
          reqRate = dt ? inc / dt : null;
          errRate = dt ? failInc / dt : null;
          errShare = inc ? fmtPercent(failInc, inc) : DASH;
        } else {
          errShare = DASH;
        }
      }
      if (mhas("gatehouse_proxy_errors_total")) {
        pxRate = old ? rate(m.sum("gatehouse_proxy_errors_total", filt), old.sum("gatehouse_proxy_errors_total", filt) ?? 0) : null;
      }
      const h = "gatehouse_http_request_duration_seconds";
      if (mhas(h + "_bucket") && old) {
        p50 = quantile(0.5, h, filt, m, old);
        p95 = quantile(0.95, h, filt, m, old);
        const dc = increase(m.sum(h + "_count", filt), old.sum(h + "_count", filt) ?? 0);
        const ds = increase(m.sum(h + "_sum", filt), old.sum(h + "_sum", filt) ?? 0);
        mean = dc ? ds / dc : null;
      }
      if (reqRate !== null) totalRate = (totalRate || 0) + reqRate;
      if (errRate !== null) totalErr = (totalErr || 0) + errRate;

      const up = backends.filter((b) => b.state === "up").length;
      upCount += up;
      allCount += backends.length;

      const tr = document.createElement("tr");
      tr.className = "route";
      tr.dataset.route = r.path;
      cell(tr, r.path, "path name");
      cell(tr, (r.domains && r.domains.length) ? r.domains.join(", ") : "any", (r.domains && r.domains.length) ? "domains" : "domains muted");
      cell(tr, r.balance || DASH, "balance");
      cell(tr, fmtRate(reqRate), "rate num", fromBackends ? "from the backends' request counters (no /metrics)" : "");
      cell(tr, fmtCount(reqs), "requests num", fromBackends ? "requests sent to backends (no /metrics)" : "");
      cell(tr, fmtRate(errRate), "errors num" + (errRate ? " bad" : ""), fromBackends ? "backend failures per second (no /metrics)" : "");
      cell(tr, errShare, "error-share num");
      cell(tr, fmtRate(pxRate), "proxy-errors num" + (pxRate ? " bad" : ""));
      cell(tr, fmtSeconds(p50), "p50 num");
      cell(tr, fmtSeconds(p95), "p95 num");
      cell(tr, fmtSeconds(mean), "mean num");
      const bt = cell(tr, up + " / " + backends.length + " up", "backends-up" + (backends.length && up < backends.length ? " bad" : ""));
      if (!backends.length) bt.textContent = "none";
      routeRows.push(tr);

      // Backends of this route, under a group row naming it.
      const g = document.createElement("tr");
      g.className = "group";
      const gtd = document.createElement("td");
      gtd.colSpan = 9;
      gtd.textContent = r.path;
      const sub = document.createElement("span");
      sub.className = "sub";
      sub.textContent = ((r.domains && r.domains.length) ? r.domains.join(", ") : "any host") + " \u00b7 " + (r.balance || "");
      gtd.appendChild(sub);
      g.appendChild(gtd);
      backendRows.push(g);
      for (const b of backends) {
        const br = document.createElement("tr");
        br.className = "backend";
        br.dataset.route = r.path;
        br.dataset.backend = b.name;
        br.dataset.state = b.state || "unknown";
        cell(br, b.name, "backend name");
        const st = document.createElement("td");
        st.className = "state";
        st.appendChild(badge(b.state));
        if (b.state === "ejected" && b.passive && b.passive.ejected_for_ms > 0) {
          const left = document.createElement("span");
          left.className = "muted";
          left.textContent = " " + Math.ceil(b.passive.ejected_for_ms / 1000) + " s left";
          st.appendChild(left);
        }
        br.appendChild(st);
        const ac = b.active_check;
        let check = "not checked";
        if (ac) {
          check = (ac.up ? "passing" : "failing") + " \u00b7 every " + (ac.interval_ms >= 1000 ? (ac.interval_ms / 1000) + " s" : ac.interval_ms + " ms");
          if (ac.last_error) check += " \u00b7 " + ac.last_error;
          else if (ac.last_status) check += " \u00b7 last " + ac.last_status;
        }
        cell(br, check, "check" + (ac && !ac.up ? " bad" : ac ? "" : " muted"));
        cell(br, fmtCount(b.in_flight), "in-flight num");
        const ob = oldBackends.get(backendKey(r, b));
        cell(br, fmtRate(ob && dt ? increase(b.requests || 0, ob.requests || 0) / dt : null), "rate num");
        cell(br, fmtCount(b.requests), "requests num");
        cell(br, fmtCount(b.failures), "failures num" + (b.failures ? " bad" : ""));
        const ej = mhas("gatehouse_backend_ejections_total") ? m.sum("gatehouse_backend_ejections_total", { route: r.path, backend: b.name }) : null;
        cell(br, fmtCount(ej), "ejections num");
        cell(br, (b.weight ?? 1) + (b.backup ? " (backup)" : ""), "weight");
        backendRows.push(br);
      }
    }
    routesBody.replaceChildren(...routeRows);
    backendsBody.replaceChildren(...backendRows);
    if (!routeRows.length) {
      const tr = document.createElement("tr");
      const td = cell(tr, "no routes", "muted");
      td.colSpan = 12;
      routesBody.appendChild(tr);
    }
    $("total-rate").textContent = fmtRate(totalRate);
    $("total-errors").textContent = fmtRate(totalErr);
    $("backends-up").textContent = allCount ? upCount + " / " + allCount : DASH;
    const note = $("routes-note");
    note.hidden = !fallbackUsed;
    note.textContent = fallbackUsed ? "No /metrics on this gatehouse: request and error rates come from the backends' counters in /status (attempts sent upstream, failures); latency needs /metrics." : "";
  }

  async function refresh() {
    const started = performance.now();
    try {
      const st = await get("/status");
      if (st.status === 401) {
        const had = memoryToken;
        showTokenPanel(had ? "That token was refused (401). Check admin.token_file and try again." : "");
        if (had) storeToken("");
        stopped = true;   // no polling until a token is entered
        return;
      }
      if (st.status !== 200) throw new HttpError(st.status, "/status");
      let status;
      try { status = JSON.parse(st.body); } catch (e) { throw new Error("/status: not JSON (" + e.message + ")"); }
      let metrics = null, metricsNote;
      try {
        const mr = await get("/metrics");
        if (mr.status === 200) { metrics = new Metrics(parseMetrics(mr.body)); metricsNote = "/metrics"; }
        else metricsNote = "/metrics answered " + mr.status;
      } catch (e) {
        metricsNote = "/metrics failed";
      }
      const now = performance.now();
      $("token-panel").hidden = true;
      $("data").hidden = false;
      $("forget-token").hidden = !memoryToken;
      render(status, metrics, now);
      prev = { t: now, status, metrics };
      $("banner").hidden = true;
      document.body.classList.remove("stale");
      updates++;
      document.body.dataset.updates = String(updates);
      document.body.dataset.mode = "data";
      $("updated").textContent = "updated " + new Date().toLocaleTimeString();
      $("sources").textContent = "sources: /status, " + metricsNote;
      $("refresh-info").textContent = refreshText;
    } catch (e) {
      const b = $("banner");
      b.textContent = "Cannot refresh: " + e.message + ". Showing the last data; retrying every " + REFRESH_MS / 1000 + " s.";
      b.hidden = false;
      document.body.classList.add("stale");
      document.body.dataset.errors = String((parseInt(document.body.dataset.errors || "0", 10)) + 1);
      $("updated").textContent = "refresh failed " + new Date().toLocaleTimeString();
    } finally {
      const spent = performance.now() - started;
      schedule(Math.max(0, REFRESH_MS - spent));
    }
  }

  let stopped = false;
  function schedule(ms) {
    if (stopped) return;
    clearTimeout(timer);
    timer = setTimeout(refresh, ms);
  }
  function restart() {
    stopped = false;
    clearTimeout(timer);
    refresh();
  }

  const refreshText = "refreshing every " + REFRESH_MS / 1000 + " s (?refresh=SECONDS)";
  $("refresh-info").textContent = refreshText;
  restart();
})();
