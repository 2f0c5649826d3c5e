/*! Groundwork chat widget: the panel. Loaded by /widget.js (static/widget/loader.js) on first open,
 * into the loader's Shadow DOM.
 *
 * Security invariants (the page, the visitor, the documents and the model are all untrusted):
 * - every text from the server is set with textContent or built into elements by the Markdown subset
 *   below; nothing is ever assigned to innerHTML, so raw HTML in an answer is shown as text;
 * - links are made only for http(s) URLs, and open in a new tab with rel="noopener noreferrer nofollow ugc" (a model or a document wrote them);
 * - no <img> is ever made from content: Markdown images show their alt text, so no remote image loads;
 * - requests go only to the Groundwork server the loader came from, without cookies.
 */
(function (window, document) {
  "use strict";

  var CSS = [
    ".gw{font-family:system-ui,-apple-system,'Segoe UI',Roboto,'Helvetica Neue',Arial,'Noto Sans',sans-serif,'Apple Color Emoji','Segoe UI Emoji';font-size:14px;line-height:1.5;color:#111827;font-weight:400;font-style:normal;letter-spacing:normal;text-align:left;text-transform:none;-webkit-font-smoothing:antialiased}",
    ".gw *,.gw *::before,.gw *::after{box-sizing:border-box}",
    ".gw [hidden]{display:none!important}",
    ".gw button{font:inherit;color:inherit;margin:0}",
    ".gw-panel{position:fixed;z-index:2147483001;bottom:88px;right:20px;width:384px;max-width:calc(100vw - 40px);height:min(660px,calc(100vh - 112px));min-height:320px;display:flex;flex-direction:column;background:#fff;border-radius:18px;overflow:hidden;border:1px solid rgba(15,23,42,.08);box-shadow:0 24px 60px -12px rgba(15,23,42,.28),0 8px 20px -8px rgba(15,23,42,.14);visibility:hidden;opacity:0;transform:translateY(14px) scale(.98);transform-origin:bottom right;transition:opacity .18s ease,transform .2s ease,visibility 0s linear .2s}",
    ".gw-left .gw-panel{right:auto;left:20px;transform-origin:bottom left}",
    ".gw-panel.gw-open{visibility:visible;opacity:1;transform:none;transition:opacity .2s ease,transform .24s cubic-bezier(.2,.8,.2,1)}",
    // Header: the bot's colour, its avatar and title, new conversation and close.
    ".gw-head{flex:none;display:flex;align-items:center;gap:12px;padding:14px 10px 14px 16px;background:var(--gw-accent);color:var(--gw-on)}",
    ".gw-avatar{flex:none;width:38px;height:38px;border-radius:50%;display:flex;align-items:center;justify-content:center;font-size:15px;font-weight:600;background:rgba(255,255,255,.2);background:color-mix(in srgb,var(--gw-on) 18%,transparent);box-shadow:inset 0 0 0 1px color-mix(in srgb,var(--gw-on) 22%,transparent)}",
    ".gw-titles{flex:1;min-width:0}",
    ".gw-title{font-size:15.5px;font-weight:600;line-height:1.25;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}",
    ".gw-sub{font-size:12.5px;opacity:.85;line-height:1.3;margin-top:2px;display:flex;align-items:center;gap:6px}",
    ".gw-sub::before{content:'';width:7px;height:7px;border-radius:50%;background:#22c55e;box-shadow:0 0 0 2px color-mix(in srgb,var(--gw-on) 30%,transparent)}",
    ".gw-hbtn{flex:none;width:36px;height:36px;border:0;border-radius:10px;background:transparent;color:inherit;display:inline-flex;align-items:center;justify-content:center;cursor:pointer;transition:background .15s}",
    ".gw-hbtn:hover{background:color-mix(in srgb,var(--gw-on) 16%,transparent)}",
    ".gw-hbtn:focus-visible{outline:2px solid var(--gw-on);outline-offset:-2px}",
    ".gw-hbtn svg{width:20px;height:20px}",
    // The conversation.
    ".gw-body{flex:1;min-height:0;display:flex;flex-direction:column;position:relative;background:#fff}",
    ".gw-log{flex:1;min-height:0;overflow-y:auto;overscroll-behavior:contain;padding:18px 16px 8px;display:flex;flex-direction:column;gap:14px}",
    ".gw-msg{display:flex;flex-direction:column;max-width:88%;min-width:0}",
    ".gw-bot{align-self:flex-start}",
    ".gw-user{align-self:flex-end;align-items:flex-end}",
    ".gw-bubble{padding:10px 14px;border-radius:18px;overflow-wrap:anywhere;word-break:break-word;min-width:0;max-width:100%}",
    ".gw-bot .gw-bubble{background:#f3f4f6;color:#111827;border-bottom-left-radius:6px}",
    ".gw-user .gw-bubble{background:var(--gw-accent);color:var(--gw-on);border-bottom-right-radius:6px;white-space:pre-wrap}",
    ".gw-bubble p,.gw-bubble ul,.gw-bubble ol,.gw-bubble pre,.gw-bubble blockquote{margin:0 0 8px}",
    ".gw-bubble>:last-child{margin-bottom:0}",
    ".gw-bubble ul,.gw-bubble ol{padding-left:20px}",
    ".gw-bubble li{margin:2px 0}",
    ".gw-bubble strong{font-weight:600}",
    ".gw-bubble .gw-h{font-weight:600}",
    ".gw-bubble a{color:var(--gw-link);text-decoration:underline;text-underline-offset:2px}",
    ".gw-bubble code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,'Liberation Mono',monospace;font-size:.9em;background:rgba(15,23,42,.07);padding:1px 5px;border-radius:5px}",
    ".gw-bubble pre{background:#0f172a;color:#e2e8f0;padding:10px 12px;border-radius:10px;overflow-x:auto;white-space:pre;font-size:12.5px;line-height:1.55}",
    ".gw-bubble pre code{background:none;padding:0;font-size:inherit;color:inherit}",
    ".gw-bubble blockquote{border-left:3px solid #d1d5db;padding-left:10px;color:#4b5563}",
    ".gw-bubble hr{border:0;border-top:1px solid #d1d5db;margin:10px 0}",
    ".gw-img{color:#6b7280;font-style:italic}",
    ".gw-ref{display:inline-block;min-width:17px;padding:0 4px;margin:0 1px;border-radius:9px;background:rgba(15,23,42,.09);color:#374151;font-size:11px;font-weight:600;line-height:17px;text-align:center;vertical-align:1px}",
    ".gw-greeting .gw-bubble{background:#f3f4f6}",
    ".gw-suggest{display:flex;flex-wrap:wrap;gap:8px;margin-top:-4px}",
    ".gw-chip{border:1px solid #e5e7eb;border:1px solid color-mix(in srgb,var(--gw-accent) 35%,#e5e7eb);background:#fff;color:#1f2937;border-radius:999px;padding:7px 13px;font-size:13px;line-height:1.35;text-align:left;cursor:pointer;transition:background .15s,border-color .15s;max-width:100%;overflow-wrap:anywhere}",
    ".gw-chip:hover{background:color-mix(in srgb,var(--gw-accent) 8%,#fff);border-color:var(--gw-accent)}",
    ".gw-chip:focus-visible,.gw-fb:focus-visible,.gw-btn:focus-visible,.gw-retry:focus-visible,.gw-source a:focus-visible,.gw-bubble a:focus-visible{outline:2px solid var(--gw-link);outline-offset:2px}",
    // Sources and feedback under an answer.
    ".gw-sources{margin-top:8px;display:flex;flex-direction:column;gap:6px;width:100%}",
    ".gw-sources-label{font-size:11px;font-weight:600;letter-spacing:.05em;text-transform:uppercase;color:#6b7280;margin-left:2px}",
    ".gw-source{display:flex;gap:8px;align-items:flex-start;padding:8px 10px;border:1px solid #e5e7eb;border-radius:12px;background:#fff;font-size:12.5px;line-height:1.4;min-width:0}",
    ".gw-source .gw-ref{flex:none;margin-top:1px}",
    ".gw-source-text{min-width:0;flex:1}",
    ".gw-source-title{display:block;font-weight:600;color:#1f2937;overflow-wrap:anywhere}",
    ".gw-source a.gw-source-title{color:var(--gw-link);text-decoration:none}",
    ".gw-source a.gw-source-title:hover{text-decoration:underline}",
    ".gw-snippet{display:-webkit-box;-webkit-line-clamp:2;-webkit-box-orient:vertical;overflow:hidden;color:#6b7280;margin-top:2px;overflow-wrap:anywhere}",
    ".gw-actions{display:flex;align-items:center;gap:2px;margin-top:4px}",
    ".gw-fb{width:30px;height:30px;border:0;border-radius:8px;background:transparent;color:#6b7280;display:inline-flex;align-items:center;justify-content:center;cursor:pointer;transition:background .15s,color .15s}",
    ".gw-fb:hover{background:#f3f4f6;color:#374151}",
    ".gw-fb[aria-pressed=true]{color:var(--gw-link);background:color-mix(in srgb,var(--gw-accent) 12%,#fff)}",
    ".gw-fb svg{width:17px;height:17px}",
    ".gw-fb[aria-pressed=true] svg{fill:color-mix(in srgb,var(--gw-accent) 25%,transparent)}",
    ".gw-thanks{font-size:12px;color:#6b7280;margin-left:6px}",
    ".gw-failed .gw-bubble{background:#fef2f2;color:#7f1d1d;border:1px solid #fecaca}",
    ".gw-retry{align-self:flex-start;margin-top:6px;border:1px solid #fca5a5;background:#fff;color:#991b1b;border-radius:8px;padding:4px 10px;font-size:12.5px;cursor:pointer}",
    ".gw-dots{display:inline-flex;gap:4px;padding:6px 2px}",
    // The owner's preview note: why the bot cannot answer yet (never shown to visitors).
    ".gw-owner{flex:none;display:flex;gap:8px;align-items:flex-start;margin:10px 12px 0;padding:9px 12px;border-radius:12px;background:#fffbeb;color:#78350f;border:1px solid #fde68a;font-size:12.5px;line-height:1.45}",
    ".gw-owner svg{flex:none;width:16px;height:16px;margin-top:1px}",
    ".gw-owner p{margin:2px 0 0}",
    ".gw-owner strong{font-weight:600}",
    ".gw-owner a{color:#78350f;font-weight:600;text-decoration:underline;text-underline-offset:2px}",
    ".gw-owner a:focus-visible{outline:2px solid #78350f;outline-offset:2px}",
    ".gw-dots i{width:7px;height:7px;border-radius:50%;background:#9ca3af;animation:gw-bounce 1.2s infinite ease-in-out}",
    ".gw-dots i:nth-child(2){animation-delay:.15s}.gw-dots i:nth-child(3){animation-delay:.3s}",
    "@keyframes gw-bounce{0%,80%,100%{opacity:.35;transform:none}40%{opacity:1;transform:translateY(-3px)}}",
    ".gw-loading{margin:auto;display:flex;flex-direction:column;align-items:center;gap:8px;color:#6b7280;font-size:13px}",
    // A notice above the composer: offline, rate limited, an error.
    ".gw-notice{flex:none;margin:0 12px 8px;padding:9px 12px;border-radius:12px;font-size:13px;line-height:1.4;display:flex;gap:8px;align-items:flex-start;background:#eef2ff;color:#312e81}",
    ".gw-notice[data-kind=offline]{background:#fffbeb;color:#78350f;border:1px solid #fde68a}",
    ".gw-notice[data-kind=error]{background:#fef2f2;color:#7f1d1d;border:1px solid #fecaca}",
    ".gw-notice[data-kind=wait]{background:#eff6ff;color:#1e3a8a;border:1px solid #bfdbfe}",
    ".gw-notice svg{flex:none;width:17px;height:17px;margin-top:1px}",
    // A whole-panel state: this chat cannot be used here.
    ".gw-state{flex:1;display:flex;flex-direction:column;align-items:center;justify-content:center;text-align:center;gap:10px;padding:32px 28px;color:#4b5563}",
    ".gw-state-icon{width:52px;height:52px;border-radius:50%;background:#f3f4f6;color:#6b7280;display:flex;align-items:center;justify-content:center}",
    ".gw-state-icon svg{width:26px;height:26px}",
    ".gw-state-title{margin:0;font-size:16px;font-weight:600;color:#111827}",
    ".gw-state-text{margin:0;font-size:13.5px;line-height:1.55;max-width:300px;overflow-wrap:anywhere}",
    ".gw-btn{margin-top:6px;border:0;border-radius:10px;padding:8px 16px;background:var(--gw-accent);color:var(--gw-on);font-weight:600;font-size:13.5px;cursor:pointer}",
    // The composer.
    ".gw-composer{flex:none;display:flex;align-items:flex-end;gap:8px;padding:10px 12px 8px;border-top:1px solid #f1f5f9;background:#fff}",
    ".gw-input{flex:1;min-width:0;display:block;resize:none;border:1px solid #d1d5db;border-radius:14px;padding:10px 14px;font:inherit;font-size:14px;line-height:20px;height:42px;max-height:132px;color:#111827;background:#f9fafb;outline:none;transition:border-color .15s,box-shadow .15s,background .15s;margin:0}",
    ".gw-input::placeholder{color:#6b7280;opacity:1}",
    ".gw-input:focus{border-color:var(--gw-link);background:#fff;box-shadow:0 0 0 3px color-mix(in srgb,var(--gw-accent) 22%,transparent)}",
    ".gw-send{flex:none;width:42px;height:42px;border:0;border-radius:14px;background:var(--gw-accent);color:var(--gw-on);display:inline-flex;align-items:center;justify-content:center;cursor:pointer;transition:opacity .15s,transform .1s}",
    ".gw-send:active{transform:scale(.95)}",
    ".gw-send:disabled{opacity:.4;cursor:default;transform:none}",
    ".gw-send:focus-visible{outline:2px solid var(--gw-link);outline-offset:2px}",
    ".gw-send svg{width:20px;height:20px}",
    ".gw-blocked .gw-sub,.gw-blocked .gw-foot,.gw-blocked .gw-hbtn[data-gw-restart]{display:none}",
    ".gw-foot{flex:none;padding:0 12px 9px;text-align:center;font-size:11px;color:#6b7280}",
    ".gw-sr{position:absolute;width:1px;height:1px;margin:-1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}",
    ".gw svg{fill:none;stroke:currentColor;stroke-width:2;stroke-linecap:round;stroke-linejoin:round}",
    // Phones: the whole screen.
    "@media (max-width:480px){.gw-panel,.gw-left .gw-panel{inset:0;width:100%;max-width:none;height:100%;max-height:none;min-height:0;border-radius:0;border:0;transform:translateY(24px)}.gw-panel.gw-open{transform:none}.gw-is-open .gw-launcher{visibility:hidden}.gw-input{font-size:16px}.gw-msg{max-width:92%}}",
    "@media (prefers-reduced-motion:reduce){.gw-panel,.gw-panel.gw-open{transition:none;transform:none}.gw-dots i{animation:none;opacity:.7}.gw-chip,.gw-send,.gw-fb,.gw-hbtn{transition:none}}"
  ].join("");

  var ICON = {
    close: "M6 6l12 12M18 6L6 18",
    compose: "M12 20h9M16.5 3.5a2.1 2.1 0 0 1 3 3L7 19l-4 1 1-4z",
    send: "M12 19V5M5 12l7-7 7 7",
    up: "M7 10v11M15 5.9 14 10h5.8a2 2 0 0 1 1.9 2.5l-2.3 8A2 2 0 0 1 17.5 22H7a0 0 0 0 1 0 0H4a2 2 0 0 1-2-2v-8a2 2 0 0 1 2-2h3l4-8a3 3 0 0 1 3 3z",
    down: "M17 14V3M9 18.1 10 14H4.2a2 2 0 0 1-1.9-2.5l2.3-8A2 2 0 0 1 6.5 2H17h3a2 2 0 0 1 2 2v8a2 2 0 0 1-2 2h-3l-4 8a3 3 0 0 1-3-3z",
    offline: "M2 2l20 20M8.5 16.4a5 5 0 0 1 7 0M5 12.9a10 10 0 0 1 5.2-2.8M19 12.9a10 10 0 0 0-2.3-1.7M2 8.8a15 15 0 0 1 4.2-2.6M22 8.8A15 15 0 0 0 11.5 5M12 20h.01",
    alert: "M12 9v4M12 17h.01M10.3 3.9 1.8 18a2 2 0 0 0 1.7 3h17a2 2 0 0 0 1.7-3L13.7 3.9a2 2 0 0 0-3.4 0z",
    clock: "M12 22a10 10 0 1 0 0-20 10 10 0 0 0 0 20zM12 6v6l4 2",
    lock: "M5 11h14v10H5zM8 11V7a4 4 0 0 1 8 0v4",
    info: "M12 22a10 10 0 1 0 0-20 10 10 0 0 0 0 20zM12 16v-4M12 8h.01"
  };
  var WEB_URL = /^https?:\/\/[^\s]+$/i;
  var UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

  // --- small DOM helpers ------------------------------------------------------------------------------

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function button(className, label, iconName) {
    var node = el("button", className);
    node.type = "button";
    if (label) node.setAttribute("aria-label", label);
    if (iconName) node.appendChild(svg(iconName));
    return node;
  }

  function svg(name) {
    var ns = "http://www.w3.org/2000/svg";
    var root = document.createElementNS(ns, "svg");
    var path = document.createElementNS(ns, "path");
    root.setAttribute("viewBox", "0 0 24 24");
    root.setAttribute("aria-hidden", "true");
    root.setAttribute("focusable", "false");
    path.setAttribute("d", ICON[name]);
    root.appendChild(path);
    return root;
  }

  /** An http(s) URL as a safe href, or null: only these become links. */
  function webUrl(text) {
    if (typeof text !== "string" || !WEB_URL.test(text.trim())) return null;
    try {
      var url = new URL(text.trim());
      return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
    } catch (e) {
      return null;
    }
  }

  function link(href, className) {
    var node = el("a", className);
    node.href = href;
    node.target = "_blank";
    node.rel = "noopener noreferrer nofollow ugc";
    return node;
  }

  // --- the Markdown subset ----------------------------------------------------------------------------
  // Paragraphs, line breaks, **strong**, *em*, ~~strike~~, `code`, fenced code, bullet and numbered
  // lists, headings (as bold lines), quotes, rules, [links](https://...), bare https:// links and [1]
  // citation marks. Everything else, HTML included, stays text. Built with elements and text nodes.

  var FENCE = /^\s{0,3}(```|~~~)/;
  var BULLET = /^\s*[-*+]\s+(.*)$/;
  var NUMBERED = /^\s*(\d{1,9})[.)]\s+(.*)$/;
  var HEADING = /^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$/;
  var QUOTE = /^\s{0,3}>\s?(.*)$/;
  var RULE = /^\s{0,3}([-*_])(\s*\1){2,}\s*$/;

  function markdown(text) {
    var out = document.createDocumentFragment();
    var lines = String(text).replace(/\r\n?/g, "\n").split("\n");
    var i = 0;
    var paragraph = [];
    var list = null;

    function flushParagraph() {
      if (!paragraph.length) return;
      var p = el("p");
      paragraph.forEach(function (line, index) {
        if (index) p.appendChild(el("br"));
        inline(p, line, false);
      });
      out.appendChild(p);
      paragraph = [];
    }
    function closeList() {
      list = null;
    }

    while (i < lines.length) {
      var line = lines[i];
      var match;
      if (FENCE.test(line)) {
        flushParagraph();
        closeList();
        var fence = FENCE.exec(line)[1];
        var code = [];
        i++;
        while (i < lines.length && lines[i].trim().indexOf(fence) !== 0) code.push(lines[i++]);
        i++; // the closing fence (an unclosed one runs to the end, as while streaming)
        var pre = el("pre");
        pre.appendChild(el("code", null, code.join("\n")));
        out.appendChild(pre);
        continue;
      }
      if (!line.trim()) {
        flushParagraph();
        closeList();
      } else if ((match = BULLET.exec(line)) || (match = NUMBERED.exec(line))) {
        flushParagraph();
        var ordered = match.length === 3;
        var kind = ordered ? "OL" : "UL";
        if (!list || list.nodeName !== kind) {
          list = el(kind.toLowerCase());
          if (ordered && match[1] !== "1") list.setAttribute("start", String(parseInt(match[1], 10)));
          out.appendChild(list);
        }
        var item = el("li");
        inline(item, ordered ? match[2] : match[1], false);
        list.appendChild(item);
      } else if (list && /^\s+\S/.test(line)) {
        // An indented line continues the list item above.
        var last = list.lastChild;
        last.appendChild(el("br"));
        inline(last, line.trim(), false);
      } else if ((match = HEADING.exec(line))) {
        flushParagraph();
        closeList();
        var heading = el("p", "gw-h");
        inline(heading, match[1], false);
        out.appendChild(heading);
      } else if (RULE.test(line) && !paragraph.length) {
        closeList();
        out.appendChild(el("hr"));
      } else if ((match = QUOTE.exec(line))) {
        flushParagraph();
        closeList();
        var quote = el("blockquote");
        var quoted = [match[1]];
        while (i + 1 < lines.length && QUOTE.test(lines[i + 1])) quoted.push(QUOTE.exec(lines[++i])[1]);
        quote.appendChild(markdown(quoted.join("\n")));
        out.appendChild(quote);
      } else {
        closeList();
        paragraph.push(line);
      }
      i++;
    }
    flushParagraph();
    return out;
  }

  // A link's destination (one level of parentheses allowed, as in Wikipedia's URLs) and optional title.
  var DESTINATION = "((?:[^()\\s]|\\([^()\\s]*\\))+)";
  var TITLE = "(?:\\s+(?:\"[^\"]*\"|'[^']*'))?";

  // One alternation, tried left to right at each position: code, image, link, strong, em, strike,
  // a citation mark, a bare URL.
  var INLINE = new RegExp(
    [
      "(`+)([^`]|[^`][\\s\\S]*?[^`])\\1(?!`)", // 1,2 code
      "!\\[([^\\]\\n]*)\\]\\(" + DESTINATION + "?" + TITLE + "\\)", // 3,4 image: its alt text only
      "\\[([^\\]\\n]+)\\]\\(" + DESTINATION + TITLE + "\\)", // 5,6 link
      "\\*\\*(?=\\S)([\\s\\S]*?\\S)\\*\\*", // 7 strong
      "__(?=\\S)([\\s\\S]*?\\S)__(?!\\w)", // 8 strong
      "\\*(?=[^\\s*])([\\s\\S]*?[^\\s*])\\*(?!\\*)", // 9 em
      "~~(?=\\S)([\\s\\S]*?\\S)~~", // 10 strike
      "\\[(\\d{1,3})\\]", // 11 citation mark
      "(https?:\\/\\/[^\\s<>\"'`]*[^\\s<>\"'`.,;:!?)\\]}])" // 12 bare URL
    ].join("|"),
    "g"
  );

  function inline(parent, text, inLink) {
    var pattern = new RegExp(INLINE.source, "g"); // a fresh one: this function recurses
    var at = 0;
    var match;
    while ((match = pattern.exec(text))) {
      if (match.index > at) parent.appendChild(document.createTextNode(text.slice(at, match.index)));
      at = pattern.lastIndex;
      var node = document.createTextNode(match[0]);
      var href;
      if (match[2] !== undefined) {
        node = el("code", null, match[2]);
      } else if (match[3] !== undefined) {
        // Never an <img>: no remote image is loaded, the alt text stands in for it.
        node = el("span", "gw-img", "[Image" + (match[3] ? ": " + match[3] : "") + "]");
      } else if (match[6] !== undefined) {
        href = inLink ? null : webUrl(match[6]);
        if (href) {
          node = link(href);
          inline(node, match[5], true);
        } // else javascript:, data:, relative...: the text as written
      } else if (match[7] !== undefined || match[8] !== undefined) {
        node = el("strong");
        inline(node, match[7] !== undefined ? match[7] : match[8], inLink);
      } else if (match[9] !== undefined) {
        node = el("em");
        inline(node, match[9], inLink);
      } else if (match[10] !== undefined) {
        node = el("s");
        inline(node, match[10], inLink);
      } else if (match[11] !== undefined) {
        node = el("span", "gw-ref", match[11]);
        node.setAttribute("aria-label", "source " + match[11]);
      } else if (match[12] !== undefined) {
        href = inLink ? null : webUrl(match[12]);
        if (href) {
          node = link(href);
          node.textContent = match[12];
        }
      }
      parent.appendChild(node);
    }
    if (at < text.length) parent.appendChild(document.createTextNode(text.slice(at)));
  }

  /** The accent, darkened until it reads as text on white (WCAG AA, 4.5:1): links and pressed buttons. */
  function legible(hex) {
    var n = parseInt(hex.slice(1), 16);
    for (var f = 1; f > 0; f -= 0.05) {
      var rgb = [(n >> 16) & 255, (n >> 8) & 255, n & 255].map(function (c) {
        return Math.round(c * f);
      });
      var color = "#" + rgb.map(function (c) {
        return (256 + c).toString(16).slice(1);
      }).join("");
      if (contrastOnWhite(color) >= 4.5) return color;
    }
    return "#111827";
  }

  function contrastOnWhite(hex) {
    var n = parseInt(hex.slice(1), 16);
    var luminance = 0;
    [[16, 0.2126], [8, 0.7152], [0, 0.0722]].forEach(function (part) {
      var c = ((n >> part[0]) & 255) / 255;
      luminance += part[1] * (c <= 0.03928 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4));
    });
    return 1.05 / (luminance + 0.05);
  }

  // --- storage: the visitor and their conversation, per bot, on this site ------------------------------

  function storage(key) {
    var name = "groundwork:" + key;
    var memory = {};
    function read() {
      try {
        var value = JSON.parse(window.localStorage.getItem(name) || "{}");
        return value && typeof value === "object" ? value : {};
      } catch (e) {
        return memory; // storage blocked: remember for this page only
      }
    }
    return {
      get: function (field) {
        var value = read()[field];
        return typeof value === "string" ? value : "";
      },
      set: function (field, value) {
        var all = read();
        if (value) all[field] = value;
        else delete all[field];
        memory = all;
        try {
          window.localStorage.setItem(name, JSON.stringify(all));
        } catch (e) {
          /* storage blocked or full: memory only */
        }
      }
    };
  }

  // --- the panel ----------------------------------------------------------------------------------------

  function mount(ctx) {
    ctx.addStyles(CSS);
    var store = storage(ctx.key);
    var token = "";
    var tokenUntil = 0;
    var sessionPromise = null;
    var isOpen = false;
    var started = false; // the first open has set things up
    var busy = false; // a question is being answered
    var blocked = false; // a whole-panel state: this chat cannot be used here
    var waitTimer = null;
    var waitUntil = 0;
    var focusWanted = false; // opened by the visitor: the keyboard belongs in the panel

    // Build.
    var panel = el("div", "gw-panel");
    panel.id = "gw-panel";
    panel.setAttribute("role", "dialog");
    panel.setAttribute("aria-modal", "false");
    var head = el("div", "gw-head");
    var avatar = el("div", "gw-avatar");
    avatar.setAttribute("aria-hidden", "true");
    var titles = el("div", "gw-titles");
    var title = el("div", "gw-title");
    var subtitle = el("div", "gw-sub", "AI assistant");
    titles.appendChild(title);
    titles.appendChild(subtitle);
    var restart = button("gw-hbtn", "New conversation", "compose");
    restart.title = "New conversation";
    restart.setAttribute("data-gw-restart", "");
    var closer = button("gw-hbtn", "Close chat", "close");
    closer.title = "Close";
    head.appendChild(avatar);
    head.appendChild(titles);
    head.appendChild(restart);
    head.appendChild(closer);

    var body = el("div", "gw-body");
    var log = el("div", "gw-log");
    log.setAttribute("role", "log");
    log.setAttribute("aria-live", "polite");
    log.setAttribute("aria-label", "Conversation");
    var state = el("div", "gw-state");
    state.hidden = true;
    body.appendChild(log);
    body.appendChild(state);

    var notice = el("div", "gw-notice");
    notice.setAttribute("role", "status");
    notice.hidden = true;

    var form = el("form", "gw-composer");
    form.setAttribute("novalidate", "");
    var input = el("textarea", "gw-input");
    input.rows = 1;
    input.maxLength = 4000;
    input.placeholder = "Ask a question…";
    input.setAttribute("aria-label", "Your message");
    input.setAttribute("enterkeyhint", "send");
    var send = button("gw-send", "Send", "send");
    send.type = "submit";
    form.appendChild(input);
    form.appendChild(send);
    var foot = el("div", "gw-foot", "AI-generated answers can be inaccurate.");

    panel.appendChild(head);
    panel.appendChild(body);
    panel.appendChild(notice);
    panel.appendChild(form);
    panel.appendChild(foot);
    ctx.wrap.insertBefore(panel, ctx.launcher);

    // Behaviour.
    closer.addEventListener("click", function () {
      close(true);
    });
    restart.addEventListener("click", function () {
      if (busy) return;
      store.set("conversation", "");
      showConversation([]);
      focusInput();
    });
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      ask(input.value);
    });
    input.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        ask(input.value);
      }
    });
    input.addEventListener("input", function () {
      grow();
      updateSend();
    });
    ctx.wrap.addEventListener("keydown", function (event) {
      if (event.key === "Escape" && isOpen) {
        event.stopPropagation();
        close(true);
      }
    });
    window.addEventListener("offline", function () {
      showNotice("offline", "You're offline. Check your connection, then try again.");
    });
    window.addEventListener("online", function () {
      if (notice.getAttribute("data-kind") === "offline") hideNotice();
      if (blocked === "network" && isOpen) setup();
    });

    function grow() {
      input.style.height = "auto";
      input.style.height = Math.min(input.scrollHeight + 2, 132) + "px";
    }
    function updateSend() {
      send.disabled = busy || !!blocked || !input.value.trim() || Date.now() < waitUntil;
    }
    function focusInput() {
      try {
        (form.hidden ? closer : input).focus({ preventScroll: true });
      } catch (e) {
        /* focus is a nicety */
      }
    }

    function repaint() {
      var config = ctx.config || {};
      ctx.wrap.style.setProperty("--gw-link", legible(ctx.color || "#475569"));
      title.textContent = ctx.title;
      panel.setAttribute("aria-label", ctx.title);
      // The bot's avatar: an emoji or up to two letters (at most 8 characters, checked by the server).
      var mark = String(config.avatar || "").trim().slice(0, 8);
      avatar.textContent = mark || Array.from(ctx.title.trim())[0] || "?";
      input.setAttribute("aria-label", "Message " + ctx.title);
    }

    function open(focus) {
      isOpen = true;
      // Read a layout value first: a panel inserted in this same task would otherwise skip its closed
      // style, and the first open would not fade in like every later one.
      void panel.offsetWidth;
      panel.classList.add("gw-open");
      ctx.launcher.setAttribute("aria-expanded", "true");
      ctx.paint();
      if (!started) {
        started = true;
        setup();
      }
      focusWanted = !!focus;
      if (focus) focusInput();
      scrollDown(true);
    }

    function close(returnFocus) {
      if (!isOpen) return;
      var inside = ctx.root.activeElement && panel.contains(ctx.root.activeElement);
      isOpen = false;
      panel.classList.remove("gw-open");
      ctx.launcher.setAttribute("aria-expanded", "false");
      ctx.paint();
      if (returnFocus || inside) ctx.launcher.focus();
    }

    // --- talking to Groundwork ---------------------------------------------------------------------

    /** A fetch to this bot's API; a refusal or failure is thrown as a problem {status, title, detail, kind}. */
    function request(method, path, payload, auth) {
      var headers = ctx.headers({});
      if (payload) headers["Content-Type"] = "application/json";
      if (auth) headers.Authorization = "Bearer " + auth;
      return fetch(ctx.api + path, {
        method: method,
        headers: headers,
        body: payload ? JSON.stringify(payload) : undefined,
        credentials: "omit",
        cache: "no-store"
      }).then(
        function (response) {
          if (response.ok) return response;
          return response
            .json()
            .catch(function () {
              return {};
            })
            .then(function (problem) {
              throw problemOf(response, problem);
            });
        },
        function () {
          return whyUnreachable().then(function (problem) {
            throw problem;
          });
        }
      );
    }

    function problemOf(response, body) {
      body = body && typeof body === "object" ? body : {};
      var retryAfter = parseInt(response.headers.get("Retry-After") || "", 10);
      return {
        kind: "http",
        status: response.status,
        title: typeof body.title === "string" ? body.title : "",
        detail: typeof body.detail === "string" ? body.detail : "",
        retryAfter: retryAfter > 0 ? retryAfter : 0
      };
    }

    /** fetch() failed without a response: offline, the server down, or this website refused. A refused
     * origin gets a 403 without CORS headers, which a browser reports exactly like a network failure;
     * so probe the server: an opaque answer from /healthz means it is up, and the refusal was the origin. */
    function whyUnreachable() {
      if (navigator.onLine === false) return Promise.resolve({ kind: "offline" });
      return fetch(ctx.base + "/healthz", { mode: "no-cors", cache: "no-store", credentials: "omit" }).then(
        function () {
          return { kind: "origin" };
        },
        function () {
          return { kind: navigator.onLine === false ? "offline" : "down" };
        }
      );
    }

    function session(renew) {
      if (!renew && token && Date.now() < tokenUntil) return Promise.resolve(token);
      if (sessionPromise) return sessionPromise;
      var payload = {};
      var visitor = store.get("visitor");
      if (visitor) payload.visitor_id = visitor;
      if (ctx.identity) {
        payload.user_id = ctx.identity.userId;
        payload.user_hash = ctx.identity.userHash;
      }
      sessionPromise = request("POST", "/sessions", payload)
        .then(function (response) {
          return response.json();
        })
        .then(
          function (data) {
            sessionPromise = null;
            token = String(data.token || "");
            tokenUntil = Date.now() + Math.max(60, (data.expires_in || 3600) - 60) * 1000;
            if (data.visitor_id && !data.identified) store.set("visitor", String(data.visitor_id));
            return token;
          },
          function (problem) {
            sessionPromise = null;
            throw problem;
          }
        );
      return sessionPromise;
    }

    /** A request with the visitor's token; an expired or unknown token is renewed once. */
    function authorized(method, path, payload) {
      return session(false).then(function (current) {
        return request(method, path, payload, current).catch(function (problem) {
          if (problem.status !== 401) throw problem;
          return session(true).then(function (renewed) {
            return request(method, path, payload, renewed);
          });
        });
      });
    }

    /** Who the visitor is changed (Groundwork.identify): a new session; another person's conversation
     * on this browser is not theirs to continue. */
    function identify() {
      token = "";
      tokenUntil = 0;
      if (sameVisitor() || !started || busy) return;
      showConversation([]);
    }

    function sameVisitor() {
      var who = ctx.identity ? ctx.identity.userId : "";
      if (store.get("user") === who) return true;
      store.set("user", who);
      store.set("conversation", "");
      return false;
    }

    // --- setting up on first open ----------------------------------------------------------------

    function setup() {
      blocked = false;
      panel.classList.remove("gw-blocked");
      state.hidden = true;
      log.hidden = false;
      form.hidden = false;
      loading("Loading…");
      var configured = ctx.config ? Promise.resolve() : ctx.loadConfig();
      configured
        .then(function () {
          if (!ctx.config) {
            var failure = ctx.failure || { network: true };
            var check = failure.network
              ? whyUnreachable()
              : Promise.resolve({ kind: "http", status: failure.status, title: failure.title, detail: failure.detail });
            return check.then(function (problem) {
              if (!refuse(problem)) block("alert", "Chat is unavailable", describe(problem), "network");
            });
          }
          sameVisitor();
          var conversation = store.get("conversation");
          if (!UUID.test(conversation)) return showConversation([]);
          return authorized("GET", "/conversations/" + conversation)
            .then(function (response) {
              return response.json();
            })
            .then(
              function (data) {
                showConversation(Array.isArray(data.messages) ? data.messages : []);
              },
              function (problem) {
                if (problem.status === 404) {
                  store.set("conversation", ""); // gone, or not this visitor's: start afresh
                  return showConversation([]);
                }
                if (!refuse(problem)) {
                  showConversation([]);
                  showProblem(problem);
                }
              }
            );
        })
        .catch(function (error) {
          showConversation([]);
          showProblem(error);
        });
    }

    /** Whole-panel states: the chat cannot be used on this page. True when the problem was one. */
    function refuse(problem) {
      var origin = window.location.origin;
      if (problem.kind === "origin") {
        block(
          "lock",
          "Chat isn't available here",
          "This chat isn't enabled on this website (" + origin + "). If you own this site, add it to the bot's allowed origins in Groundwork, and check the key in the snippet.",
          false
        );
      } else if (problem.kind === "offline") {
        block("offline", "You're offline", "Check your internet connection, then try again.", "network");
      } else if (problem.kind === "down") {
        block("alert", "Chat is unavailable", "We can't reach the chat service right now. Please try again in a moment.", "network");
      } else if (problem.status === 403 && !ctx.config) {
        // The configuration was refused: the bot is not published (the server says so in its words).
        block("info", "This chat isn't available yet", problem.detail || "This assistant is not published yet.", false);
      } else if (problem.status === 404 && !ctx.config) {
        block("info", "This chat isn't available", problem.detail || "No assistant has this key.", false);
      } else {
        return false;
      }
      return true;
    }

    function block(iconName, heading, text, retry) {
      blocked = retry || "refused";
      panel.classList.add("gw-blocked");
      log.hidden = true;
      form.hidden = true;
      hideNotice();
      state.textContent = "";
      var badge = el("div", "gw-state-icon");
      badge.appendChild(svg(iconName));
      state.appendChild(badge);
      state.appendChild(el("p", "gw-state-title", heading));
      state.appendChild(el("p", "gw-state-text", text));
      if (retry) {
        var again = el("button", "gw-btn", "Try again");
        again.type = "button";
        again.addEventListener("click", function () {
          ctx.config = null;
          setup();
        });
        state.appendChild(again);
      }
      state.setAttribute("role", "alert");
      state.hidden = false;
      updateSend();
      // The message box is gone; keep the keyboard in the panel if it was there.
      var active = ctx.root.activeElement;
      if (isOpen && focusWanted && (!active || !panel.contains(active) || form.contains(active))) closer.focus();
    }

    function loading(text) {
      log.textContent = "";
      var box = el("div", "gw-loading");
      box.appendChild(dots());
      box.appendChild(el("span", null, text));
      log.appendChild(box);
    }

    function dots() {
      var node = el("span", "gw-dots");
      node.setAttribute("aria-label", "Typing");
      node.appendChild(el("i"));
      node.appendChild(el("i"));
      node.appendChild(el("i"));
      return node;
    }

    // --- the conversation ------------------------------------------------------------------------

    function showConversation(messages) {
      var config = ctx.config || {};
      log.textContent = "";
      log.hidden = false;
      state.hidden = true;
      form.hidden = false;
      if (config.greeting) {
        var greeting = el("div", "gw-msg gw-bot gw-greeting");
        var bubble = el("div", "gw-bubble");
        bubble.appendChild(markdown(config.greeting));
        greeting.appendChild(bubble);
        log.appendChild(greeting);
      }
      if (!messages.length) {
        var questions = Array.isArray(config.suggested_questions) ? config.suggested_questions : [];
        if (questions.length) {
          var chips = el("div", "gw-suggest");
          chips.setAttribute("data-gw-suggestions", "");
          questions.forEach(function (question) {
            var chip = el("button", "gw-chip", String(question));
            chip.type = "button";
            chip.addEventListener("click", function () {
              ask(String(question));
            });
            chips.appendChild(chip);
          });
          log.appendChild(chips);
        }
      }
      // A turn that failed or was cut off (the page closed mid-answer, the server stopped) says so after a
      // reload, and offers to ask again, instead of looking like a finished answer or a question left
      // without one.
      var asked = null; // the last question not answered yet: {node, text}
      messages.forEach(function (message) {
        if (!message || typeof message.content !== "string") return;
        if (message.role === "user") {
          if (asked) restoreFailed(asked, null);
          asked = { node: addUser(message.content), text: message.content };
        } else if (message.outcome === "error" || message.outcome === "cancelled") {
          restoreFailed(asked, message);
          asked = null;
        } else {
          asked = null;
          var answer = addAnswer();
          answer.finish({
            answer: message.content,
            citations: message.citations,
            message_id: message.id,
            outcome: message.outcome,
            rating: message.rating
          });
        }
      });
      if (asked) restoreFailed(asked, null);
      ownerNotice();
      updateSend();
      scrollDown(true);
    }

    /** A stored turn that did not end with an answer: what happened, and "Try again" that re-asks. */
    function restoreFailed(asked, message) {
      var answer = addAnswer();
      answer.node.setAttribute("data-gw-restored", "");
      if (message && message.content) answer.partial(message.content);
      var kind = message && message.outcome === "error" ? "failed" : "interrupted";
      answer.fail({ kind: kind }, asked ? function () {
        asked.node.remove();
        ask(asked.text);
      } : null);
    }

    /** The owner's preview only (the server sends owner_notice for a preview token, never to visitors):
     * why the bot's model cannot answer, with the one fix, which brings the owner back to this page. */
    function ownerNotice() {
      var old = panel.querySelector("[data-gw-owner-notice]");
      if (old) old.remove();
      var info = (ctx.config || {}).owner_notice;
      if (!info || typeof info.problem !== "string" || !info.problem) return;
      var box = el("div", "gw-owner");
      box.setAttribute("data-gw-owner-notice", "");
      box.appendChild(svg("info"));
      var body = el("div", "gw-owner-text");
      body.appendChild(el("strong", null, "Only you see this (preview)"));
      var problem = el("p", null, info.problem + " ");
      problem.setAttribute("data-model-problem", "");
      var fix = typeof info.fix_url === "string" && info.fix_url.charAt(0) === "/" && info.fix_url.charAt(1) !== "/"
        ? info.fix_url
        : "";
      if (fix && info.fix_label) {
        var parts = fix.split("#");
        var back = window.location.origin === ctx.base ? window.location.pathname + window.location.search : "";
        var href = ctx.base + parts[0] + (back ? (parts[0].indexOf("?") < 0 ? "?" : "&") + "next=" + encodeURIComponent(back) : "");
        var anchor = el("a", null, String(info.fix_label));
        anchor.href = href + (parts.length > 1 ? "#" + parts.slice(1).join("#") : "");
        anchor.setAttribute("data-model-fix", "");
        problem.appendChild(anchor);
      }
      body.appendChild(problem);
      box.appendChild(body);
      log.parentNode.insertBefore(box, log);
    }

    function nearBottom() {
      return log.scrollHeight - log.scrollTop - log.clientHeight < 80;
    }
    function scrollDown(force) {
      if (force || nearBottom()) log.scrollTop = log.scrollHeight;
    }

    function addUser(text) {
      var message = el("div", "gw-msg gw-user");
      message.setAttribute("data-gw-role", "user");
      message.appendChild(el("div", "gw-bubble", text));
      log.appendChild(message);
      scrollDown(true);
      return message;
    }

    /** An answer's view: streamed into, then finished with its sources and feedback buttons. */
    function addAnswer() {
      var message = el("div", "gw-msg gw-bot");
      message.setAttribute("data-gw-role", "assistant");
      message.setAttribute("data-gw-state", "waiting");
      var bubble = el("div", "gw-bubble");
      bubble.appendChild(dots());
      message.appendChild(bubble);
      log.appendChild(message);
      scrollDown(true);
      var text = "";
      var tokens = 0;
      var citations = [];

      function render() {
        var stick = nearBottom();
        bubble.textContent = "";
        bubble.appendChild(markdown(text));
        if (stick) scrollDown(true);
      }

      return {
        node: message,
        partial: function (value) {
          text = String(value);
        },
        start: function () {
          message.setAttribute("data-gw-state", "streaming");
          log.setAttribute("aria-busy", "true");
        },
        sources: function (list) {
          citations = Array.isArray(list) ? list : [];
        },
        token: function (piece) {
          text += String(piece);
          tokens++;
          message.setAttribute("data-gw-state", "streaming");
          message.setAttribute("data-gw-tokens", String(tokens));
          render();
        },
        finish: function (done) {
          log.removeAttribute("aria-busy");
          text = typeof done.answer === "string" ? done.answer : text;
          render();
          if (!text.trim()) {
            bubble.appendChild(el("p", "gw-img", done.outcome === "cancelled" ? "(Stopped.)" : "(No answer.)"));
          }
          message.setAttribute("data-gw-state", "done");
          if (done.outcome) message.setAttribute("data-gw-outcome", String(done.outcome));
          sourcesView(message, Array.isArray(done.citations) ? done.citations : citations);
          if (text.trim() && typeof done.message_id === "string" && UUID.test(done.message_id)) {
            message.setAttribute("data-gw-message", done.message_id);
            feedbackView(message, done.message_id, done.rating);
          }
          scrollDown(false);
        },
        fail: function (problem, retry) {
          log.removeAttribute("aria-busy");
          message.classList.add("gw-failed");
          message.setAttribute("data-gw-state", "error");
          bubble.textContent = "";
          if (text) {
            bubble.appendChild(markdown(text));
            bubble.appendChild(el("p", null, "— " + describe(problem)));
          } else {
            bubble.appendChild(el("p", null, describe(problem)));
          }
          if (retry) {
            var again = el("button", "gw-retry", "Try again");
            again.type = "button";
            again.addEventListener("click", function () {
              message.remove();
              retry();
            });
            message.appendChild(again);
          }
          scrollDown(true);
        }
      };
    }

    function sourcesView(message, citations) {
      var seen = {};
      var items = citations.filter(function (citation) {
        if (!citation || typeof citation !== "object") return false;
        var id = String(citation.number) + "|" + String(citation.title);
        if (seen[id]) return false;
        seen[id] = true;
        return true;
      });
      if (!items.length) return;
      var box = el("div", "gw-sources");
      box.setAttribute("data-gw-sources", "");
      box.appendChild(el("div", "gw-sources-label", items.length === 1 ? "Source" : "Sources"));
      items.forEach(function (citation) {
        var row = el("div", "gw-source");
        if (citation.number !== undefined && citation.number !== null) {
          row.appendChild(el("span", "gw-ref", String(citation.number)));
        }
        var textBox = el("div", "gw-source-text");
        var name = String(citation.title || citation.source || "Source");
        if (citation.page_number) name += " · page " + String(citation.page_number);
        var href = webUrl(citation.source);
        var heading;
        if (href) {
          heading = link(href, "gw-source-title");
          heading.textContent = name;
        } else {
          heading = el("span", "gw-source-title", name);
        }
        textBox.appendChild(heading);
        if (citation.snippet) textBox.appendChild(el("span", "gw-snippet", String(citation.snippet)));
        row.appendChild(textBox);
        box.appendChild(row);
      });
      message.appendChild(box);
    }

    function feedbackView(message, messageId, rating) {
      var bar = el("div", "gw-actions");
      var up = button("gw-fb", "Helpful", "up");
      var down = button("gw-fb", "Not helpful", "down");
      var thanks = el("span", "gw-thanks");
      thanks.setAttribute("aria-live", "polite");
      function show(value) {
        up.setAttribute("aria-pressed", String(value === 1));
        down.setAttribute("aria-pressed", String(value === -1));
      }
      function rate(value) {
        var before = up.getAttribute("aria-pressed") === "true" ? 1 : down.getAttribute("aria-pressed") === "true" ? -1 : null;
        if (before === value) return;
        show(value);
        thanks.textContent = "";
        authorized("POST", "/messages/" + messageId + "/feedback", { rating: value }).then(
          function () {
            thanks.textContent = "Thanks for the feedback";
          },
          function (problem) {
            show(before);
            showProblem(problem);
          }
        );
      }
      up.addEventListener("click", function () {
        rate(1);
      });
      down.addEventListener("click", function () {
        rate(-1);
      });
      show(rating === 1 || rating === -1 ? rating : null);
      bar.appendChild(up);
      bar.appendChild(down);
      bar.appendChild(thanks);
      message.appendChild(bar);
    }

    // --- asking ----------------------------------------------------------------------------------

    function ask(raw) {
      var text = String(raw || "").trim();
      if (!text || busy || blocked || Date.now() < waitUntil) return;
      if (navigator.onLine === false) {
        showNotice("offline", "You're offline. Check your connection, then send your message again.");
        return;
      }
      var chips = log.querySelector("[data-gw-suggestions]");
      if (chips) chips.remove();
      input.value = "";
      grow();
      if (notice.getAttribute("data-kind") !== "wait") hideNotice();
      busy = true;
      updateSend();
      var question = addUser(text);
      var answer = addAnswer();
      converse(text, question, answer, false).then(function () {
        busy = false;
        updateSend();
      });
    }

    function converse(text, question, answer, retried) {
      var payload = { message: text };
      var conversation = store.get("conversation");
      if (UUID.test(conversation)) payload.conversation_id = conversation;
      var streaming = false;
      var ended = false; // done or error arrived
      function again() {
        question.remove();
        ask(text);
      }
      return authorized("POST", "/chat", payload)
        .then(function (response) {
          streaming = true;
          answer.start();
          return readEvents(response, function (event, data) {
            if (event === "start" && data.conversation_id) {
              store.set("conversation", String(data.conversation_id));
            } else if (event === "sources") {
              answer.sources(data.citations);
            } else if (event === "token") {
              answer.token(data.text || "");
            } else if (event === "done") {
              ended = true;
              if (data.conversation_id) store.set("conversation", String(data.conversation_id));
              answer.finish(data);
            } else if (event === "error") {
              ended = true;
              answer.fail({ kind: "http", status: data.status, title: data.title, detail: data.detail }, again);
            }
          });
        })
        .then(function () {
          if (!ended) answer.fail({ kind: "cut" }, again);
        })
        .catch(function (problem) {
          problem = problem && problem.kind ? problem : { kind: "cut" };
          if (ended) return;
          if (problem.status === 404 && payload.conversation_id && !retried) {
            // The conversation is gone (or no longer this visitor's): continue in a new one.
            store.set("conversation", "");
            return converse(text, question, answer, true);
          }
          if (streaming || (problem.kind === "http" && problem.status >= 500)) {
            return answer.fail(problem, again);
          }
          // Not sent: the message goes back into the box, and the notice says why.
          question.remove();
          answer.node.remove();
          log.removeAttribute("aria-busy");
          if (!input.value) {
            input.value = text;
            grow();
          }
          if (!(problem.kind === "origin" || problem.kind === "down") || !refuse(problem)) showProblem(problem);
        });
    }

    /** Reads server-sent events from a fetch response body as they arrive. */
    function readEvents(response, onEvent) {
      if (!response.body || !response.body.getReader) {
        return response.text().then(function (all) {
          all.replace(/\r\n?/g, "\n").split("\n\n").forEach(function (block) {
            dispatch(block, onEvent);
          });
        });
      }
      var reader = response.body.getReader();
      var decoder = new TextDecoder();
      var buffer = "";
      function pump() {
        return reader.read().then(function (chunk) {
          if (chunk.done) {
            buffer += decoder.decode();
            if (buffer.trim()) dispatch(buffer.replace(/\r\n?/g, "\n"), onEvent);
            return;
          }
          buffer += decoder.decode(chunk.value, { stream: true });
          buffer = buffer.replace(/\r\n?/g, "\n");
          var end;
          while ((end = buffer.indexOf("\n\n")) >= 0) {
            var block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            dispatch(block, onEvent);
          }
          return pump();
        });
      }
      return pump().catch(function () {
        return whyUnreachable().then(function (problem) {
          if (problem.kind === "origin") problem = { kind: "cut" }; // the server is up: the stream broke
          throw problem;
        });
      });
    }

    function dispatch(block, onEvent) {
      var event = "message";
      var data = [];
      block.split("\n").forEach(function (line) {
        if (!line || line.charAt(0) === ":") return;
        var colon = line.indexOf(":");
        var field = colon < 0 ? line : line.slice(0, colon);
        var value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
        if (field === "event") event = value;
        else if (field === "data") data.push(value);
      });
      if (!data.length) return;
      var parsed;
      try {
        parsed = JSON.parse(data.join("\n"));
      } catch (e) {
        return;
      }
      if (parsed && typeof parsed === "object") onEvent(event, parsed);
    }

    // --- notices ---------------------------------------------------------------------------------

    function describe(problem) {
      if (!problem || !problem.kind) return "Something went wrong. Please try again.";
      if (problem.kind === "offline") return "You're offline. Check your connection and try again.";
      if (problem.kind === "down") return "We can't reach the chat service right now. Please try again in a moment.";
      if (problem.kind === "cut") return "The answer was interrupted. Please try again.";
      if (problem.kind === "interrupted") return "This answer was interrupted before it was complete.";
      if (problem.kind === "failed") return "Something went wrong while answering this question.";
      if (problem.kind === "origin") return "This chat isn't enabled on this website (" + window.location.origin + ").";
      return problem.detail || problem.title || "Something went wrong (error " + problem.status + "). Please try again.";
    }

    function showProblem(problem) {
      if (problem && problem.status === 429 && problem.retryAfter) {
        rateLimited(problem.retryAfter);
      } else if (problem && problem.kind === "offline") {
        showNotice("offline", describe(problem));
      } else {
        showNotice("error", describe(problem));
      }
    }

    function rateLimited(seconds) {
      waitUntil = Date.now() + seconds * 1000;
      clearInterval(waitTimer);
      function tick() {
        var left = Math.ceil((waitUntil - Date.now()) / 1000);
        if (left <= 0) {
          clearInterval(waitTimer);
          waitUntil = 0;
          hideNotice();
          updateSend();
          return;
        }
        var text = "You're sending messages too quickly — try again in " + left + (left === 1 ? " second." : " seconds.");
        if (notice.getAttribute("data-kind") === "wait") notice.lastChild.textContent = text;
        else showNotice("wait", text);
      }
      tick();
      waitTimer = setInterval(tick, 1000);
      updateSend();
    }

    function showNotice(kind, text) {
      notice.textContent = "";
      notice.setAttribute("data-kind", kind);
      notice.appendChild(svg(kind === "offline" ? "offline" : kind === "wait" ? "clock" : "alert"));
      notice.appendChild(el("span", null, text));
      notice.hidden = false;
    }

    function hideNotice() {
      notice.hidden = true;
      notice.removeAttribute("data-kind");
      notice.textContent = "";
    }

    repaint();
    updateSend();
    if (navigator.onLine === false) showNotice("offline", "You're offline. Check your connection.");

    return {
      open: open,
      close: close,
      isOpen: function () {
        return isOpen;
      },
      identify: identify,
      repaint: repaint
    };
  }

  window.__groundworkPanel = mount;
  // The same Markdown subset for the dashboard's playground (static/js/bots.js), so an answer reads
  // alike in both: one renderer, not two copies.
  window.__groundworkMarkdown = markdown;
})(window, document);
