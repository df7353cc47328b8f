/* DINAMIS portal, acquisition requests: the stepper (one step shown at a time; without
 * script every step shows), and the small map of the requested area — on the form, the
 * area as the orders service's last quote read it; on a request's page, the area against
 * the footprints of the delivered imagery. No inline script (CSP): data come in
 * <script type="application/json"> / "application/geo+json" data blocks. */
(function () {
  'use strict';

  var BLUE = '#000091'; /* DSFR blue France: the requested area */
  var GREEN = '#18753c'; /* DSFR success: delivered imagery */
  var requests = (window.dinamisRequests = { map: null, area: null, delivered: null, step: 1 });

  function readData(id) {
    var node = document.getElementById(id);
    if (!node) return null;
    try {
      return JSON.parse(node.textContent);
    } catch (e) {
      return null;
    }
  }

  function createMap(target) {
    var lang = document.documentElement.lang === 'en' ? 'en' : 'fr';
    var area = new ol.source.Vector();
    var delivered = new ol.source.Vector();
    var map = new ol.Map({
      target: target,
      layers: [
        new ol.layer.Vector({
          source: new ol.source.Vector({
            url: target.getAttribute('data-basemap'),
            format: new ol.format.GeoJSON(),
            attributions: 'Contours : IGN Admin Express 2018 (Licence Ouverte)'
          }),
          style: new ol.style.Style({
            fill: new ol.style.Fill({ color: '#f6f6f6' }),
            stroke: new ol.style.Stroke({ color: '#929292', width: 1 })
          })
        }),
        new ol.layer.Vector({
          source: delivered,
          style: new ol.style.Style({
            fill: new ol.style.Fill({ color: 'rgba(24, 117, 60, 0.35)' }),
            stroke: new ol.style.Stroke({ color: GREEN, width: 1 })
          })
        }),
        new ol.layer.Vector({
          source: area,
          style: new ol.style.Style({
            stroke: new ol.style.Stroke({ color: BLUE, width: 3, lineDash: [8, 4] })
          })
        })
      ],
      controls: ol.control.defaults.defaults({
        zoomOptions: {
          zoomInTipLabel: lang === 'en' ? 'Zoom in' : 'Zoomer',
          zoomOutTipLabel: lang === 'en' ? 'Zoom out' : 'Dézoomer'
        },
        attributionOptions: { collapsible: false }
      }),
      view: new ol.View({ center: ol.proj.fromLonLat([2.5, 46.6]), zoom: 5 })
    });
    requests.map = map;
    requests.area = area;
    requests.delivered = delivered;
    return map;
  }

  function features(data) {
    if (!data) return [];
    try {
      return new ol.format.GeoJSON().readFeatures(data, { featureProjection: 'EPSG:3857' });
    } catch (e) {
      return [];
    }
  }

  function show(areaData, deliveredData) {
    if (!requests.map) return;
    requests.area.clear();
    requests.area.addFeatures(features(areaData));
    requests.delivered.clear();
    requests.delivered.addFeatures(features(deliveredData));
    var extent = requests.area.getExtent();
    if (requests.area.getFeatures().length && isFinite(extent[0])) {
      requests.map.updateSize();
      requests.map.getView().fit(extent, { padding: [50, 50, 50, 50], maxZoom: 11, duration: 0 });
    }
  }

  /* For tests: how many shapes are drawn, and the drawn area's extent in degrees. */
  requests.drawn = function () {
    if (!requests.area) return null;
    var extent = requests.area.getFeatures().length ? requests.area.getExtent() : null;
    return {
      area: requests.area.getFeatures().length,
      delivered: requests.delivered.getFeatures().length,
      extent: extent ? ol.proj.transformExtent(extent, 'EPSG:3857', 'EPSG:4326') : null
    };
  };

  /* The area as the orders service's quote read it (the form's quote panel). */
  function showQuotedArea() {
    var node = document.getElementById('devis-donnees');
    var quote = null;
    try {
      quote = node ? JSON.parse(node.getAttribute('data-devis')) : null;
    } catch (e) {
      quote = null;
    }
    if (quote && quote.aoi) {
      show({ type: 'Feature', geometry: quote.aoi, properties: {} }, null);
    }
  }

  /* The area as typed (a bbox or a GeoJSON geometry), drawn before any quote: display
   * only — the orders service reads and judges it (the quote). */
  function typedArea(text) {
    text = (text || '').trim();
    if (!text) return null;
    if (text.charAt(0) !== '{') {
      var n = text.split(/[,;]/).map(Number);
      if (n.length !== 4 || !n.every(isFinite)) return null;
      var ring = [[n[0], n[1]], [n[2], n[1]], [n[2], n[3]], [n[0], n[3]], [n[0], n[1]]];
      return { type: 'Feature', geometry: { type: 'Polygon', coordinates: [ring] }, properties: {} };
    }
    try {
      var found = JSON.parse(text);
      if (found && found.type === 'FeatureCollection') return found;
      if (found && found.type === 'Feature') return found;
      if (found && found.coordinates) return { type: 'Feature', geometry: found, properties: {} };
    } catch (e) {
      return null;
    }
    return null;
  }

  function showTypedArea() {
    var aoi = document.getElementById('aoi');
    var area = aoi && typedArea(aoi.value);
    if (area) show(area, null);
  }

  function stepper(form) {
    var steps = Array.prototype.slice.call(form.querySelectorAll('.portal-step'));
    var title = document.getElementById('etape-titre');
    var bar = document.getElementById('etape-barre');
    var next = document.getElementById('etape-suivante');
    var previousButton = document.getElementById('etape-precedente');
    var continueButton = document.getElementById('etape-continuer');
    var review = document.getElementById('verifier');
    var label = form.getAttribute('data-step-label') || '{n} / {total}';
    if (!steps.length || !title || !bar) return;
    var nextLabel = next ? next.querySelector('span') : null;

    function go(n, focus) {
      requests.step = n;
      steps.forEach(function (step, i) {
        step.hidden = i !== n - 1;
      });
      var state = document.createElement('span');
      state.className = 'fr-stepper__state';
      state.id = 'etape-etat';
      state.textContent = label.replace('{n}', n).replace('{total}', steps.length);
      title.textContent = steps[n - 1].getAttribute('data-title');
      title.appendChild(state);
      bar.setAttribute('data-fr-current-step', String(n));
      if (next) {
        next.hidden = n === steps.length;
        next.textContent = '';
        if (nextLabel) next.appendChild(nextLabel);
        if (n < steps.length) next.appendChild(document.createTextNode(' ' + steps[n].getAttribute('data-title')));
      }
      previousButton.hidden = n === 1;
      continueButton.hidden = n === steps.length;
      review.hidden = n !== steps.length;
      if (n === 2 && requests.map) {
        requests.map.updateSize();
        showTypedArea();
      }
      if (focus) {
        var legend = steps[n - 1].querySelector('legend');
        if (legend) {
          legend.setAttribute('tabindex', '-1');
          legend.focus();
        }
      }
    }

    previousButton.addEventListener('click', function () {
      go(Math.max(1, requests.step - 1), true);
    });
    continueButton.addEventListener('click', function () {
      go(Math.min(steps.length, requests.step + 1), true);
    });
    /* A step with an error (the server's answer) opens first. */
    var first = 1;
    for (var i = 0; i < steps.length; i++) {
      if (steps[i].querySelector('.fr-input-group--error, .fr-select-group--error')) {
        first = i + 1;
        break;
      }
    }
    go(first, false);
    requests.go = function (n) {
      go(n, false);
    };
  }

  function start() {
    var target = document.getElementById('carte-demande');
    if (target && typeof ol !== 'undefined') createMap(target);
    var form = document.getElementById('demande');
    if (form) {
      stepper(form);
      showTypedArea();
      var aoi = document.getElementById('aoi');
      var pending = null;
      if (aoi) {
        aoi.addEventListener('input', function () {
          clearTimeout(pending);
          pending = setTimeout(showTypedArea, 300);
        });
      }
      document.body.addEventListener('htmx:afterSwap', function (event) {
        if (event.detail && event.detail.target && event.detail.target.id === 'devis') showQuotedArea();
      });
      return;
    }
    show(readData('zone-demandee'), readData('images-livrees'));
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', start);
  } else {
    start();
  }
})();
