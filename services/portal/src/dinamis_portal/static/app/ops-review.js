/* DINAMIS ops console, the review of one request: the map (the requested area, the
 * catalogue scenes found over it, the other pending requests' areas) and the reason
 * templates that fill the reason field (still editable). No inline script (CSP): data
 * come in <script type="application/json"> / "application/geo+json" data blocks. */
(function () {
  'use strict';

  var BLUE = '#000091'; /* the requested area */
  var GREEN = '#18753c'; /* catalogue scenes */
  var ORANGE = '#b34000'; /* other requests */
  var review = (window.dinamisReview = { map: null, scenes: 0, requests: 0, area: 0 });

  function readData(id) {
    var node = document.getElementById(id);
    if (!node) return null;
    try {
      return JSON.parse(node.textContent);
    } catch (e) {
      return null;
    }
  }

  function features(data) {
    if (!data) return [];
    try {
      return new ol.format.GeoJSON().readFeatures(data, { featureProjection: 'EPSG:3857' });
    } catch (e) {
      return [];
    }
  }

  function layer(found, fill, stroke, width, dash) {
    return new ol.layer.Vector({
      source: new ol.source.Vector({ features: found }),
      style: new ol.style.Style({
        fill: fill ? new ol.style.Fill({ color: fill }) : undefined,
        stroke: new ol.style.Stroke({ color: stroke, width: width, lineDash: dash })
      })
    });
  }

  function drawMap() {
    var target = document.getElementById('carte-revue');
    if (!target || typeof ol === 'undefined') return;
    var lang = document.documentElement.lang === 'en' ? 'en' : 'fr';
    var area = features(readData('revue-zone'));
    var scenes = features(readData('revue-scenes'));
    var others = features(readData('revue-demandes'));
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
        layer(scenes, 'rgba(24, 117, 60, 0.25)', GREEN, 1),
        layer(others, 'rgba(179, 64, 0, 0.15)', ORANGE, 2, [4, 4]),
        layer(area, null, BLUE, 3, [8, 4])
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
    review.map = map;
    review.area = area.length;
    review.scenes = scenes.length;
    review.requests = others.length;
    var all = area.concat(scenes, others);
    if (all.length) {
      var extent = new ol.source.Vector({ features: all }).getExtent();
      map.getView().fit(extent, { padding: [24, 24, 24, 24], maxZoom: 14, duration: 0 });
    }
  }

  /* A reason template fills the reason field; the decision's select shows only its own. */
  function templates() {
    var texts = readData('revue-motifs') || {};
    document.querySelectorAll('select.ops-review-template').forEach(function (select) {
      var reason = document.getElementById(select.getAttribute('data-reason'));
      var follows = document.getElementById(select.getAttribute('data-follows') || '');
      function actionOf() {
        return select.getAttribute('data-action') || (follows ? follows.value : '');
      }
      function filter() {
        if (!follows) return;
        var action = follows.value;
        select.querySelectorAll('optgroup').forEach(function (group) {
          var mine = group.getAttribute('data-action') === action;
          group.hidden = !mine;
          group.disabled = !mine;
        });
        var picked = select.options[select.selectedIndex];
        if (picked && picked.getAttribute('data-action') && picked.getAttribute('data-action') !== action) {
          select.value = '';
        }
      }
      select.addEventListener('change', function () {
        var found = (texts[actionOf()] || {})[select.value];
        if (reason && found) {
          reason.value = found;
          reason.focus();
        }
      });
      if (follows) {
        follows.addEventListener('change', filter);
        filter();
      }
    });
  }

  function start() {
    drawMap();
    templates();
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
