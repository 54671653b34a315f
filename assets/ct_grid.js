/* Carbon Track data grids (callbacks/grid.py): browser-side callbacks, served from assets/ so the
   Content-Security-Policy needs no inline script and no eval. */
(function () {
  "use strict";
  var BREAKPOINTS = {2: 768, 3: 576};  // callbacks.grid.PRIORITY_BREAKPOINTS
  var grids = {};  // grid id -> {field: priority}

  function applyPriorities(gridId) {
    var prio = grids[gridId];
    if (!prio || !window.dash_ag_grid) { return; }
    window.dash_ag_grid.getApiAsync(gridId).then(function (api) {
      var width = window.innerWidth, show = [], hide = [];
      Object.keys(prio).forEach(function (field) {
        var limit = BREAKPOINTS[prio[field]];
        (limit && width < limit ? hide : show).push(field);
      });
      if (show.length) { api.setColumnsVisible(show, true); }
      if (hide.length) { api.setColumnsVisible(hide, false); }
    }).catch(function () { /* the grid left the page */ });
  }

  var timer = null;
  window.addEventListener("resize", function () {
    clearTimeout(timer);
    timer = setTimeout(function () { Object.keys(grids).forEach(applyPriorities); }, 150);
  });

  window.dash_clientside = window.dash_clientside || {};
  window.dash_clientside.ctGrid = {
    quickFilter: function (text, options) {
      var out = Object.assign({}, options || {});
      out.quickFilterText = typeof text === "string" ? text : "";
      return out;
    },
    exportCsv: function (nClicks) {
      return Boolean(nClicks);
    },
    priorities: function (prio, gridId) {
      grids[gridId] = prio || {};
      applyPriorities(gridId);
      return window.innerWidth;
    }
  };
})();

/* Cell renderers named in column definitions ("cellRenderer": "CtStatus"): a coloured badge that
   always carries its text too (colour is never the only sign). */
(function () {
  "use strict";
  var COLOURS = {
    met: "success", approved: "success", ok: "success", active: "success",
    missed: "danger", missing: "danger", late: "danger", firing: "danger", revoked: "secondary",
    submitted: "primary", draft: "warning", "awaiting": "primary", acknowledged: "warning",
    "not": "light", "no": "secondary", expired: "secondary", resolved: "secondary",
    done: "success", failed: "danger", running: "info", pending: "secondary", valid: "success",
    withdrawn: "secondary", "in": "success",
    // Nodes and the node page (callbacks/hq_nodes.py, hq_node.py, node_quality.py): a node's status,
    // its calibration, the listeners' state, a command's state (queued and sending stay grey).
    online: "success", offline: "danger", overdue: "warning", reporting: "success", silent: "danger",
    stopped: "secondary", timeout: "warning", sent: "info"
  };
  window.dashAgGridComponentFunctions = window.dashAgGridComponentFunctions || {};
  window.dashAgGridComponentFunctions.CtStatus = function (props) {
    var text = props.value === null || props.value === undefined ? "" : String(props.value);
    if (!text) { return ""; }
    // The colour comes from the row's `<field>__tone` (the English status key, when the text is
    // translated), else from the text's first word.
    var tone = props.data && props.colDef ? props.data[props.colDef.field + "__tone"] : null;
    var first = (typeof tone === "string" && tone ? tone : text.split(/[\s·,;]/)[0]).toLowerCase();
    var colour = COLOURS[first] || "secondary";
    var cls = "badge text-bg-" + colour + (colour === "light" ? " border" : "");
    var badge = window.React.createElement("span", {className: cls}, text);
    // A cell may link somewhere (the submission grid: that factory-month's entry page): the row's
    // `<field>__href`, a path on this site only.
    var href = props.data && props.colDef ? props.data[props.colDef.field + "__href"] : null;
    if (typeof href === "string" && href.charAt(0) === "/" && href.charAt(1) !== "/") {
      return window.React.createElement("a", {href: href, className: "ct-cell-link", title: text}, badge);
    }
    return badge;
  };
})();

/* Link and button cells. `CtLink`: the cell's text as a link to the row's `<field>__href` (a path on
   this site only), with the row's `<field>__id` as the element id (tests and the download routes'
   callers find it) and `cellRendererParams.className` as its class. `CtButton`: a button labelled
   with the cell's text (none when the cell is empty); a click sets the grid's `cellRendererData`
   to the row's `<field>__arg`, and the page's server callback acts on it after checking the user. */
(function () {
  "use strict";
  var h = function () { return window.React.createElement.apply(window.React, arguments); };
  function localPath(href) {
    return typeof href === "string" && href.charAt(0) === "/" && href.charAt(1) !== "/" && href.indexOf("\\") < 0;
  }
  window.dashAgGridComponentFunctions = window.dashAgGridComponentFunctions || {};
  window.dashAgGridComponentFunctions.CtLink = function (props) {
    var text = props.value === null || props.value === undefined ? "" : String(props.value);
    var field = props.colDef ? props.colDef.field : "";
    var href = props.data ? props.data[field + "__href"] : null;
    if (!text || !localPath(href)) { return text; }
    var attrs = {href: href, className: props.className || ""};
    var id = props.data[field + "__id"];
    if (typeof id === "string" && id) { attrs.id = id; }
    return h("a", attrs, text);
  };
  window.dashAgGridComponentFunctions.CtButton = function (props) {
    var text = props.value === null || props.value === undefined ? "" : String(props.value);
    if (!text) { return ""; }
    var field = props.colDef ? props.colDef.field : "";
    var arg = props.data ? props.data[field + "__arg"] : null;
    var attrs = {type: "button", className: props.className || "btn btn-sm btn-outline-secondary py-0",
                 onClick: function () { props.setData(arg); }};
    var id = props.data ? props.data[field + "__id"] : null;
    if (typeof id === "string" && id) { attrs.id = id; }
    return h("button", attrs, text);
  };
})();

/* Number cells with thousands separated ("112,000"), as format_number writes numbers on the pages
   (English and sw_KE use the same symbols). Named in column definitions as the dash-ag-grid function
   expression "ctNumber(params)" (callbacks/grid.py NUMBER_FORMATTER): evaluated without eval. */
(function () {
  "use strict";
  var FORMAT = new Intl.NumberFormat("en-US", {maximumFractionDigits: 6});
  window.dashAgGridFunctions = window.dashAgGridFunctions || {};
  window.dashAgGridFunctions.ctNumber = function (params) {
    var v = params ? params.value : null;
    if (typeof v === "number" && isFinite(v)) { return FORMAT.format(v); }
    return v === null || v === undefined ? "" : String(v);
  };

  /* `CtLevel`: a share in % as a badge coloured by level (green from `good`, amber from `fair`, red
     below, from the column's cellRendererParams); the number is always written, so colour is never
     the only sign, and the cell still sorts and filters as a number. */
  window.dashAgGridComponentFunctions = window.dashAgGridComponentFunctions || {};
  window.dashAgGridComponentFunctions.CtLevel = function (props) {
    var v = props.value;
    if (typeof v !== "number" || !isFinite(v)) { return v === null || v === undefined ? "" : String(v); }
    var good = props.good, fair = props.fair;
    var colour = v >= good ? "success" : (v >= fair ? "warning" : "danger");
    return window.React.createElement("span", {className: "badge text-bg-" + colour}, FORMAT.format(v));
  };
})();
