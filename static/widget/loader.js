/*! Groundwork chat widget loader: <script src="https://HOST/widget.js" data-bot="KEY" async></script>
 * The launcher in a Shadow DOM, styled from the bot's public config; the panel (panel.js) loads on first
 * open. Runs on pages we do not control: it must never throw into them. Budget: 4 KB gzipped. */
(function (win, doc) {
  "use strict";
  var old = win.Groundwork;
  if (old && old.version) return; // the snippet pasted twice
  var PANEL = "__GROUNDWORK_PANEL_PATH__";
  var NEUTRAL = "#475569";
  var ICONS = {
    chat: "M21 11.5a8.4 8.4 0 0 1-12.3 7.4L3 20.5l1.6-5.2A8.5 8.5 0 1 1 21 11.5z",
    help: "M12 21a9 9 0 1 0 0-18 9 9 0 0 0 0 18zM9.6 9.2a2.5 2.5 0 0 1 4.9.8c0 1.7-2.5 2.2-2.5 3.8M12 17h.01",
    sparkles: "M11 3l1.9 5.1L18 10l-5.1 1.9L11 17l-1.9-5.1L4 10l5.1-1.9zM18.5 14l.9 2.1 2.1.9-2.1.9-.9 2.1-.9-2.1-2.1-.9 2.1-.9z",
    headset: "M4 15v-3a8 8 0 0 1 16 0v3M4 15h3v5H5.5A1.5 1.5 0 0 1 4 18.5zM20 15h-3v5h1.5a1.5 1.5 0 0 0 1.5-1.5zM20 19.5c0 1.4-1.6 2.5-5 2.5",
    close: "M6 9l6 6 6-6"
  };
  var CSS =
    ":host{all:initial!important}" +
    ".gw-launcher{all:initial;box-sizing:border-box;position:fixed;z-index:2147483000;bottom:20px;right:20px;width:56px;height:56px;border-radius:50%;display:flex;align-items:center;justify-content:center;cursor:pointer;background:var(--gw-accent);color:var(--gw-on);box-shadow:0 8px 24px rgba(15,23,42,.22),0 2px 6px rgba(15,23,42,.14);opacity:0;transform:scale(.6);transition:opacity .2s,transform .2s cubic-bezier(.2,.8,.3,1.3)}" +
    ".gw-left .gw-launcher{right:auto;left:20px}.gw-ready .gw-launcher{opacity:1;transform:none}" +
    ".gw-ready .gw-launcher:hover{transform:scale(1.06)}" +
    ".gw-launcher:focus-visible{outline:3px solid #fff;box-shadow:0 0 0 6px #111827}.gw-launcher[aria-busy=true]{cursor:progress;opacity:.8}" +
    ".gw-launcher svg{width:28px;height:28px;fill:none;stroke:currentColor;stroke-width:1.9;stroke-linecap:round;stroke-linejoin:round}" +
    ".gw-toast{all:initial;position:fixed;z-index:2147483000;bottom:88px;right:20px;max-width:260px;padding:10px 14px;border-radius:12px;background:#111827;color:#fff;font:14px/1.4 system-ui,sans-serif}.gw-left .gw-toast{right:auto;left:20px}" +
    "@media (prefers-reduced-motion:reduce){.gw-launcher{transition:none}}";

  var ctx = { identity: null, look: {}, failure: null, config: null };
  var api = (win.Groundwork = {
    version: 1,
    open: safe(function () { show(true); }),
    close: safe(function () { if (ctx.panel) ctx.panel.close(); }),
    toggle: safe(function () { ctx.panel && ctx.panel.isOpen() ? ctx.panel.close(true) : show(true); }),
    identify: safe(function (who) {
      ctx.identity = who && who.userId ? { userId: String(who.userId), userHash: String(who.userHash || "") } : null;
      if (ctx.panel) ctx.panel.identify();
    }),
    setAppearance: safe(function (look) {
      for (var k in look || {}) if (/^(color|position|icon|title)$/.test(k)) ctx.look[k] = look[k];
      paint();
    })
  });

  function safe(fn) {
    return function (a) {
      try { return fn(a); } catch (e) { warn(e); }
    };
  }
  function warn(e) {
    try { win.console && console.warn("Groundwork widget:", e); } catch (_) {}
  }

  try { boot(); } catch (e) { warn(e); }

  function boot() {
    var script = doc.currentScript;
    if (!script || !script.getAttribute("data-bot")) {
      var all = doc.querySelectorAll("script[data-bot]");
      for (var i = 0; i < all.length; i++) if (/\/widget\.js(\?|#|$)/.test(all[i].src)) script = all[i];
    }
    if (!script || !script.getAttribute("data-bot")) return warn("no <script data-bot> found");
    ctx.key = script.getAttribute("data-bot");
    ctx.nonce = script.nonce || "";
    ctx.base = new URL(script.src, location.href).origin;
    ctx.api = ctx.base + "/public/v1/bots/" + encodeURIComponent(ctx.key);
    ctx.headers = function (extra) {
      var headers = extra || {};
      // Read on every request: Groundwork's own pages replace their short-lived preview token in place.
      var preview = script.getAttribute("data-preview");
      if (preview) headers["Groundwork-Preview"] = preview;
      return headers;
    };
    ctx.loadConfig = loadConfig;
    ctx.paint = paint;
    var started = loadConfig();
    var mount = function () {
      try { build(); } catch (e) { return warn(e); }
      // The launcher shows once the look is known (or given up on): no flash of the wrong colour.
      var reveal = function () { ctx.wrap.classList.add("gw-ready"); };
      started.then(reveal, reveal);
      setTimeout(reveal, 4000);
      var queue = (old && old.q) || [];
      for (var j = 0; j < queue.length; j++) if (api[queue[j][0]]) api[queue[j][0]](queue[j][1]);
    };
    // async may run mid-parse: the DOM work then waits, never delaying DOMContentLoaded (defer: now).
    if (doc.readyState === "loading") doc.addEventListener("DOMContentLoaded", mount);
    else mount();
  }

  function loadConfig() {
    return fetch(ctx.api, { credentials: "omit", headers: ctx.headers() })
      .then(function (res) {
        return res.json().catch(function () { return {}; }).then(function (body) {
          if (res.ok) {
            ctx.config = body;
            ctx.failure = null;
          } else {
            ctx.failure = { status: res.status, title: body.title, detail: body.detail };
          }
        });
      }, function () {
        ctx.failure = { network: true }; // offline, server down, or this origin refused (no CORS headers)
      })
      .then(paint, warn);
  }

  function build() {
    var host = doc.createElement("groundwork-chat");
    var root = host.attachShadow({ mode: "open" });
    ctx.root = root;
    ctx.addStyles = function (css) {
      try {
        var sheet = new CSSStyleSheet();
        sheet.replaceSync(css); // constructed sheets also work under a strict style-src CSP
        root.adoptedStyleSheets = root.adoptedStyleSheets.concat([sheet]);
      } catch (e) {
        var style = doc.createElement("style");
        style.textContent = css;
        root.appendChild(style);
      }
    };
    ctx.addStyles(CSS);
    ctx.wrap = doc.createElement("div");
    ctx.wrap.className = "gw";
    var button = (ctx.launcher = doc.createElement("button"));
    button.type = "button";
    button.className = "gw-launcher";
    button.setAttribute("aria-expanded", "false");
    button.setAttribute("aria-controls", "gw-panel");
    button.setAttribute("aria-haspopup", "dialog");
    button.addEventListener("click", api.toggle);
    ctx.icon = function (name) {
      var svg = doc.createElementNS("http://www.w3.org/2000/svg", "svg");
      var path = doc.createElementNS("http://www.w3.org/2000/svg", "path");
      svg.setAttribute("viewBox", "0 0 24 24");
      svg.setAttribute("aria-hidden", "true");
      svg.setAttribute("focusable", "false");
      path.setAttribute("d", ICONS[name]);
      svg.appendChild(path);
      return svg;
    };
    ctx.wrap.appendChild(button);
    root.appendChild(ctx.wrap);
    doc.body.appendChild(host);
    // Single-page apps sometimes replace the body's children; come back if taken out.
    new MutationObserver(function () {
      if (!host.isConnected && doc.body) doc.body.appendChild(host);
    }).observe(doc.body, { childList: true });
    paint();
  }

  // The look: the bot's settings, overridden by setAppearance (the dashboard's live preview).
  function paint() {
    if (!ctx.wrap) return;
    var config = ctx.config || {};
    var look = ctx.look;
    var color = String(look.color || config.color || "");
    if (!/^#[0-9a-f]{6}$/i.test(color)) color = NEUTRAL;
    var title = String(look.title || config.title || config.name || "Chat");
    var left = (look.position || config.position) === "left";
    var open = ctx.panel && ctx.panel.isOpen();
    var style = ctx.wrap.style;
    style.setProperty("--gw-accent", color);
    // White or near-black (#111827, luminance .0103) on the accent: whichever contrasts more.
    var l = luminance(color) + 0.05;
    style.setProperty("--gw-on", 1.05 / l >= l / 0.0603 ? "#fff" : "#111827");
    ctx.color = color;
    ctx.wrap.className = "gw" + (left ? " gw-left" : "") + (ctx.wrap.classList.contains("gw-ready") ? " gw-ready" : "") + (open ? " gw-is-open" : "");
    ctx.title = title;
    ctx.launcher.setAttribute("aria-label", open ? "Close chat" : "Open chat: " + title);
    ctx.launcher.textContent = "";
    ctx.launcher.appendChild(ctx.icon(open ? "close" : ICONS[look.icon || config.icon] ? look.icon || config.icon : "chat"));
    if (ctx.panel) ctx.panel.repaint();
  }

  function luminance(hex) {
    var n = parseInt(hex.slice(1), 16);
    var sum = 0;
    [[16, 0.2126], [8, 0.7152], [0, 0.0722]].forEach(function (part) {
      var c = ((n >> part[0]) & 255) / 255;
      sum += part[1] * (c <= 0.03928 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4));
    });
    return sum;
  }
  function show(focus) {
    if (!ctx.wrap) return;
    if (ctx.panel) return ctx.panel.open(focus);
    if (ctx.loading) return;
    ctx.loading = true;
    ctx.launcher.setAttribute("aria-busy", "true");
    var script = doc.createElement("script");
    script.src = ctx.base + PANEL;
    script.async = true;
    if (ctx.nonce) script.nonce = ctx.nonce;
    var done = function (ok) {
      ctx.loading = false;
      ctx.launcher.removeAttribute("aria-busy");
      script.remove();
      var mount = win.__groundworkPanel;
      try { delete win.__groundworkPanel; } catch (e) { win.__groundworkPanel = undefined; }
      if (ok && mount) {
        ctx.panel = mount(ctx);
        ctx.panel.open(focus);
      } else {
        toast("The chat couldn't load. Please try again.");
      }
    };
    script.onload = function () { safe(done)(true); };
    script.onerror = function () { safe(done)(false); };
    (doc.head || doc.body).appendChild(script);
  }

  function toast(text) {
    var note = doc.createElement("div");
    note.className = "gw-toast";
    note.setAttribute("role", "alert");
    note.textContent = text;
    ctx.wrap.appendChild(note);
    setTimeout(function () { note.remove(); }, 6000);
  }
})(window, document);
