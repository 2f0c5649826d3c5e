/*
 * Bot pages (bots app). No inline scripts; everything hangs off data attributes, like app.js:
 *
 *   <form data-bot-form>       the builder's settings: the save bar says when there are unsaved changes,
 *       the avatar preview follows the avatar and name fields, and temperature and answer length are off
 *       while the no-LLM answerer is chosen (data-writes-answers="false" on its radio).
 *   <nav data-section-nav>     the builder's sticky section links: the section in view gets aria-current.
 *   <section data-playground data-url="…" data-rate-url="…/00000000-…/rate/">   the playground: a
 *       question is POSTed (session cookie + CSRF token) and the answer read as server-sent events from
 *       the response body as it arrives (fetch + ReadableStream): start, sources, token…, done or error.
 *       Answers are built from <template data-pg-answer-template>; each counts the token events it
 *       received in data-token-events. Thumbs up/down POST to the rate URL.
 *
 * Everything a visitor, a document or a model wrote (questions, answers, titles, passages, server
 * messages) is set with textContent, never innerHTML; links are only set to the dashboard's own
 * document pages or to http(s) addresses.
 */
(function () {
  "use strict";

  var PLACEHOLDER_ID = "00000000-0000-0000-0000-000000000000";
  var DOCUMENT_URL = /^\/app\/knowledge\/documents\/[0-9a-f-]{36}\/$/;
  var CONVERSATION_URL = /^\/app\/conversations\/[0-9a-f-]{36}\/$/;
  var UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
  var WEB_URL = /^https?:\/\//i;

  function element(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function icon(name) {
    var node = element("i", "bi bi-" + name);
    node.setAttribute("aria-hidden", "true");
    return node;
  }

  function csrfToken(form) {
    var input = form.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  /* --- the builder's settings form --------------------------------------------------------------- */

  function initials(name) {
    return name.trim().split(/\s+/).slice(0, 2).map(function (word) { return word.charAt(0); }).join("").toUpperCase();
  }

  function initBotForm(form) {
    if (form.hasAttribute("data-bot-form-ready")) return;
    form.setAttribute("data-bot-form-ready", "");
    var note = form.querySelector("[data-dirty-note]");
    var text = form.querySelector("[data-dirty-text]");
    var bar = form.querySelector("[data-savebar]");
    var avatar = form.querySelector("input[name=avatar]");
    var name = form.querySelector("input[name=name]");
    var preview = form.querySelector(".gw-avatar-field .gw-bot-avatar");
    function markDirty() {
      if (!bar || bar.classList.contains("is-dirty")) return;
      bar.classList.add("is-dirty");
      if (text) text.textContent = "Unsaved changes";
      var mark = note && note.querySelector(".bi");
      if (mark) mark.className = "bi bi-circle-fill";
    }
    function updatePreview() {
      if (!preview) return;
      var value = avatar && avatar.value.trim();
      preview.textContent = value || (name ? initials(name.value) : "") || "?";
    }
    form.addEventListener("input", function (event) {
      markDirty();
      if (event.target === avatar || event.target === name) updatePreview();
    });
    form.addEventListener("change", function (event) {
      markDirty();
      if (event.target instanceof HTMLInputElement && event.target.name === "chat_model") updateWritingSettings(form);
    });
  }

  /* Temperature and answer length mean nothing to a model that writes nothing (the no-LLM answerer): off,
     with the reason shown, as soon as it is chosen; on again for any other. The server renders the same
     for the saved choice and ignores them while it is chosen. */
  function updateWritingSettings(form) {
    var chosen = form.querySelector("input[name=chat_model]:checked");
    var writes = !chosen || chosen.getAttribute("data-writes-answers") !== "false";
    ["temperature", "max_output_tokens"].forEach(function (name) {
      var input = form.querySelector("[name=" + name + "]");
      if (input) input.disabled = !writes;
    });
    var reason = form.querySelector("[data-writing-off]");
    if (reason) reason.hidden = writes;
  }

  /* --- the builder's section nav: the section in view is the current one ------------------------------ */

  function initSectionNav(nav) {
    if (!("IntersectionObserver" in window)) return;
    var links = Array.prototype.slice.call(nav.querySelectorAll("a[href^='#']"));
    var sections = links.map(function (link) { return document.getElementById(link.getAttribute("href").slice(1)); });
    var visible = {};
    function mark() {
      var current = null;
      sections.forEach(function (section) { if (!current && section && visible[section.id]) current = section.id; });
      if (!current) return;
      links.forEach(function (link) {
        if (link.getAttribute("href") === "#" + current) link.setAttribute("aria-current", "true");
        else link.removeAttribute("aria-current");
      });
    }
    var observer = new IntersectionObserver(function (entries) {
      entries.forEach(function (entry) { visible[entry.target.id] = entry.isIntersecting; });
      mark();
    }, { rootMargin: "-80px 0px -55% 0px" });
    sections.forEach(function (section) { if (section) observer.observe(section); });
  }

  /* --- server-sent events from a fetch response ---------------------------------------------------- */

  function parseEvent(block) {
    var name = "message";
    var data = [];
    block.split("\n").forEach(function (line) {
      if (line.indexOf("event:") === 0) name = line.slice(6).trim();
      else if (line.indexOf("data:") === 0) data.push(line.slice(5).replace(/^ /, ""));
    });
    if (!data.length) return null;
    try {
      return { name: name, data: JSON.parse(data.join("\n")) };
    } catch (error) {
      return null;
    }
  }

  /* Reads the body as it arrives and calls onEvent for each complete event; resolves at the end. */
  function readEvents(response, onEvent) {
    var reader = response.body.getReader();
    var decoder = new TextDecoder();
    var buffer = "";
    function pump() {
      return reader.read().then(function (result) {
        if (result.value) buffer += decoder.decode(result.value, { stream: true });
        buffer = buffer.replace(/\r\n/g, "\n");
        var end;
        while ((end = buffer.indexOf("\n\n")) !== -1) {
          var event = parseEvent(buffer.slice(0, end));
          buffer = buffer.slice(end + 2);
          if (event) onEvent(event);
        }
        if (result.done) return undefined;
        return pump();
      });
    }
    return pump();
  }

  /* --- the playground ------------------------------------------------------------------------------ */

  function problemText(response, body) {
    if (body && typeof body.detail === "string" && body.detail) return body.detail;
    if (response.status === 403) return "Your session has expired or you may not do this here; reload the page.";
    if (response.status === 404) return "This bot no longer exists.";
    if (response.status === 429) return "Too many questions right now; wait a moment and ask again.";
    return "The answer failed (HTTP " + response.status + "). Try again.";
  }

  function citationItem(citation, withText, scoreLabel) {
    var item = element("li", "gw-pg-cite");
    item.appendChild(element("span", "gw-pg-cite-number", citation.number || "•")).setAttribute("aria-hidden", "true");
    var body = item.appendChild(element("div", "gw-pg-cite-body"));
    var head = body.appendChild(element("div", "gw-pg-cite-head"));
    var title;
    if (typeof citation.document_url === "string" && DOCUMENT_URL.test(citation.document_url)) {
      title = element("a", "gw-pg-cite-title", citation.title);
      title.href = citation.document_url;
    } else {
      title = element("span", "gw-pg-cite-title", citation.title);
    }
    head.appendChild(title);
    if (citation.location) head.appendChild(element("span", "gw-pg-cite-location", citation.location));
    if (withText && typeof citation.score === "number") { // the score belongs to the retrieval view
      var score = head.appendChild(element("span", "gw-pg-cite-score", (scoreLabel || "score") + " "));
      score.appendChild(element("strong", "gw-num", citation.score.toFixed(3)));
    }
    if (citation.heading_path && withText) body.appendChild(element("div", "gw-pg-cite-path", citation.heading_path));
    var text = withText ? citation.text : citation.snippet;
    if (text) body.appendChild(element("p", withText ? "gw-pg-cite-text" : "gw-pg-cite-snippet", text));
    if (citation.source && citation.source !== citation.title) {
      var source = body.appendChild(element("div", "gw-pg-cite-source"));
      if (typeof citation.link === "string" && WEB_URL.test(citation.link)) {
        source.appendChild(icon("link-45deg"));
        var link = source.appendChild(element("a", "", citation.source));
        link.href = citation.link;
        link.target = "_blank";
        link.rel = "noopener noreferrer nofollow";
      } else {
        source.appendChild(icon("file-earmark-text"));
        source.appendChild(element("span", "", citation.source));
      }
    }
    return item;
  }

  function Playground(root) {
    this.root = root;
    this.url = root.getAttribute("data-url");
    this.rateUrl = root.getAttribute("data-rate-url");
    this.log = root.querySelector("[data-pg-log]");
    this.form = root.querySelector("[data-pg-form]");
    this.input = root.querySelector("[data-pg-input]");
    this.send = root.querySelector("[data-pg-send]");
    this.reset = root.querySelector("[data-pg-reset]");
    this.conversation = root.querySelector("[data-pg-conversation]");
    var aside = root.closest("aside") || document;
    this.answerTemplate = aside.querySelector("template[data-pg-answer-template]");
    this.questionTemplate = aside.querySelector("template[data-pg-question-template]");
    this.busy = false;
    this.bind();
  }

  Playground.prototype.bind = function () {
    var self = this;
    this.form.addEventListener("submit", function (event) {
      event.preventDefault();
      self.ask(self.input.value);
    });
    this.input.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        self.ask(self.input.value);
      }
    });
    this.input.addEventListener("input", function () { self.autosize(); });
    this.root.addEventListener("click", function (event) {
      var target = event.target instanceof Element ? event.target : null;
      if (!target) return;
      var suggestion = target.closest("[data-pg-suggest]");
      if (suggestion) self.ask(suggestion.textContent);
      var rate = target.closest("[data-pg-rate]");
      if (rate) self.rate(rate);
    });
    this.reset.addEventListener("click", function () { self.restart(); });
  };

  Playground.prototype.autosize = function () {
    this.input.style.height = "auto";
    this.input.style.height = Math.min(this.input.scrollHeight, 160) + "px";
  };

  Playground.prototype.nearBottom = function () {
    return this.log.scrollHeight - this.log.scrollTop - this.log.clientHeight < 80;
  };

  Playground.prototype.scroll = function (force) {
    if (force || this.nearBottom()) this.log.scrollTop = this.log.scrollHeight;
  };

  Playground.prototype.setBusy = function (busy) {
    this.busy = busy;
    this.send.disabled = busy;
    this.root.classList.toggle("is-busy", busy);
  };

  Playground.prototype.restart = function () {
    if (this.busy) return;
    this.conversation.value = "";
    this.log.querySelectorAll(".gw-pg-turn:not([data-pg-greeting])").forEach(function (turn) { turn.remove(); });
    var suggestions = this.log.querySelector("[data-pg-suggestions]");
    if (suggestions) suggestions.hidden = false;
    this.reset.disabled = true;
    this.input.focus();
  };

  Playground.prototype.ask = function (text) {
    var question = (text || "").trim();
    if (!question || this.busy) return;
    var self = this;
    var suggestions = this.log.querySelector("[data-pg-suggestions]");
    if (suggestions) suggestions.hidden = true;
    var asked = this.questionTemplate.content.firstElementChild.cloneNode(true);
    asked.querySelector("[data-pg-text]").textContent = question;
    this.log.appendChild(asked);
    var answer = new Answer(this.answerTemplate.content.firstElementChild.cloneNode(true));
    this.log.appendChild(answer.node);
    this.scroll(true);
    this.input.value = "";
    this.autosize();
    this.setBusy(true);

    var body = new FormData();
    body.append("csrfmiddlewaretoken", csrfToken(this.form));
    body.append("message", question);
    body.append("conversation_id", this.conversation.value);
    fetch(this.url, {
      method: "POST",
      body: body,
      credentials: "same-origin",
      headers: { "X-CSRFToken": csrfToken(this.form), Accept: "text/event-stream" },
    })
      .then(function (response) {
        var type = response.headers.get("Content-Type") || "";
        if (!response.ok || type.indexOf("text/event-stream") !== 0) {
          return response.json().catch(function () { return null; }).then(function (problem) {
            answer.fail(problemText(response, problem), response.status === 429 ? "hourglass-split" : null);
          });
        }
        return readEvents(response, function (event) {
          self.handle(answer, event);
          self.scroll(false);
        }).then(function () {
          if (!answer.finished) answer.fail("The answer stopped before it was complete. Ask again.");
        });
      })
      .catch(function () {
        answer.fail("Could not reach Groundwork. Check your connection and ask again.");
      })
      .then(function () {
        self.setBusy(false);
        self.scroll(false);
        self.input.focus();
      });
  };

  Playground.prototype.handle = function (answer, event) {
    var data = event.data || {};
    if (event.name === "start") {
      if (UUID.test(data.conversation_id || "")) this.conversation.value = data.conversation_id;
      this.reset.disabled = false;
    } else if (event.name === "sources") {
      answer.sources(data);
    } else if (event.name === "token") {
      answer.token(data.text || "");
    } else if (event.name === "done") {
      answer.done(data, this.rateUrl);
    } else if (event.name === "error") {
      answer.fail(data.detail || "The model failed while answering.");
    }
  };

  Playground.prototype.rate = function (button) {
    var answer = button.closest("[data-pg-answer]");
    var id = answer && answer.getAttribute("data-message-id");
    if (!id || !UUID.test(id)) return;
    var rating = button.getAttribute("data-pg-rate");
    var body = new FormData();
    body.append("csrfmiddlewaretoken", csrfToken(this.form));
    body.append("rating", rating);
    var buttons = answer.querySelectorAll("[data-pg-rate]");
    buttons.forEach(function (each) { each.disabled = true; });
    fetch(this.rateUrl.replace(PLACEHOLDER_ID, id), {
      method: "POST",
      body: body,
      credentials: "same-origin",
      headers: { "X-CSRFToken": csrfToken(this.form), Accept: "application/json" },
    })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        buttons.forEach(function (each) {
          var pressed = each === button;
          each.setAttribute("aria-pressed", pressed ? "true" : "false");
          var glyph = each.querySelector(".bi");
          var base = each.getAttribute("data-pg-rate") === "1" ? "bi-hand-thumbs-up" : "bi-hand-thumbs-down";
          glyph.className = "bi " + base + (pressed ? "-fill" : "");
        });
        answer.setAttribute("data-rating", rating);
      })
      .catch(function () {
        var meta = answer.querySelector("[data-pg-meta]");
        if (meta) meta.textContent = "The rating could not be saved; try again.";
      })
      .then(function () { buttons.forEach(function (each) { each.disabled = false; }); });
  };

  /* The one place an answer's text goes into the playground: rendered as Markdown by the widget's own
   * renderer (static/widget/panel.js exposes it as window.__groundworkMarkdown; it builds elements and
   * text nodes, never innerHTML, links only http(s) and never loads an image), so the playground shows
   * an answer exactly as visitors see it. panel.js is loaded on first use, from beside this file; until
   * it has loaded (or if it cannot), the text is shown as it is. */
  var PANEL_SRC = document.currentScript && document.currentScript.src
    ? new URL("../widget/panel.js", document.currentScript.src).href
    : "";
  var markdownLoading = null;

  function loadMarkdown() {
    if (window.__groundworkMarkdown || markdownLoading || !PANEL_SRC) return;
    markdownLoading = document.createElement("script");
    markdownLoading.src = PANEL_SRC;
    markdownLoading.async = true;
    markdownLoading.addEventListener("load", function () {
      document.querySelectorAll("[data-pg-markdown]").forEach(function (target) {
        showAnswerText(target, target.gwAnswerText || "");
      });
    });
    document.head.appendChild(markdownLoading);
  }

  // Fetched as the page opens (deferred, like this file), so the first answer is already rendered.
  if (document.querySelector("[data-playground]")) loadMarkdown();

  function showAnswerText(target, text) {
    target.gwAnswerText = text;
    target.setAttribute("data-pg-markdown", "");
    target.classList.add("gw-md");
    if (typeof window.__groundworkMarkdown !== "function") {
      target.textContent = text;
      loadMarkdown();
      return;
    }
    target.textContent = "";
    target.appendChild(window.__groundworkMarkdown(text));
  }

  /* One answer as it streams in. */
  function Answer(node) {
    this.node = node;
    this.bubble = node.querySelector("[data-pg-bubble]");
    this.text = node.querySelector("[data-pg-text]");
    this.status = node.querySelector("[data-pg-status]");
    this.statusText = node.querySelector("[data-pg-status-text]");
    this.tokens = 0;
    this.finished = false;
  }

  Answer.prototype.sources = function (data) {
    var citations = Array.isArray(data.citations) ? data.citations : [];
    var retrieved = Array.isArray(data.retrieved) ? data.retrieved : [];
    if (citations.length) {
      var list = this.node.querySelector("[data-pg-citations]");
      citations.forEach(function (citation) { list.appendChild(citationItem(citation, false)); });
      this.node.querySelector("[data-pg-sources]").hidden = false;
    }
    var details = this.node.querySelector("[data-pg-retrieved]");
    this.node.querySelector("[data-pg-retrieved-count]").textContent = String(retrieved.length);
    var passages = this.node.querySelector("[data-pg-passages]");
    var scoreLabel = typeof data.score_label === "string" ? data.score_label : "score";
    retrieved.forEach(function (passage, index) {
      passages.appendChild(citationItem(Object.assign({}, passage, { number: index + 1 }), true, scoreLabel));
    });
    if (data.standalone_question) {
      var standalone = this.node.querySelector("[data-pg-standalone]");
      standalone.textContent = "Searched as “" + data.standalone_question + "”";
      standalone.hidden = false;
    }
    details.hidden = false;
    this.statusText.textContent = retrieved.length
      ? "Found " + retrieved.length + " passage" + (retrieved.length === 1 ? "" : "s") + "; writing the answer…"
      : "Nothing relevant found in the knowledge bases…";
  };

  Answer.prototype.token = function (text) {
    this.tokens += 1;
    this.node.setAttribute("data-token-events", String(this.tokens));
    showAnswerText(this.text, (this.text.gwAnswerText || "") + text);
    this.status.hidden = true;
  };

  Answer.prototype.done = function (data, rateUrl) {
    this.finished = true;
    this.bubble.classList.remove("is-streaming");
    this.status.hidden = true;
    this.node.removeAttribute("aria-busy");
    if (typeof data.answer === "string" && data.answer !== this.text.gwAnswerText) showAnswerText(this.text, data.answer);
    if (UUID.test(data.message_id || "")) this.node.setAttribute("data-message-id", data.message_id);
    this.node.setAttribute("data-outcome", data.outcome || "");
    var usage = data.usage || {};
    var parts = [];
    if (data.outcome === "no_answer") parts.push("Handed off: nothing relevant found");
    if (data.model_version) parts.push(data.model_version);
    parts.push((usage.input_tokens || 0) + " in · " + (usage.output_tokens || 0) + " out");
    if (data.cost_label) parts.push(data.cost_label);
    if (data.latency_label) parts.push(data.latency_label + (data.first_token_label && data.first_token_label !== "—" ? " (first token " + data.first_token_label + ")" : ""));
    this.node.querySelector("[data-pg-meta]").textContent = parts.join(" · ");
    var open = this.node.querySelector("[data-pg-open]");
    if (typeof data.conversation_url === "string" && CONVERSATION_URL.test(data.conversation_url)) {
      open.href = data.conversation_url + (data.message_id ? "#message-" + data.message_id : "");
    } else {
      open.remove();
    }
    if (!rateUrl) this.node.querySelector(".gw-pg-rate").remove();
    this.node.querySelector("[data-pg-footer]").hidden = false;
  };

  Answer.prototype.fail = function (message, glyph) {
    this.finished = true;
    this.bubble.classList.remove("is-streaming");
    this.node.removeAttribute("aria-busy");
    this.status.hidden = true;
    if (!this.text.textContent) this.bubble.hidden = true;
    var box = this.node.querySelector("[data-pg-error]");
    box.querySelector("[data-pg-error-text]").textContent = message;
    if (glyph) box.querySelector(".bi").className = "bi bi-" + glyph;
    box.hidden = false;
    this.node.classList.add("is-failed");
  };

  function init(root) {
    root.querySelectorAll("[data-bot-form]").forEach(initBotForm);
    root.querySelectorAll("[data-section-nav]").forEach(function (nav) {
      if (nav.hasAttribute("data-section-nav-ready")) return;
      nav.setAttribute("data-section-nav-ready", "");
      initSectionNav(nav);
    });
    root.querySelectorAll("[data-playground]").forEach(function (element) {
      if (element.hasAttribute("data-playground-ready")) return;
      element.setAttribute("data-playground-ready", "");
      new Playground(element);
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", function () { init(document); });
  else init(document);
})();
