/*
 * Choosing models (the Models page and the bot builder). No inline scripts; everything hangs off data
 * attributes:
 *
 *   <select|input data-readiness-target="ID" data-problem="…" data-fix-label="…" data-fix-href="…">
 *       a model choice whose model cannot answer yet carries its problem (on the <option> for a select).
 *       When it is chosen (selected, ticked, or the checked radio), the element #ID shows the problem
 *       with its one fix, as providers/_model_problem.html renders it on the server; when another model
 *       is chosen, or the box is unticked, the note goes away.
 *   <nav data-tabs data-tab-default="ID"> <a href="#ID">…</a>…  with <section id="ID" data-tab-panel>
 *       without JS, links to sections that are all shown. Here: a tab list (role tab/tabpanel,
 *       aria-selected, arrow/Home/End keys) showing one section; the address's #fragment chooses the tab
 *       (#providers opens Providers), and choosing a tab updates the fragment.
 *
 * Texts are set with textContent; links only to the dashboard's own paths.
 */
(function () {
  "use strict";

  var LOCAL_PATH = /^\/(?!\/)/;

  /* --- readiness notes ------------------------------------------------------------------------------ */

  function problemNote(source, compact) {
    var note = document.createElement("div");
    var info = source.getAttribute("data-connected") === "true";
    note.className = "gw-model-problem" + (compact ? " is-compact" : "") + (info ? " is-info" : "");
    note.setAttribute("data-model-problem", "");
    var icon = document.createElement("i");
    icon.className = "bi " + (info ? "bi-info-circle-fill" : "bi-exclamation-triangle-fill");
    icon.setAttribute("aria-hidden", "true");
    note.appendChild(icon);
    var body = document.createElement("span");
    var text = document.createElement("span");
    text.setAttribute("data-model-problem-text", "");
    text.textContent = source.getAttribute("data-problem");
    body.appendChild(text);
    var href = source.getAttribute("data-fix-href") || "";
    if (href && LOCAL_PATH.test(href)) {
      body.appendChild(document.createTextNode(" "));
      var fix = document.createElement("a");
      fix.className = "gw-model-fix";
      fix.href = href;
      fix.setAttribute("data-model-fix", "");
      fix.textContent = source.getAttribute("data-fix-label") || "Fix it";
      body.appendChild(fix);
    }
    note.appendChild(body);
    return note;
  }

  /* The element whose data-problem describes the choice `control` stands for now, or null for none. */
  function chosenSource(control) {
    if (control.tagName === "SELECT") return control.options[control.selectedIndex] || null;
    return control.checked ? control : null;
  }

  function showReadiness(control) {
    var target = document.getElementById(control.getAttribute("data-readiness-target"));
    if (!target) return;
    var source = chosenSource(control);
    var compact = target.hasAttribute("data-readiness-note");
    target.textContent = "";
    if (source && source.getAttribute("data-problem")) target.appendChild(problemNote(source, compact));
  }

  function initReadiness() {
    document.addEventListener("change", function (event) {
      var control = event.target;
      if (!(control instanceof HTMLElement) || !control.hasAttribute("data-readiness-target")) return;
      if (control.type === "radio" && !control.checked) return;
      showReadiness(control);
    });
  }

  /* --- tabs ------------------------------------------------------------------------------------------ */

  function initTabs(nav) {
    var tabs = Array.prototype.slice.call(nav.querySelectorAll("a[href^='#']"));
    var panels = {};
    tabs.forEach(function (tab) {
      var panel = document.getElementById(tab.getAttribute("href").slice(1));
      if (panel) panels[panel.id] = panel;
    });
    tabs = tabs.filter(function (tab) { return panels[tab.getAttribute("href").slice(1)]; });
    if (!tabs.length) return;
    nav.setAttribute("role", "tablist");
    nav.classList.add("is-tablist");
    tabs.forEach(function (tab) {
      var id = tab.getAttribute("href").slice(1);
      tab.setAttribute("role", "tab");
      tab.setAttribute("aria-controls", id);
      panels[id].setAttribute("role", "tabpanel");
      // Not focusable (no tabindex): every panel starts with a heading and controls, and a focusable panel
      // would take the focus from the key field when the browser goes to the address's #fragment.
      panels[id].setAttribute("aria-labelledby", tab.id);
    });

    function select(id, focus) {
      tabs.forEach(function (tab) {
        var chosen = tab.getAttribute("href").slice(1) === id;
        tab.setAttribute("aria-selected", chosen ? "true" : "false");
        tab.setAttribute("tabindex", chosen ? "0" : "-1");
        panels[tab.getAttribute("href").slice(1)].hidden = !chosen;
        if (chosen && focus) tab.focus();
      });
    }

    /* The tab of an address's fragment: a panel's id, or the panel holding the element it names. */
    function tabFor(hash) {
      var id = decodeURIComponent((hash || "").replace(/^#/, ""));
      if (!id) return null;
      if (panels[id]) return id;
      var element = document.getElementById(id);
      var panel = element && element.closest("[data-tab-panel]");
      return panel && panels[panel.id] ? panel.id : null;
    }

    function fromAddress() {
      select(tabFor(window.location.hash) || nav.getAttribute("data-tab-default") || tabs[0].getAttribute("href").slice(1));
    }

    nav.addEventListener("click", function (event) {
      var tab = event.target instanceof Element ? event.target.closest("[role=tab]") : null;
      if (!tab) return;
      event.preventDefault();
      var id = tab.getAttribute("href").slice(1);
      select(id, true);
      history.replaceState(null, "", "#" + id); // the address keeps the tab, without jumping to it
    });
    nav.addEventListener("keydown", function (event) {
      var index = tabs.indexOf(document.activeElement);
      if (index === -1) return;
      var next = { ArrowRight: index + 1, ArrowLeft: index - 1, Home: 0, End: tabs.length - 1 }[event.key];
      if (next === undefined) return;
      event.preventDefault();
      var tab = tabs[(next + tabs.length) % tabs.length];
      var id = tab.getAttribute("href").slice(1);
      select(id, true);
      history.replaceState(null, "", "#" + id);
    });
    window.addEventListener("hashchange", fromAddress);
    fromAddress();
  }

  /* ?add=<provider> (the "Add your … key" links): the key field of the opened form is where to type. */
  function focusKeyField() {
    if (!/[?&]add=/.test(window.location.search)) return;
    var field = document.querySelector("#providers details[open] input[name=api_key]");
    if (!field) return;
    // After the browser has gone to the #fragment, which resets the focus (and skips autofocus).
    function focus() { window.setTimeout(function () { field.focus(); }, 0); }
    if (document.readyState === "complete") focus();
    else window.addEventListener("load", focus, { once: true });
  }

  function init() {
    initReadiness();
    Array.prototype.forEach.call(document.querySelectorAll("[data-tabs]"), initTabs);
    focusKeyField();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
