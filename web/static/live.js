// exoprobe status page: live updates without a reload. Every
// data-refresh seconds it fetches this same page, swaps the #live
// container, and reopens the <details> the reader had opened (by id), so
// a transcript or an evidence list stays open. No framework, no inline
// code: the page's Content-Security-Policy allows scripts from 'self' only.
(function () {
  "use strict";
  var period = parseInt(document.body.getAttribute("data-refresh"), 10);
  if (!(period > 0)) { return; }
  var busy = false;
  function update() {
    if (busy || document.hidden) { return; }
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
  window.setInterval(update, period * 1000);
})();
