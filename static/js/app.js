/*
 * Groundwork dashboard behaviour. No inline scripts anywhere (the pages are ready for a strict CSP):
 * everything hangs off data attributes, through delegated listeners, so it also works for content
 * that htmx swaps in later.
 *
 *   <form data-confirm="Really?">            asks before submitting
 *   <button data-copy-target="#id">          copies the text of #id (a <span data-copy-label> inside says "Copied")
 *   <button data-copy="text">                copies the given text
 *   <div class="toast" data-autohide="true"> fades out after a few seconds (successes only; the rest stay)
 *   <button data-password-toggle aria-controls="id">  shows or hides the password in #id (aria-pressed)
 *   <form data-filters>                      collapsed behind a "Filters" button at phone width (open
 *                                            while a filter is applied or wrong); always open on wider screens
 *   .gw-table-wrap, pre                      made focusable (tabindex=0) while they scroll, so
 *                                            keyboard users can scroll them too
 *   <script data-preview data-preview-refresh="url" data-preview-seconds="900">
 *                                            the widget's preview token, replaced with a fresh one from
 *                                            url before it ends (the widget reads the attribute each time)
 */
(function () {
  "use strict";

  // Controls that only matter without JavaScript (e.g. a Save button that htmx makes redundant) carry
  // .gw-js-hidden; this class on <html> hides them.
  document.documentElement.classList.add("gw-js");

  var TOAST_DELAY_MS = 6000;
  var COPIED_RESET_MS = 2000;

  /* Confirm dialogs: a capturing listener, so it runs before htmx or any other submit handler. */
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.hasAttribute("data-confirm")) return;
    if (!window.confirm(form.getAttribute("data-confirm"))) {
      event.preventDefault();
      event.stopImmediatePropagation();
    }
  }, true);

  /* Copy to clipboard. The Clipboard API needs a secure context (HTTPS or localhost); elsewhere fall
     back to selecting the text in a temporary textarea. */
  function fallbackCopy(text) {
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.className = "gw-offscreen";
    document.body.appendChild(area);
    area.select();
    var copied = false;
    try { copied = document.execCommand("copy"); } catch (error) { copied = false; }
    document.body.removeChild(area);
    return copied ? Promise.resolve() : Promise.reject(new Error("copy failed"));
  }

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text).catch(function () { return fallbackCopy(text); });
    }
    return fallbackCopy(text);
  }

  function selectContents(element) {
    var range = document.createRange();
    range.selectNodeContents(element);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }

  function showCopyResult(button, ok) {
    var label = button.querySelector("[data-copy-label]");
    var icon = button.querySelector(".bi");
    var original = label ? label.textContent : null;
    button.classList.toggle("is-copied", ok);
    if (label) label.textContent = ok ? "Copied" : "Press Ctrl+C";
    if (icon) icon.classList.replace("bi-clipboard", ok ? "bi-check2" : "bi-clipboard-x");
    window.clearTimeout(button._gwCopyTimer);
    button._gwCopyTimer = window.setTimeout(function () {
      button.classList.remove("is-copied");
      if (label) label.textContent = original;
      if (icon) {
        icon.classList.replace("bi-check2", "bi-clipboard");
        icon.classList.replace("bi-clipboard-x", "bi-clipboard");
      }
    }, COPIED_RESET_MS);
  }

  document.addEventListener("click", function (event) {
    var button = event.target instanceof Element ? event.target.closest("[data-copy-target], [data-copy]") : null;
    if (!button) return;
    var text = button.getAttribute("data-copy");
    var source = null;
    if (text === null) {
      source = document.querySelector(button.getAttribute("data-copy-target"));
      if (!source) return;
      text = (source.value !== undefined ? source.value : source.textContent).trim();
    }
    copyText(text).then(
      function () { showCopyResult(button, true); },
      function () {
        // Could not copy: select the text so the user can copy it themselves.
        if (source) selectContents(source);
        showCopyResult(button, false);
      }
    );
  });

  /* Toasts: successes fade out by themselves; errors, warnings and notes stay until dismissed. Each is
     revealed here (CSS hides it until then), so the live region announces it. */
  function initToasts(root) {
    root.querySelectorAll(".toast:not([data-gw-ready])").forEach(function (element) {
      element.setAttribute("data-gw-ready", "");
      // Without Bootstrap's script the toast still shows (and stays): only the fading needs it.
      if (!window.bootstrap) return;
      var autohide = element.getAttribute("data-autohide") === "true";
      var toast = window.bootstrap.Toast.getOrCreateInstance(element, { autohide: autohide, delay: TOAST_DELAY_MS });
      toast.show();
    });
  }

  /* The sidebar is an offcanvas below the lg breakpoint: close it when a link inside is followed, so
     the back button does not reopen a page with the menu covering it. */
  function initSidebar() {
    var sidebar = document.getElementById("gw-sidebar");
    if (!sidebar || !window.bootstrap) return;
    sidebar.addEventListener("click", function (event) {
      var link = event.target instanceof Element ? event.target.closest("a[href]") : null;
      if (!link || !sidebar.classList.contains("show")) return;
      window.bootstrap.Offcanvas.getOrCreateInstance(sidebar).hide();
    });
  }

  function ready(callback) {
    if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", callback);
    else callback();
  }

  /* A page that shows a secret once is the answer to a POST. Replacing its history entry makes a
     reload fetch the page with GET, instead of posting the form again (and creating another key). */
  function forgetPostedForm() {
    if (document.querySelector("[data-shown-once]")) window.history.replaceState(null, "", window.location.href);
  }

  /* Show password: the button says what it does ("Show password") and aria-pressed says whether it is
     on; the field goes back to a password field before the form is sent, so the browser never keeps the
     password as plain text in its form history. */
  document.addEventListener("click", function (event) {
    var button = event.target instanceof Element ? event.target.closest("[data-password-toggle]") : null;
    if (!button) return;
    var input = document.getElementById(button.getAttribute("aria-controls"));
    if (!input) return;
    var show = button.getAttribute("aria-pressed") !== "true";
    input.type = show ? "text" : "password";
    button.setAttribute("aria-pressed", show ? "true" : "false");
    var icon = button.querySelector(".bi");
    if (icon) icon.className = "bi " + (show ? "bi-eye-slash" : "bi-eye");
  });
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement)) return;
    form.querySelectorAll("[data-password-toggle][aria-pressed=true]").forEach(function (button) {
      var input = document.getElementById(button.getAttribute("aria-controls"));
      if (input) input.type = "password";
      button.setAttribute("aria-pressed", "false");
    });
  });

  /* Filters at phone width: a form marked data-filters is collapsed behind a toggle button (inserted
     here, so without JavaScript the form simply shows). It opens by itself while a filter is applied or
     one of its fields is wrong, and the button counts the filters applied. */
  var filterCount = 0;

  function appliedFilters(form) {
    var params = new URLSearchParams(window.location.search);
    var count = 0;
    Array.prototype.forEach.call(form.elements, function (control) {
      if (control.name && control.type !== "hidden" && control.name !== "page" && params.get(control.name)) count += 1;
    });
    return count;
  }

  function initFilters(root) {
    root.querySelectorAll("form[data-filters]:not([data-gw-filters-ready])").forEach(function (form) {
      form.setAttribute("data-gw-filters-ready", "");
      filterCount += 1;
      if (!form.id) form.id = "gw-filters-" + filterCount;
      var applied = appliedFilters(form);
      var wrong = form.querySelector(".gw-field-invalid, [aria-invalid=true]") !== null;
      var button = document.createElement("button");
      button.type = "button";
      button.className = "btn btn-outline-secondary gw-filters-toggle";
      button.setAttribute("aria-controls", form.id);
      button.setAttribute("data-filters-toggle", "");
      var icon = document.createElement("i");
      icon.className = "bi bi-funnel";
      icon.setAttribute("aria-hidden", "true");
      var label = document.createElement("span");
      label.textContent = form.getAttribute("data-filters") || "Filters";
      button.append(icon, " ", label);
      if (applied) {
        var badge = document.createElement("span");
        badge.className = "gw-count";
        badge.textContent = applied;
        var spoken = document.createElement("span");
        spoken.className = "visually-hidden";
        spoken.textContent = applied === 1 ? " filter applied" : " filters applied";
        button.append(" ", badge, spoken);
      }
      form.parentNode.insertBefore(button, form);
      setFiltersOpen(form, button, applied > 0 || wrong);
    });
  }

  function setFiltersOpen(form, button, open) {
    button.setAttribute("aria-expanded", open ? "true" : "false");
    form.classList.toggle("gw-filters-collapsed", !open);
  }

  document.addEventListener("click", function (event) {
    var button = event.target instanceof Element ? event.target.closest("[data-filters-toggle]") : null;
    if (!button) return;
    var form = document.getElementById(button.getAttribute("aria-controls"));
    if (!form) return;
    var open = button.getAttribute("aria-expanded") !== "true";
    setFiltersOpen(form, button, open);
    if (open) {
      var first = form.querySelector("input:not([type=hidden]), select, textarea");
      if (first) first.focus();
    }
  });

  /* Regions that scroll (wide tables, long code) take the keyboard focus, so they can be scrolled
     without a mouse (WCAG 2.1.1); regions that fit are left out of the tab order. */
  function markScrollable(root) {
    root.querySelectorAll(".gw-table-wrap, pre").forEach(function (region) {
      var scrolls = region.scrollWidth > region.clientWidth || region.scrollHeight > region.clientHeight;
      if (scrolls && !region.hasAttribute("tabindex")) {
        region.setAttribute("tabindex", "0");
        region.setAttribute("data-gw-scroll-focus", "");
      } else if (!scrolls && region.hasAttribute("data-gw-scroll-focus")) {
        region.removeAttribute("tabindex");
        region.removeAttribute("data-gw-scroll-focus");
      }
    });
  }

  var resizeTimer = null;
  window.addEventListener("resize", function () {
    window.clearTimeout(resizeTimer);
    resizeTimer = window.setTimeout(function () { markScrollable(document); }, 150);
  });

  ready(function () {
    initToasts(document);
    initSidebar();
    initFilters(document);
    markScrollable(document);
    forgetPostedForm();
  });

  document.addEventListener("htmx:load", function (event) {
    initToasts(event.target);
    initFilters(event.target);
    markScrollable(event.target);
  });
})();

/*
 * Models page (providers app), all through data attributes like the rest of this file:
 *
 *   <form id="compare-form" data-compare-form data-compare-min="2" data-compare-max="4">
 *       with checkboxes form="compare-form": counts the selection, explains, and disables the
 *       Compare button ([data-compare-submit]) outside the range; the server checks it as well.
 *   <select data-deprecation-select> in a [data-deprecation-scope]: options carrying data-deprecated
 *       show that warning in the scope's [data-deprecation-note] as soon as they are chosen.
 *   <div data-show-for="provider" data-show-values="a b">: shown only while the field named
 *       "provider" of the same form has one of those values (without JS it is always shown).
 */
(function () {
  "use strict";

  function updateCompare(form) {
    var min = parseInt(form.getAttribute("data-compare-min"), 10);
    var max = parseInt(form.getAttribute("data-compare-max"), 10);
    var count = document.querySelectorAll('input[type=checkbox][form="' + form.id + '"]:checked').length;
    var status = document.querySelector("[data-compare-status]");
    var submit = document.querySelector("[data-compare-submit]");
    var ok = count >= min && count <= max;
    if (status) {
      if (count === 0) status.textContent = "Select " + min + " to " + max + " models to compare them side by side.";
      else if (count < min) status.textContent = count + " selected: select at least " + min + " to compare.";
      else if (count > max) status.textContent = count + " selected: compare at most " + max + " at a time.";
      else status.textContent = count + " selected.";
      var bar = status.closest(".gw-compare-bar");
      if (bar) bar.classList.toggle("is-invalid", count > max);
    }
    if (submit) submit.disabled = !ok;
  }

  function updateDeprecation(select) {
    var scope = select.closest("[data-deprecation-scope]");
    var note = scope && scope.querySelector("[data-deprecation-note]");
    if (!note) return;
    var option = select.options[select.selectedIndex];
    var warning = option ? option.getAttribute("data-deprecated") : null;
    var text = note.querySelector("[data-deprecation-text]");
    if (text) text.textContent = warning || "";
    note.hidden = !warning;
  }

  function updateShown(form) {
    form.querySelectorAll("[data-show-for]").forEach(function (element) {
      var control = form.elements[element.getAttribute("data-show-for")];
      if (!control) return;
      var values = element.getAttribute("data-show-values").split(" ");
      element.hidden = values.indexOf(control.value) === -1;
    });
  }

  document.addEventListener("change", function (event) {
    var target = event.target;
    if (!(target instanceof HTMLElement)) return;
    var formId = target.getAttribute("form");
    var compare = formId ? document.getElementById(formId) : null;
    if (compare && compare.hasAttribute("data-compare-form")) updateCompare(compare);
    if (target.hasAttribute("data-deprecation-select")) updateDeprecation(target);
    var form = target.closest("form");
    if (form && form.querySelector("[data-show-for]")) updateShown(form);
  });

  function init(root) {
    root.querySelectorAll("[data-compare-form]").forEach(updateCompare);
    root.querySelectorAll("[data-deprecation-select]").forEach(updateDeprecation);
    root.querySelectorAll("form").forEach(function (form) {
      if (form.querySelector("[data-show-for]")) updateShown(form);
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", function () { init(document); });
  else init(document);
  document.addEventListener("htmx:load", function (event) { init(event.target); });
  /* Preview tokens live minutes (bots.widget.rules): while the page stays open, fetch a fresh one at two
     thirds of its life, and at once when the tab comes back after a sleep longer than that. */
  function keepPreviewFresh(script) {
    var url = script.getAttribute("data-preview-refresh");
    var lifetimeMs = (parseInt(script.getAttribute("data-preview-seconds"), 10) || 900) * 1000;
    var refreshMs = Math.max(lifetimeMs * 2 / 3, 10000);
    var fetchedAt = Date.now();
    function refresh() {
      fetchedAt = Date.now();
      fetch(url, { credentials: "same-origin", cache: "no-store", headers: { Accept: "application/json" } })
        .then(function (response) { return response.ok ? response.json() : null; })
        .then(function (body) { if (body && body.token) script.setAttribute("data-preview", body.token); })
        .catch(function () { /* signed out or offline: the widget says so when it is used */ });
    }
    setInterval(refresh, refreshMs);
    document.addEventListener("visibilitychange", function () {
      if (document.visibilityState === "visible" && Date.now() - fetchedAt > refreshMs) refresh();
    });
  }
  document.querySelectorAll("script[data-preview-refresh]").forEach(keepPreviewFresh);
})();
