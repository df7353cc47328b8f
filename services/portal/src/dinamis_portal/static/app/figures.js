// dsfr-chart 2.0.4 passes `{ shadowRoot: false }` to customElements.define, which ignores
// it: its charts draw inside an open shadow root, where the page's style sheets do not
// apply (the legend's colour dots, the tooltip). Each chart's shadow root adopts
// dsfr-chart's style sheet, fetched from the portal itself (connect-src 'self') into a
// constructed style sheet: no inline style, no <style> or <link> in the shadow root.
// Runs after /static/vendor/dsfr-chart.js (both deferred, in this order).
(function () {
  "use strict";
  var SHEETS = ["/static/vendor/dsfr-chart.css", "/static/app/figures.css"];
  function load(href) {
    return fetch(href, { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : ""; })
      .then(function (text) {
        var sheet = new CSSStyleSheet();
        sheet.replaceSync(text);
        return sheet;
      });
  }
  function adopt(sheets) {
    document.querySelectorAll("bar-chart").forEach(function (chart) {
      var root = chart.shadowRoot;
      if (!root || root.adoptedStyleSheets.indexOf(sheets[0]) >= 0) return;
      root.adoptedStyleSheets = root.adoptedStyleSheets.concat(sheets);
    });
    document.documentElement.setAttribute("data-graphiques", "prets");
  }
  if (!("adoptedStyleSheets" in Document.prototype)) return;
  Promise.all(SHEETS.map(load)).then(function (sheets) {
    customElements.whenDefined("bar-chart").then(function () { adopt(sheets); });
  });
})();
