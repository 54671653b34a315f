/* Carbon Track: accessibility repairs to components whose DOM Dash builds (WCAG 2.2 AA).
 *
 * - Dash 4's dropdown sends keyboard focus through a hidden <input aria-hidden="true" tabindex="0">
 *   to its real <button tabindex="-1">: a focusable element hidden from screen readers. The button
 *   takes the tab stop instead.
 * - Dash 4's date picker puts aria-expanded on a plain <div> (not allowed there by ARIA).
 * - dcc.Upload's file <input> has no name; it takes the upload area's text.
 * - A table that scrolls sideways must be reachable by keyboard: it becomes a focusable region.
 * - A dropdown's button is named by its <label for=…> and its value (Dash names it by the value
 *   only, so an empty dropdown had no name at all).
 * - Tabs whose aria-controls points at a pane that is not rendered lose that reference.
 * - On a Swahili page, Dash's own English control names (date picker arrows, spinners) follow it.
 * Runs on every DOM change (batched by MutationObserver); each fix is idempotent.
 */
(function () {
  "use strict";
  var labelCount = 0;
  var SW_LABELS = {"Previous month": "Mwezi uliotangulia", "Next month": "Mwezi unaofuata",
                   "Decrease value": "Punguza", "Increase value": "Ongeza", "Clear": "Futa",
                   "Clear selection": "Futa uteuzi", "Clear all": "Futa zote", "Close": "Funga"};
  function repair() {
    document.querySelectorAll(".dash-dropdown-focus-target").forEach(function (t) {
      if (t.tabIndex !== -1) { t.tabIndex = -1; }
      var b = t.nextElementSibling;
      if (b && b.tagName === "BUTTON" && !b.disabled && b.tabIndex !== 0) { b.tabIndex = 0; }
    });
    document.querySelectorAll("div[aria-expanded][aria-haspopup='dialog']:not([role])").forEach(function (d) {
      d.removeAttribute("aria-expanded");
    });
    document.querySelectorAll("input[type='file']:not([aria-label])").forEach(function (i) {
      var area = i.parentElement;
      var text = area && area.textContent ? area.textContent.trim() : "";
      i.setAttribute("aria-label", text || "Choose a file");
    });
    document.querySelectorAll("button.dash-dropdown[id]").forEach(function (b) {
      var label = document.querySelector('label[for="' + window.CSS.escape(b.id) + '"]');
      var by = b.getAttribute("aria-labelledby") || "";
      if (label) {
        // A fresh id, not derived from the field's: selectors on the field's id must not find its label.
        if (!label.id) { labelCount += 1; label.id = "ct-label-" + labelCount; }
        if (by.split(" ").indexOf(label.id) < 0) { b.setAttribute("aria-labelledby", (label.id + " " + by).trim()); }
      } else if (!b.textContent.trim() && !b.getAttribute("aria-label")) {
        b.setAttribute("aria-label", b.id.replace(/[-_]/g, " "));
      }
    });
    // Dash's own controls name themselves in English (the date picker's month arrows and the
    // number spinners): on a Swahili page their names follow the page.
    if (document.documentElement.lang === "sw") {
      document.querySelectorAll("[aria-label]").forEach(function (e) {
        var sw = SW_LABELS[e.getAttribute("aria-label")];
        if (sw) { e.setAttribute("aria-label", sw); }
      });
    }
    document.querySelectorAll("[role='tab'][aria-controls]").forEach(function (t) {
      if (!document.getElementById(t.getAttribute("aria-controls"))) { t.removeAttribute("aria-controls"); }
    });
    document.querySelectorAll(".table-responsive:not([tabindex])").forEach(function (r) {
      r.setAttribute("tabindex", "0");
      r.setAttribute("role", "region");
      // Named by the table's own label or caption, else the nearest heading before it, in the page's language.
      var t = r.querySelector("table");
      var name = (t && (t.getAttribute("aria-label") || (t.caption && t.caption.innerText))) || headingBefore(r);
      var sw = document.documentElement.lang === "sw";
      r.setAttribute("aria-label", (sw ? "Jedwali" : "Table") + (name ? ": " + name.trim() : "") +
                     (sw ? " (husogezwa kando)" : " (scrolls sideways)"));
    });
  }
  function headingBefore(el) {
    for (var up = el, depth = 0; up && depth < 4; up = up.parentElement, depth++) {
      for (var sib = up.previousElementSibling; sib; sib = sib.previousElementSibling) {
        if (/^H[1-6]$/.test(sib.tagName)) { return sib.innerText; }
      }
    }
    return "";
  }
  var queued = false;
  function schedule() {
    if (!queued) { queued = true; window.requestAnimationFrame(function () { queued = false; repair(); }); }
  }
  new MutationObserver(schedule).observe(document.documentElement, {
    subtree: true, childList: true, attributes: true, attributeFilter: ["tabindex", "aria-expanded", "disabled", "aria-labelledby", "aria-controls"],
  });
  document.addEventListener("DOMContentLoaded", repair);
})();
