/*
 * Regression suite pages (templates/bots/regression/). No inline scripts; everything hangs off data
 * attributes, like app.js:
 *
 *   <section data-report>  the run report: buttons [data-report-filter="all|regression|differs"] show
 *       every case, only the regressions ([data-kind="regression"]) or only the cases whose answers
 *       differ between configurations ([data-differs]); [data-report-empty] says when none matches.
 *
 * Progress polling is htmx (hx-trigger="every 2s" on the progress card); nothing here touches text a
 * visitor, a document or a model wrote.
 */
(function () {
  "use strict";

  function matches(row, filter) {
    if (filter === "regression") return row.getAttribute("data-kind") === "regression";
    if (filter === "differs") return row.hasAttribute("data-differs");
    return true;
  }

  function applyFilter(report, filter) {
    var shown = 0;
    report.querySelectorAll("[data-case-row]").forEach(function (row) {
      var visible = matches(row, filter);
      row.hidden = !visible;
      if (visible) shown += 1;
    });
    report.querySelectorAll("[data-report-filter]").forEach(function (button) {
      var active = button.getAttribute("data-report-filter") === filter;
      button.classList.toggle("active", active);
      button.setAttribute("aria-pressed", active ? "true" : "false");
    });
    var empty = report.querySelector("[data-report-empty]");
    if (empty) empty.hidden = shown > 0;
  }

  document.addEventListener("click", function (event) {
    var button = event.target instanceof Element ? event.target.closest("[data-report-filter]") : null;
    if (!button) return;
    var report = button.closest("[data-report]");
    if (report) applyFilter(report, button.getAttribute("data-report-filter"));
  });
})();
