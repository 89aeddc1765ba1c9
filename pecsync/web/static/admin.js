/* The dashboard keeps itself current while a run copies: the order page and the overview ask
   their live.json (same origin, the session cookie) every few seconds and update numbers,
   rows and the chart in place, without reloading.  No inline script anywhere (CSP
   script-src 'self'). */
(function () {
  "use strict";
  if (!window.fetch) { return; }

  function set(el, text) {
    if (el && text !== undefined && el.textContent !== String(text)) {
      el.textContent = String(text);
      el.classList.add("changed");
      window.setTimeout(function () { el.classList.remove("changed"); }, 1500);
    }
  }

  function byAttr(selector, attr, value) {
    var all = document.querySelectorAll(selector);
    for (var i = 0; i < all.length; i++) {
      if (all[i].getAttribute(attr) === value) { return all[i]; }
    }
    return null;
  }

  function fields(container, doc) {
    var cells = container.querySelectorAll("[data-field]");
    for (var i = 0; i < cells.length; i++) {
      var key = cells[i].getAttribute("data-field");
      if (key in doc) { set(cells[i], doc[key]); }
    }
  }

  function poll(url, every, apply) {
    function once() {
      window.fetch(url, {credentials: "same-origin", cache: "no-store",
                         headers: {"Accept": "application/json"}})
        .then(function (r) {
          if (r.status === 401) { window.location.assign("/admin/login?expired=1"); return null; }
          return r.ok ? r.json() : null;
        })
        .then(function (doc) { if (doc) { apply(doc); } })
        .catch(function () { /* offline for a moment: the next poll tries again */ })
        .then(function () { window.setTimeout(once, every); });
    }
    window.setTimeout(once, every);
  }

  // An order's page: the numbers, each member's row, the chart.
  var summary = document.getElementById("summary");
  if (summary) {
    var chart = document.getElementById("chart");
    var chartVersion = chart ? (chart.getAttribute("src").split("?v=")[1] || "") : "";
    var ids = {"sum-members": "members", "sum-done": "done", "sum-needing": "needing_action",
               "sum-notresp": "not_responded", "sum-progress": "in_progress",
               "sum-projected": "projected_text", "sum-verdict": "verdict",
               "sum-last": "last_activity"};
    poll(summary.getAttribute("data-live"),
         parseInt(summary.getAttribute("data-poll-ms"), 10) || 3000, function (doc) {
      Object.keys(ids).forEach(function (id) { set(document.getElementById(id), doc.summary[ids[id]]); });
      var verdict = document.getElementById("sum-verdict");
      if (verdict) { verdict.classList.toggle("bad", !!doc.summary.late); }
      doc.members.forEach(function (m) {
        var row = byAttr("#members tbody tr[data-address]", "data-address", m.address);
        if (!row) { return; }
        fields(row, m);
        var state = row.querySelector('[data-field="state_label"]');
        if (state) { state.className = "state state-" + m.state; }
      });
      if (chart && doc.chart !== chartVersion) {
        chartVersion = doc.chart;
        chart.setAttribute("src", chart.getAttribute("data-src") + "?v=" + doc.chart);
      }
      set(document.getElementById("updated"), doc.generated_at);
    });
  }

  // The overview: one row per order.
  var orders = document.getElementById("orders");
  if (orders && orders.getAttribute("data-live")) {
    poll(orders.getAttribute("data-live"),
         parseInt(orders.getAttribute("data-poll-ms"), 10) || 3000, function (doc) {
      doc.orders.forEach(function (o) {
        var row = byAttr("#orders tbody tr[data-order]", "data-order", o.order);
        if (!row) { return; }
        fields(row, o);
        var late = row.querySelector("[data-late]");
        if (late) { late.classList.toggle("bad", !!o.late); }
      });
    });
  }
}());
