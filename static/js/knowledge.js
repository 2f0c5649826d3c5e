/*
 * Knowledge pages (knowledge app). No inline scripts; everything hangs off data attributes, like app.js:
 *
 *   <form data-upload-form data-max-bytes="…" data-rows="#tbody">   files chosen or dropped on its
 *       [data-dropzone] are uploaded one request each (XMLHttpRequest, for upload progress), each with
 *       its own progress bar in [data-upload-list]; the server answers with the new document's table
 *       row, which is put at the top of data-rows and polls itself (htmx) until the document is ready.
 *   <form data-qa-form>    [data-qa-add] adds a question/answer row from <template data-qa-template>,
 *       [data-qa-remove] removes one; rows are renumbered (their labels too).
 *   <div data-delete-modal> a Bootstrap modal shared by many rows: the button that opens it carries
 *       data-delete-action (the form's action) and data-delete-name (shown as text).
 *   <form data-search-form> "compare all three modes" disables the single-mode select.
 *
 * Everything a user or a document supplied (file names, titles, server messages) is set with
 * textContent, never innerHTML; the only HTML inserted is the row the server rendered (autoescaped).
 */
(function () {
  "use strict";

  var PARALLEL_UPLOADS = 3;
  var DONE_ITEM_FADE_MS = 4000;

  function humanSize(bytes) {
    if (bytes < 1024) return bytes + " B";
    if (bytes < 1024 * 1024) return (bytes / 1024).toFixed(bytes < 10 * 1024 ? 1 : 0) + " KB";
    return (bytes / (1024 * 1024)).toFixed(1) + " MB";
  }

  function element(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function icon(name) {
    var node = element("i", "bi bi-" + name);
    node.setAttribute("aria-hidden", "true");
    return node;
  }

  /* --- uploads ---------------------------------------------------------------------------------- */

  function csrfToken(form) {
    var input = form.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function uploadItem(list, file) {
    var item = element("li", "gw-upload-item is-uploading");
    item.appendChild(element("span", "gw-upload-icon")).appendChild(icon("file-earmark-arrow-up"));
    var body = item.appendChild(element("div", "gw-upload-body"));
    var head = body.appendChild(element("div", "gw-upload-head"));
    head.appendChild(element("span", "gw-upload-name", file.name));
    head.appendChild(element("span", "gw-upload-size", humanSize(file.size)));
    var bar = body.appendChild(element("progress", "gw-bar"));
    bar.max = 100;
    bar.value = 0;
    bar.setAttribute("aria-label", "Uploading " + file.name);
    var status = body.appendChild(element("div", "gw-upload-status", "Waiting…"));
    var dismiss = item.appendChild(element("button", "gw-icon-btn gw-icon-btn-sm gw-upload-dismiss"));
    dismiss.type = "button";
    dismiss.setAttribute("aria-label", "Dismiss " + file.name);
    dismiss.appendChild(icon("x-lg"));
    dismiss.addEventListener("click", function () { item.remove(); });
    list.insertBefore(item, list.firstChild);
    return {
      progress: function (percent) {
        bar.value = percent;
        status.textContent = percent >= 100 ? "Checking the file…" : "Uploading… " + percent + "%";
      },
      done: function (text) {
        item.className = "gw-upload-item is-done";
        item.querySelector(".gw-upload-icon i").className = "bi bi-check-circle-fill";
        bar.value = 100;
        status.textContent = text;
        window.setTimeout(function () {
          item.classList.add("is-leaving");
          window.setTimeout(function () { item.remove(); }, 400);
        }, DONE_ITEM_FADE_MS);
      },
      failed: function (text) {
        item.className = "gw-upload-item is-failed";
        item.querySelector(".gw-upload-icon i").className = "bi bi-exclamation-octagon-fill";
        status.textContent = text;
        status.setAttribute("role", "alert");
      },
    };
  }

  function insertRow(form, html) {
    var rows = document.querySelector(form.getAttribute("data-rows"));
    if (!rows || !html) return;
    var template = document.createElement("template");
    template.innerHTML = html.trim(); // the server's own rendering, autoescaped
    var row = template.content.firstElementChild;
    if (!row) return;
    var existing = row.id ? document.getElementById(row.id) : null;
    if (existing) existing.replaceWith(row);
    else rows.insertBefore(row, rows.firstChild);
    var empty = document.querySelector("[data-documents-empty]");
    if (empty) empty.hidden = true;
    if (window.htmx) window.htmx.process(row); // start polling its progress
  }

  function errorMessage(xhr) {
    try {
      var body = JSON.parse(xhr.responseText);
      if (body.error) return body.error;
      if (body.detail) return body.detail; // the ASGI body cap answers problem+json
    } catch (error) { /* not JSON: fall through */ }
    if (xhr.status === 413) return "This file is too large to upload.";
    if (xhr.status === 403) return "You are not allowed to add documents here.";
    if (xhr.status === 0) return "The upload was interrupted; check your connection and try again.";
    return "The upload failed (HTTP " + xhr.status + "). Try again.";
  }

  function sendFile(form, file, item, finished) {
    var data = new FormData();
    data.append("csrfmiddlewaretoken", csrfToken(form));
    data.append("file", file, file.name);
    var xhr = new XMLHttpRequest();
    xhr.open("POST", form.action);
    xhr.setRequestHeader("X-Requested-With", "XMLHttpRequest");
    xhr.setRequestHeader("X-CSRFToken", csrfToken(form));
    xhr.setRequestHeader("Accept", "application/json");
    xhr.upload.addEventListener("progress", function (event) {
      if (event.lengthComputable) item.progress(Math.min(100, Math.round((100 * event.loaded) / event.total)));
    });
    xhr.addEventListener("load", function () {
      if (xhr.status === 201) {
        var body = {};
        try { body = JSON.parse(xhr.responseText); } catch (error) { body = {}; }
        insertRow(form, body.row);
        item.done("Uploaded. Processing has started below.");
      } else {
        item.failed(errorMessage(xhr));
      }
      finished();
    });
    xhr.addEventListener("error", function () { item.failed(errorMessage(xhr)); finished(); });
    xhr.addEventListener("abort", function () { item.failed("The upload was cancelled."); finished(); });
    item.progress(0);
    xhr.send(data);
  }

  function uploadFiles(form, files) {
    var list = form.querySelector("[data-upload-list]");
    var maxBytes = parseInt(form.getAttribute("data-max-bytes"), 10) || Infinity;
    var queue = [];
    Array.prototype.forEach.call(files, function (file) {
      var item = uploadItem(list, file);
      if (file.size > maxBytes) {
        item.failed("Larger than the " + humanSize(maxBytes) + " limit; split it or compress its images.");
      } else if (file.size === 0) {
        item.failed("This file is empty.");
      } else {
        queue.push({ file: file, item: item });
      }
    });
    var running = 0;
    function next() {
      while (running < PARALLEL_UPLOADS && queue.length) {
        var job = queue.shift();
        running += 1;
        sendFile(form, job.file, job.item, function () { running -= 1; next(); });
      }
    }
    next();
  }

  function initUpload(form) {
    if (form.hasAttribute("data-upload-ready")) return;
    form.setAttribute("data-upload-ready", "");
    var zone = form.querySelector("[data-dropzone]");
    var input = form.querySelector("input[type=file]");
    if (!zone || !input) return;
    input.addEventListener("change", function () {
      if (input.files && input.files.length) uploadFiles(form, input.files);
      input.value = ""; // choosing the same file again is a new upload
    });
    form.addEventListener("submit", function (event) {
      // Without a choice there is nothing to send; with script, files have already gone one by one.
      event.preventDefault();
    });
    var depth = 0;
    zone.addEventListener("dragenter", function (event) {
      event.preventDefault();
      depth += 1;
      zone.classList.add("is-dragging");
    });
    zone.addEventListener("dragover", function (event) {
      event.preventDefault();
      if (event.dataTransfer) event.dataTransfer.dropEffect = "copy";
    });
    zone.addEventListener("dragleave", function () {
      depth = Math.max(0, depth - 1);
      if (!depth) zone.classList.remove("is-dragging");
    });
    zone.addEventListener("drop", function (event) {
      event.preventDefault();
      depth = 0;
      zone.classList.remove("is-dragging");
      if (event.dataTransfer && event.dataTransfer.files.length) uploadFiles(form, event.dataTransfer.files);
    });
  }

  // A file dropped beside the zone would otherwise make the browser leave the page to open it.
  ["dragover", "drop"].forEach(function (type) {
    window.addEventListener(type, function (event) {
      if (!(event.target instanceof Element) || !event.target.closest("[data-dropzone]")) event.preventDefault();
    });
  });

  /* --- question and answer rows ------------------------------------------------------------------ */

  function renumber(form) {
    var rows = form.querySelectorAll("[data-qa-row]");
    rows.forEach(function (row, index) {
      var number = index + 1;
      row.querySelector("[data-qa-number]").textContent = String(number);
      row.querySelector("[data-qa-question]").setAttribute("aria-label", "Question " + number);
      row.querySelector("[data-qa-answer]").setAttribute("aria-label", "Answer " + number);
      var remove = row.querySelector("[data-qa-remove]");
      remove.setAttribute("aria-label", "Remove pair " + number);
      remove.disabled = rows.length === 1;
    });
  }

  document.addEventListener("click", function (event) {
    var target = event.target instanceof Element ? event.target : null;
    if (!target) return;
    var add = target.closest("[data-qa-add]");
    var remove = target.closest("[data-qa-remove]");
    var form = (add || remove) && (add || remove).closest("[data-qa-form]");
    if (!form) return;
    if (add) {
      var template = form.querySelector("template[data-qa-template]");
      var rows = form.querySelector("[data-qa-rows]");
      var row = template.content.firstElementChild.cloneNode(true);
      rows.appendChild(row);
      renumber(form);
      row.querySelector("[data-qa-question]").focus();
    } else {
      var current = remove.closest("[data-qa-row]");
      if (form.querySelectorAll("[data-qa-row]").length > 1) current.remove();
      renumber(form);
    }
  });

  /* --- the shared delete dialog ------------------------------------------------------------------- */

  document.addEventListener("show.bs.modal", function (event) {
    var modal = event.target;
    var trigger = event.relatedTarget;
    if (!(modal instanceof Element) || !modal.hasAttribute("data-delete-modal") || !trigger) return;
    var form = modal.querySelector("[data-delete-form]");
    form.action = trigger.getAttribute("data-delete-action");
    modal.querySelector("[data-delete-name]").textContent = trigger.getAttribute("data-delete-name");
  });

  /* --- test search ------------------------------------------------------------------------------ */

  function updateCompare(form) {
    var compare = form.querySelector("input[name=compare]");
    var mode = form.querySelector("select[name=mode]");
    if (compare && mode) mode.disabled = compare.checked;
  }

  document.addEventListener("change", function (event) {
    var form = event.target instanceof Element ? event.target.closest("[data-search-form]") : null;
    if (form) updateCompare(form);
  });

  function init(root) {
    root.querySelectorAll("[data-upload-form]").forEach(initUpload);
    root.querySelectorAll("[data-qa-form]").forEach(renumber);
    root.querySelectorAll("[data-search-form]").forEach(updateCompare);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", function () { init(document); });
  else init(document);
})();
