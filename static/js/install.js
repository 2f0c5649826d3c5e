/*
 * The Install page of a bot (bots app). No inline scripts; everything hangs off data attributes, like
 * app.js (which also does the page's copy buttons and confirmations):
 *
 *   [data-preview-stage]   the real widget (the <groundwork-chat> element /widget.js adds to the page) is
 *       moved in here: the stage's transform makes it the containing block of the widget's fixed
 *       launcher and panel, so the widget sits in the mock browser window, not in the dashboard's corner
 *       (and a stylesheet added to its open shadow root fits the panel to the stage's height).
 *   <form data-install-form>   the save bar says when there are unsaved changes; the appearance fields
 *       restyle the real widget as they change, through window.Groundwork.setAppearance({color,
 *       position, icon, title}) (queued in Groundwork.q if the loader has not run yet, which it replays).
 *   [data-appearance]      carries --gw-widget-color, which colours the page's own position and icon
 *       choices; [data-color-picker] and [data-color-preset] buttons fill the hex field, which is saved.
 *   [data-origin-list]     one input per allowed website: [data-origin-add] adds a row from
 *       <template data-origin-template>, [data-origin-remove] removes one; Enter adds a row; pasting
 *       several websites at once makes a row for each; leaving a row turns what was typed into the origin the
 *       browser sends (www.example.com/help → https://www.example.com), or marks it with the reason it
 *       cannot be one ([data-origin-live-error]); the server applies the same rule on save.
 *   [data-form-errors]     a refused save's summary at the top of the form, scrolled into view and focused.
 *   [data-any-origin]      shows whether "Allow any website" is ticked (the list is ignored then).
 */
(function () {
  "use strict";

  var HEX = /^#[0-9a-f]{6}$/i;
  var HEX_WITHOUT_HASH = /^[0-9a-f]{6}$/i;
  var SEPARATORS = /[\s,]+/;
  var HAS_SCHEME = /^[a-z][a-z0-9+.-]*:\/\//i;
  var LOOPBACK = /^(localhost|127(\.\d{1,3}){3}|\[::1\])$/i;
  var ORIGIN_HOST = /^([a-z0-9-]+(\.[a-z0-9-]+)*\.?|\[[0-9a-f:.]+\])$/i;

  /* --- the real widget ------------------------------------------------------------------------------ */

  function widget(method, argument) {
    var api = window.Groundwork;
    if (api && api.version) {
      api[method](argument);
      return;
    }
    // Not loaded yet: the loader replays Groundwork.q when it starts.
    api = window.Groundwork = api || {};
    api.q = api.q || [];
    api.q.push([method, argument]);
  }

  // The stage is shorter than a browser window: the panel fills it above the launcher instead of taking
  // the window's height (its stylesheet sizes it by the viewport). Only here, never on tenants' sites.
  var PANEL_IN_STAGE = ".gw-panel{top:12px!important;bottom:88px!important;height:auto!important;" +
    "min-height:0!important;max-width:calc(100% - 40px)!important}";

  function fitPanel(host) {
    var root = host.shadowRoot;
    if (!root || root.__gwInStage) return;
    root.__gwInStage = true;
    try {
      var sheet = new CSSStyleSheet();
      sheet.replaceSync(PANEL_IN_STAGE);
      root.adoptedStyleSheets = root.adoptedStyleSheets.concat([sheet]);
    } catch (error) {
      // Without constructable stylesheets the panel keeps its own size; the stage clips what overflows.
    }
  }

  function adoptWidget(stage) {
    function move() {
      var host = document.querySelector("groundwork-chat");
      if (!host) return false;
      if (host.parentNode !== stage) stage.appendChild(host);
      fitPanel(host);
      stage.setAttribute("data-widget-ready", "");
      return true;
    }
    if (move()) return;
    var observer = new MutationObserver(function () {
      if (move()) observer.disconnect();
    });
    observer.observe(document.body, { childList: true });
  }

  /* --- appearance -------------------------------------------------------------------------------------- */

  function checkedValue(form, name) {
    var checked = form.querySelector("input[name=" + name + "]:checked");
    return checked ? checked.value : undefined;
  }

  function initAppearance(form) {
    var section = form.querySelector("[data-appearance]");
    if (!section) return;
    var hex = form.querySelector("input[name=widget_color]");
    var picker = form.querySelector("[data-color-picker]");
    var title = form.querySelector("input[name=widget_title]");
    var stage = document.querySelector("[data-preview-stage]");

    function colour() {
      var value = hex ? hex.value.trim() : "";
      if (HEX_WITHOUT_HASH.test(value)) value = "#" + value;
      return HEX.test(value) ? value.toLowerCase() : null;
    }

    function apply() {
      var look = {
        position: checkedValue(form, "widget_position"),
        icon: checkedValue(form, "widget_icon"),
        title: title ? title.value.trim() || title.getAttribute("placeholder") || "" : undefined
      };
      var chosen = colour();
      if (chosen) {
        // Half-typed colours leave the preview as it was rather than flashing grey.
        look.color = chosen;
        section.style.setProperty("--gw-widget-color", chosen);
        if (stage) stage.style.setProperty("--gw-widget-color", chosen);
        if (picker && picker.value !== chosen) picker.value = chosen;
      }
      widget("setAppearance", look);
    }

    if (picker && hex) {
      picker.addEventListener("input", function () {
        hex.value = picker.value;
        hex.dispatchEvent(new Event("input", { bubbles: true }));
      });
    }
    section.addEventListener("click", function (event) {
      var preset = event.target instanceof Element ? event.target.closest("[data-color-preset]") : null;
      if (!preset || !hex || hex.disabled) return;
      hex.value = preset.getAttribute("data-color-preset");
      hex.dispatchEvent(new Event("input", { bubbles: true }));
    });
    form.addEventListener("input", apply);
    form.addEventListener("change", apply);
    apply(); // after a refused save the fields hold unsaved values: the preview shows them too
  }

  /* --- allowed websites ------------------------------------------------------------------------------ */

  function initOrigins(form) {
    var list = form.querySelector("[data-origin-list]");
    var template = form.querySelector("template[data-origin-template]");
    if (!list || !template) return;

    function rows() {
      return list.querySelectorAll("[data-origin-row]");
    }

    function label() {
      rows().forEach(function (row, index) {
        var input = row.querySelector("input");
        if (input) input.setAttribute("aria-label", "Website " + (index + 1));
      });
    }

    function addRow(value, after) {
      var row = template.content.firstElementChild.cloneNode(true);
      var input = row.querySelector("input");
      input.value = value || "";
      if (after && after.nextSibling) list.insertBefore(row, after.nextSibling);
      else list.appendChild(row);
      label();
      return input;
    }

    var liveError = form.querySelector("[data-origin-live-error]");

    // The rule of bots.widget.forms.origin_from_typed, as people type: the origin the browser will send
    // for pages at that address. Returns {origin} or {error}.
    function toOrigin(text) {
      var typed = text.trim();
      var refusal = {
        error: "\u201c" + typed.slice(0, 100) + "\u201d is not a website address. Type it as the address bar shows it, like https://www.example.com or http://localhost:3000."
      };
      if (!typed) return { origin: "" };
      var value = typed;
      if (!HAS_SCHEME.test(value)) {
        var host = value.split(/[/?#]/)[0].replace(/:[^:\]]*$/, "");
        if (host.indexOf(".") === -1 && !LOOPBACK.test(host)) return refusal;
        value = (LOOPBACK.test(host) ? "http://" : "https://") + value;
      }
      var url;
      try { url = new URL(value); } catch (error) { return refusal; }
      if (!/^https?:$/.test(url.protocol) || !url.hostname || url.username || url.password) return refusal;
      if (!ORIGIN_HOST.test(url.hostname)) return refusal;
      return { origin: url.origin.replace(/\.(:\d+)?$/, "$1") };
    }

    function showProblems() {
      if (!liveError) return;
      var problems = [];
      list.querySelectorAll("input").forEach(function (input) {
        var bad = input.getAttribute("data-origin-problem");
        if (bad) problems.push(bad);
      });
      liveError.hidden = !problems.length;
      liveError.textContent = problems.join(" ");
    }

    function tidy(input) {
      var result = toOrigin(input.value);
      var row = input.closest("[data-origin-row]");
      if (result.error) {
        input.setAttribute("aria-invalid", "true");
        input.setAttribute("data-origin-problem", result.error);
        if (liveError) input.setAttribute("aria-describedby", liveError.id);
        input.classList.add("is-invalid");
        if (row) row.classList.add("is-invalid");
      } else {
        input.removeAttribute("aria-invalid");
        input.removeAttribute("data-origin-problem");
        input.removeAttribute("aria-describedby");
        input.classList.remove("is-invalid");
        if (row) row.classList.remove("is-invalid");
        if (result.origin !== input.value) {
          input.value = result.origin;
          input.dispatchEvent(new Event("input", { bubbles: true }));
        }
      }
      showProblems();
    }

    form.addEventListener("click", function (event) {
      var target = event.target instanceof Element ? event.target : null;
      if (!target) return;
      if (target.closest("[data-origin-add]")) {
        var empty = Array.prototype.find.call(list.querySelectorAll("input"), function (input) { return !input.value.trim(); });
        (empty || addRow("")).focus();
        return;
      }
      var remove = target.closest("[data-origin-remove]");
      if (remove) {
        var row = remove.closest("[data-origin-row]");
        var next = row.nextElementSibling || row.previousElementSibling;
        if (rows().length > 1) row.remove();
        else row.querySelector("input").value = ""; // the last row stays, empty, to type into
        label();
        form.dispatchEvent(new Event("input", { bubbles: true }));
        var focus = next && next.isConnected ? next.querySelector("input") : list.querySelector("input");
        if (focus) focus.focus();
      }
    });

    list.addEventListener("keydown", function (event) {
      var input = event.target;
      if (event.key !== "Enter" || !(input instanceof HTMLInputElement)) return;
      event.preventDefault(); // Enter starts the next website rather than saving half a list
      tidy(input);
      if (input.value.trim()) addRow("", input.closest("[data-origin-row]")).focus();
    });

    list.addEventListener("paste", function (event) {
      var input = event.target;
      var text = event.clipboardData ? event.clipboardData.getData("text") : "";
      var parts = text.split(SEPARATORS).filter(Boolean);
      if (!(input instanceof HTMLInputElement) || parts.length < 2) return;
      event.preventDefault();
      input.value = (input.value.trim() ? input.value.trim() + " " : "") + parts[0];
      tidy(input);
      var row = input.closest("[data-origin-row]");
      parts.slice(1).forEach(function (part) {
        var added = addRow(part, row);
        tidy(added);
        row = added.closest("[data-origin-row]");
      });
      form.dispatchEvent(new Event("input", { bubbles: true }));
    });

    list.addEventListener("focusout", function (event) {
      if (event.target instanceof HTMLInputElement) tidy(event.target);
    });
  }

  function initAnyOrigin(form) {
    var box = form.querySelector("[data-any-origin]");
    var input = box && box.querySelector("input[type=checkbox]");
    var list = form.querySelector("[data-origin-list]");
    if (!input) return;
    function update() {
      box.classList.toggle("is-on", input.checked);
      if (list) list.classList.toggle("is-ignored", input.checked);
    }
    input.addEventListener("change", update);
    update();
  }

  /* --- the save bar ------------------------------------------------------------------------------------ */

  function initSavebar(form) {
    var bar = form.querySelector("[data-savebar]");
    var text = form.querySelector("[data-dirty-text]");
    function markDirty() {
      if (!bar || bar.classList.contains("is-dirty")) return;
      bar.classList.add("is-dirty");
      if (text) text.textContent = "Unsaved changes: the preview shows them, your websites do not yet";
      var mark = bar.querySelector(".gw-savebar-note .bi");
      if (mark) mark.className = "bi bi-circle-fill";
    }
    form.addEventListener("input", markDirty);
    form.addEventListener("change", markDirty);
  }

  // A refused save: its summary at the top of the form comes into view (the page reloads at its top).
  function revealErrors() {
    var summary = document.querySelector("[data-form-errors]");
    if (!summary) return;
    summary.scrollIntoView({ block: "center" });
    summary.focus({ preventScroll: true });
  }

  function init() {
    revealErrors();
    var stage = document.querySelector("[data-preview-stage]");
    if (stage) adoptWidget(stage);
    var form = document.querySelector("[data-install-form]");
    if (form) {
      initOrigins(form);
      initAnyOrigin(form);
      initSavebar(form);
    }
    // Viewers get no form, but the preview still shows the saved look: nothing to apply then.
    if (form) initAppearance(form);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
