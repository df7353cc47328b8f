/* DINAMIS portal: the map (OpenLayers, canvas renderer) beside the result list.
 * The list is the accessible alternative: everything the map shows is in it.
 * No inline script anywhere (CSP): data come in <script type="application/geo+json">
 * data blocks, which are never executed. */
(function () {
  'use strict';

  var FOOTPRINT_STROKE = '#000091'; /* DSFR blue France */
  var FOOTPRINT_FILL = 'rgba(0, 0, 145, 0.25)';
  var portal = (window.dinamisPortal = { map: null, footprints: null });

  /* htmx removes every <script> from what it swaps in (allowScriptTags: false), data
   * blocks included: their text is kept here, read from the answer before the swap
   * (DOMParser executes nothing). */
  var swapped = {};
  document.addEventListener('htmx:beforeSwap', function (event) {
    var answer = event.detail && event.detail.serverResponse;
    if (typeof answer !== 'string' || answer.indexOf('application/') < 0) return;
    var doc = new DOMParser().parseFromString(answer, 'text/html');
    doc.querySelectorAll('script[type="application/geo+json"][id], script[type="application/json"][id]').forEach(
      function (node) {
        swapped[node.id] = node.textContent;
      }
    );
  });

  function readData(id) {
    var node = document.getElementById(id);
    var text = node ? node.textContent : swapped[id];
    delete swapped[id];
    if (!text) return null;
    try {
      return JSON.parse(text);
    } catch (e) {
      return null;
    }
  }
  portal.readData = readData;

  function basemapLayer(url) {
    return new ol.layer.Vector({
      source: new ol.source.Vector({
        url: url,
        format: new ol.format.GeoJSON(),
        attributions: 'Contours : IGN Admin Express 2018 (Licence Ouverte)'
      }),
      style: new ol.style.Style({
        fill: new ol.style.Fill({ color: '#f6f6f6' }),
        stroke: new ol.style.Stroke({ color: '#929292', width: 1 })
      })
    });
  }

  /* The yearly coverage grid (243 cells of 52 km), off until the toggle under the map asks
     for it: fetched then, not with the page. */
  function coverageGrid(map) {
    var toggle = document.getElementById('grille-couverture');
    if (!toggle) return;
    var layer = null;
    function show() {
      if (toggle.checked && !layer) {
        layer = new ol.layer.Vector({
          source: new ol.source.Vector({ url: toggle.getAttribute('data-grid'), format: new ol.format.GeoJSON() }),
          style: new ol.style.Style({ stroke: new ol.style.Stroke({ color: '#6a6af4', width: 1, lineDash: [4, 4] }) })
        });
        map.getLayers().insertAt(1, layer);
        portal.grid = layer;
      }
      if (layer) layer.setVisible(toggle.checked);
    }
    toggle.addEventListener('change', show);
    show();
  }

  function createMap(target) {
    var lang = document.documentElement.lang === 'en' ? 'en' : 'fr';
    var footprints = new ol.source.Vector();
    var map = new ol.Map({
      target: target,
      layers: [
        basemapLayer(target.getAttribute('data-basemap')),
        new ol.layer.Vector({
          source: footprints,
          style: new ol.style.Style({
            fill: new ol.style.Fill({ color: FOOTPRINT_FILL }),
            stroke: new ol.style.Stroke({ color: FOOTPRINT_STROKE, width: 2 })
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
    portal.map = map;
    portal.footprints = footprints;
    coverageGrid(map);
    // The first complete render (basemap and footprints drawn), read by the browser tests
    // and bench/portal: <html data-carte="prete" data-carte-ms="...">.
    map.once('rendercomplete', function () {
      document.documentElement.dataset.carteMs = String(Math.round(performance.now()));
      document.documentElement.dataset.carte = 'prete';
    });
    return map;
  }

  function showFootprints(data, fit) {
    if (!portal.map || !data) return;
    var format = new ol.format.GeoJSON();
    var features = format.readFeatures(data, { featureProjection: 'EPSG:3857' });
    portal.footprints.clear();
    portal.footprints.addFeatures(features);
    if (fit && features.length) {
      portal.map.getView().fit(portal.footprints.getExtent(), {
        padding: [30, 30, 30, 30],
        maxZoom: 13,
        duration: 0
      });
    }
  }

  function bboxFromView() {
    var extent = portal.map.getView().calculateExtent(portal.map.getSize());
    var lonlat = ol.proj.transformExtent(extent, 'EPSG:3857', 'EPSG:4326');
    return lonlat
      .map(function (v, i) {
        var limit = i % 2 === 0 ? 180 : 90;
        return Math.max(-limit, Math.min(limit, v)).toFixed(4);
      })
      .join(',');
  }

  portal.footprintCount = function () {
    return portal.footprints ? portal.footprints.getFeatures().length : 0;
  };

  /* The pixel of the map where a footprint is drawn (its extent's centre), for tests. */
  portal.footprintPixel = function (id) {
    var feature = portal.footprints && portal.footprints.getFeatureById(id);
    if (!feature) return null;
    return portal.map.getPixelFromCoordinate(ol.extent.getCenter(feature.getGeometry().getExtent()));
  };

  function start() {
    var target = document.getElementById('carte');
    if (!target || typeof ol === 'undefined') return;
    createMap(target);
    var scene = readData('empreinte-scene');
    if (scene) {
      showFootprints({ type: 'FeatureCollection', features: [scene] }, true);
      return;
    }
    var bbox = document.getElementById('bbox');
    /* The searched area frames the map; without one, the footprints found do. */
    function frame() {
      var area = ((bbox && bbox.value) || target.getAttribute('data-bbox') || '').split(',');
      var numbers = area.map(Number);
      var hasArea = area.length === 4 && numbers.every(function (v) { return area[0] !== '' && isFinite(v); });
      if (hasArea) {
        var extent = ol.proj.transformExtent(numbers, 'EPSG:4326', 'EPSG:3857');
        portal.map.getView().fit(extent, { padding: [20, 20, 20, 20], duration: 0 });
      }
      /* A drawn or imported zone frames the map itself (aoi.js): the footprints do not. */
      var zoneActive = Boolean(document.getElementById('zone'));
      showFootprints(readData('empreintes'), !hasArea && !zoneActive);
    }
    frame();
    var useView = document.getElementById('vue-carte');
    if (useView && bbox) {
      useView.hidden = false;
      useView.addEventListener('click', function () {
        bbox.value = bboxFromView();
        bbox.focus();
      });
    }
    document.body.addEventListener('htmx:afterSwap', function (event) {
      if (event.detail && event.detail.target && event.detail.target.id === 'resultats') {
        frame();
      }
    });
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', start);
  } else {
    start();
  }
})();
