/* Swahili for Dash's date pickers (issue 17, item 5). Dash 4's DatePickerSingle/Range format their
 * calendars with date-fns and take the locale from window.dateFns.locale (it picks the browser's
 * language there, else the first locale given). On a Swahili page (<html lang="sw">, set per
 * request by the server) this registers a date-fns locale object for Swahili as the only one, so
 * the calendar's month and weekday names follow the page, whatever the browser's language. An
 * English page registers nothing: date-fns' built-in English. Names from CLDR (Babel sw_KE). */
(function () {
  "use strict";
  if (document.documentElement.lang !== "sw") { return; }
  var MONTHS = ["Januari", "Februari", "Machi", "Aprili", "Mei", "Juni", "Julai", "Agosti", "Septemba",
                "Oktoba", "Novemba", "Desemba"];
  var MONTHS_SHORT = ["Jan", "Feb", "Mac", "Apr", "Mei", "Jun", "Jul", "Ago", "Sep", "Okt", "Nov", "Des"];
  var DAYS = ["Jumapili", "Jumatatu", "Jumanne", "Jumatano", "Alhamisi", "Ijumaa", "Jumamosi"];
  var DAYS_SHORT = ["Jpi", "Jtt", "Jnn", "Jtn", "Alh", "Iju", "Jmo"];
  var DAYS_NARROW = ["J", "J", "J", "J", "A", "I", "J"];

  function pick(wide, abbreviated, narrow, short) {
    return function (value, options) {
      var width = (options && options.width) || "wide";
      var list = width === "abbreviated" ? abbreviated : width === "narrow" ? narrow
        : width === "short" ? (short || abbreviated) : wide;
      return list[Number(value)];
    };
  }
  function matcher(lists) {  // parse a name back (typed dates): the longest name that starts the text
    return function (text) {
      var best = null;
      lists.forEach(function (list) {
        list.forEach(function (name, i) {
          if (text.slice(0, name.length).toLowerCase() === name.toLowerCase() &&
              (!best || name.length > best.len)) { best = {value: i, len: name.length}; }
        });
      });
      return best ? {value: best.value, rest: text.slice(best.len)} : null;
    };
  }
  var sw = {
    code: "sw",
    formatDistance: function (token, count) { return String(count); },
    formatRelative: function () { return "dd/MM/yyyy"; },
    formatLong: {
      date: function () { return "dd/MM/yyyy"; },
      time: function () { return "HH:mm"; },
      dateTime: function () { return "{{date}} {{time}}"; }
    },
    localize: {
      ordinalNumber: function (n) { return String(n); },
      era: pick(["Kabla ya Kristo", "Baada ya Kristo"], ["KK", "BK"], ["KK", "BK"]),
      quarter: function (q) { return "Robo " + q; },
      month: pick(MONTHS, MONTHS_SHORT, MONTHS_SHORT.map(function (m) { return m.charAt(0); })),
      day: pick(DAYS, DAYS_SHORT, DAYS_NARROW, DAYS_SHORT),
      dayPeriod: function (value) { return value === "am" || value === "morning" ? "asubuhi" : "mchana"; }
    },
    match: {
      ordinalNumber: function (text) { var m = /^\d+/.exec(text); return m ? {value: Number(m[0]), rest: text.slice(m[0].length)} : null; },
      era: matcher([["KK", "BK"]]),
      quarter: function (text) { var m = /^Robo ([1-4])/.exec(text); return m ? {value: Number(m[1]), rest: text.slice(m[0].length)} : null; },
      month: matcher([MONTHS, MONTHS_SHORT]),
      day: matcher([DAYS, DAYS_SHORT]),
      dayPeriod: function (text) { return /^asubuhi/.test(text) ? {value: "am", rest: text.slice(7)} : null; }
    },
    options: {weekStartsOn: 1, firstWeekContainsDate: 1}
  };
  window.dateFns = window.dateFns || {};
  window.dateFns.locale = {sw: sw};
})();
