// exoprobe status page: live updates without a reload. Every
// data-refresh seconds it fetches this same page, swaps the #live
// container, and reopens the <details> the reader had opened (by id), so
// a transcript or an evidence list stays open. No framework, no inline
// code: the page's Content-Security-Policy allows scripts from 'self' only.
(function () {
  "use strict";
  var period = parseInt(document.body.getAttribute("data-refresh"), 10);
  var busy = false;
  function update(force) {
    if (busy || (document.hidden && !force)) { return; }
    busy = true;
    fetch(window.location.href, { headers: { "Accept": "text/html" }, credentials: "same-origin", cache: "no-store" })
      .then(function (r) {
        if (!r.ok) { throw new Error("HTTP " + r.status); }
        return r.text();
      })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        var fresh = doc.getElementById("live");
        var cur = document.getElementById("live");
        if (!fresh || !cur) { return; }
        var open = {};
        cur.querySelectorAll("details[open][id]").forEach(function (d) { open[d.id] = true; });
        // Keep what the reader is typing in the filter form.
        var active = document.activeElement, activeName = active && active.form ? active.name : null;
        var typed = {};
        cur.querySelectorAll("form.filters input, form.filters select").forEach(function (el) { typed[el.name] = el.value; });
        cur.replaceWith(document.importNode(fresh, true));
        var now = document.getElementById("live");
        now.querySelectorAll("details[id]").forEach(function (d) { if (open[d.id]) { d.open = true; } });
        now.querySelectorAll("form.filters input, form.filters select").forEach(function (el) {
          if (Object.prototype.hasOwnProperty.call(typed, el.name)) { el.value = typed[el.name]; }
        });
        if (activeName) {
          var el = now.querySelector("form.filters [name='" + activeName + "']");
          if (el) { el.focus(); }
        }
        document.body.setAttribute("data-updated", String(Date.now()));
      })
      .catch(function () { /* keep the page as it is; try again next time */ })
      .then(function () { busy = false; });
  }
  if (period > 0) { window.setInterval(update, period * 1000); }

  // Actions: buttons with data-action post JSON to the API (the write
  // path accepts JSON only, which no other site can send here), then the
  // page updates at once to show the result.
  var routes = {
    probe: function (b) { return ["api/v1/checks/" + encodeURIComponent(b.dataset.check) + "/probe", {}]; },
    clear_guard: function (b) { return ["api/v1/guards/clear", { account: b.dataset.account }]; },
    silence: function (b) { return ["api/v1/incidents/silence", { incident: b.dataset.incident, duration: b.dataset.duration }]; },
    unsilence: function (b) { return ["api/v1/incidents/unsilence", { id: b.dataset.id }]; }
  };
  document.addEventListener("click", function (ev) {
    var b = ev.target.closest ? ev.target.closest("button[data-action]") : null;
    if (!b || !routes[b.dataset.action]) { return; }
    ev.preventDefault();
    var r = routes[b.dataset.action](b);
    b.disabled = true;
    fetch(r[0], { method: "POST", credentials: "same-origin", headers: { "Content-Type": "application/json" }, body: JSON.stringify(r[1]) })
      .then(function (resp) {
        b.classList.add(resp.ok ? "done" : "failed");
        b.textContent = b.textContent + " — " + document.body.getAttribute(resp.ok ? "data-msg-ok" : "data-msg-fail") + (resp.ok ? "" : " (" + resp.status + ")");
        if (resp.ok) { window.setTimeout(function () { update(true); }, 300); }
      })
      .catch(function () { b.classList.add("failed"); })
      .then(function () { b.disabled = false; });
  });
})();
