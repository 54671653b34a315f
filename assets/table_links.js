/* Links inside tables drawn as HTML (callbacks/html_table.py) navigate inside the app the way
 * dcc.Link does (history.pushState + Dash's pushstate event), instead of reloading the page.
 * A modified click (new tab, new window) keeps the browser's own behaviour. */
(function () {
  "use strict";
  document.addEventListener("click", function (e) {
    var a = e.target.closest ? e.target.closest(".ct-html-table a[href^='/']") : null;
    if (!a || e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) { return; }
    e.preventDefault();
    window.history.pushState({}, "", a.getAttribute("href"));
    window.dispatchEvent(new CustomEvent("_dashprivate_pushstate"));
    window.scrollTo(0, 0);
  });
})();
