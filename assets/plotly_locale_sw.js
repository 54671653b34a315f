/* Plotly's Swahili locale (issue 17, item 5): month and day names on date axes and in hover
 * labels, and the chart toolbar's tooltips. Plotly (assets/vendor-plotly, loaded after this file)
 * registers every locale queued in window.PlotlyLocales when it loads; if it is there already, the
 * locale is registered at once. A chart uses it when its config says locale: "sw"
 * (callbacks/i18n.graph_config). Names from CLDR (Babel sw_KE). */
(function () {
var SW = {
  moduleType: "locale",
  name: "sw",
  dictionary: {
    "Autoscale": "Pima kiotomatiki",
    "Box Select": "Chagua kwa kisanduku",
    "Click to enter Colorscale title": "Bofya kuandika kichwa cha rangi",
    "Compare data on hover": "Linganisha data ukielekeza",
    "Double-click on legend to isolate one trace": "Bofya mara mbili kwenye ufunguo kuonyesha mstari mmoja tu",
    "Double-click to zoom back out": "Bofya mara mbili kurudi nyuma",
    "Download plot as a png": "Pakua mchoro kama png",
    "Download plot": "Pakua mchoro",
    "Lasso Select": "Chagua kwa kamba",
    "Orbital rotation": "Zungusha",
    "Pan": "Sogeza",
    "Produced with Plotly.js": "Imetengenezwa kwa Plotly.js",
    "Reset": "Rudisha",
    "Reset axes": "Rudisha mihimili",
    "Reset view": "Rudisha mwonekano",
    "Show closest data on hover": "Onyesha data iliyo karibu ukielekeza",
    "Snapshot succeeded": "Picha imepigwa",
    "Sorry, there was a problem downloading your snapshot!": "Samahani, picha haikuweza kupakuliwa!",
    "Taking snapshot - this may take a few seconds": "Inapiga picha - huenda ikachukua sekunde chache",
    "Toggle Spike Lines": "Washa/zima mistari ya kuelekeza",
    "Toggle show closest data on hover": "Washa/zima data iliyo karibu ukielekeza",
    "Zoom": "Kuza",
    "Zoom in": "Kuza ndani",
    "Zoom out": "Kuza nje",
    "close:": "kufunga:",
    "high:": "juu:",
    "low:": "chini:",
    "open:": "kufungua:",
    "trace": "mstari"
  },
  format: {
    days: ["Jumapili", "Jumatatu", "Jumanne", "Jumatano", "Alhamisi", "Ijumaa", "Jumamosi"],
    shortDays: ["Jpi", "Jtt", "Jnn", "Jtn", "Alh", "Ijm", "Jmo"],
    months: ["Januari", "Februari", "Machi", "Aprili", "Mei", "Juni", "Julai", "Agosti", "Septemba",
             "Oktoba", "Novemba", "Desemba"],
    shortMonths: ["Jan", "Feb", "Mac", "Apr", "Mei", "Jun", "Jul", "Ago", "Sep", "Okt", "Nov", "Des"],
    date: "%d/%m/%Y",
    decimal: ".",
    thousands: ","
  }
};
if (window.Plotly && window.Plotly.register) { window.Plotly.register(SW); }
else { window.PlotlyLocales = (window.PlotlyLocales || []).concat([SW]); }
})();
