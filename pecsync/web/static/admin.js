/* The order page keeps itself current while a run copies: it asks live.json (same origin,
   the session cookie) every few seconds and updates the numbers, the rows and the chart in
   place, without reloading.  No inline script anywhere (CSP script-src 'self'). */
(function () {
  "use strict";
  var summary = document.getElementById("summary");
  if (!summary || !window.fetch) { return; }
  var url = summary.getAttribute("data-live");
  var every = parseInt(summary.getAttribute("data-poll-ms"), 10) || 3000;
  var chart = document.getElementById("chart");
  var chartVersion = chart ? (chart.getAttribute("src").split("?v=")[1] || "") : "";
  var fields = {"sum-members": "members", "sum-done": "done", "sum-needing": "needing_action",
                "sum-notresp": "not_responded", "sum-progress": "in_progress",
                "sum-projected": "projected_text", "sum-verdict": "verdict",
                "sum-last": "last_activity"};

  function set(el, text) {
    if (el && el.textContent !== String(text)) {
      el.textContent = String(text);
      el.classList.add("changed");
      window.setTimeout(function () { el.classList.remove("changed"); }, 1500);
    }
  }

  function rowOf(address) {
    var rows = document.querySelectorAll("#members tbody tr[data-address]");
    for (var i = 0; i < rows.length; i++) {
      if (rows[i].getAttribute("data-address") === address) { return rows[i]; }
    }
    return null;
  }

  function apply(doc) {
    Object.keys(fields).forEach(function (id) { set(document.getElementById(id), doc.summary[fields[id]]); });
    var verdict = document.getElementById("sum-verdict");
    if (verdict) { verdict.classList.toggle("bad", !!doc.summary.late); }
    doc.members.forEach(function (m) {
      var row = rowOf(m.address);
      if (!row) { return; }
      var cells = row.querySelectorAll("[data-field]");
      for (var i = 0; i < cells.length; i++) {
        var key = cells[i].getAttribute("data-field");
        if (key in m) { set(cells[i], m[key]); }
        if (key === "state_label") { cells[i].className = "state state-" + m.state; }
      }
    });
    if (chart && doc.chart !== chartVersion) {
      chartVersion = doc.chart;
      chart.setAttribute("src", chart.getAttribute("data-src") + "?v=" + doc.chart);
    }
    set(document.getElementById("updated"), doc.generated_at);
  }

  function poll() {
    window.fetch(url, {credentials: "same-origin", cache: "no-store",
                       headers: {"Accept": "application/json"}})
      .then(function (r) {
        if (r.status === 401) { window.location.assign("/admin/login?expired=1"); return null; }
        return r.ok ? r.json() : null;
      })
      .then(function (doc) { if (doc) { apply(doc); } })
      .catch(function () { /* offline for a moment: the next poll tries again */ })
      .then(function () { window.setTimeout(poll, every); });
  }
  window.setTimeout(poll, every);
}());
