/* DINAMIS portal: the AOI tools on the Rechercher map (OpenLayers Draw/Modify).
 * Every tool is a real <button>; drawing itself needs a pointer, and the keyboard path is
 * the paste box and the file input (same review step). A drawn or edited shape is sent,
 * as GeoJSON in WGS 84, to the server's review (POST /zone/analyser, htmx): the area,
 * errors and the "use this area" link all come from the server. The review's polygons
 * are drawn back (editable) and the active search area is drawn in its own style.
 * A click on a footprint opens a popup with the scene and the share of my area covered. */
(function () {
  'use strict';

  var AOI_STROKE = '#ce0500'; /* DSFR red Marianne: distinct from the footprints' blue */
  var AOI_FILL = 'rgba(206, 5, 0, 0.08)';
  var state = { draw: null, modify: null, source: null, active: null, popup: null };

  /* Data blocks, also those of a swapped fragment (htmx strips scripts: portal.js keeps them). */
  function readData(id) {
    return window.dinamisPortal && window.dinamisPortal.readData ? window.dinamisPortal.readData(id) : null;
  }

  function byId(id) {
    return document.getElementById(id);
  }

  function lang() {
    return document.documentElement.lang === 'en' ? 'en' : 'fr';
  }

  function setPressed(id, on) {
    var button = byId(id);
    if (button) button.setAttribute('aria-pressed', on ? 'true' : 'false');
  }

  function stopDrawing() {
    var map = window.dinamisPortal.map;
    if (state.draw) {
      map.removeInteraction(state.draw);
      state.draw = null;
    }
    setPressed('dessiner-rectangle', false);
    setPressed('dessiner-polygone', false);
  }

  function stopModify() {
    if (state.modify) {
      window.dinamisPortal.map.removeInteraction(state.modify);
      state.modify = null;
    }
    setPressed('modifier-sommets', false);
  }

  /* The drawing as GeoJSON (WGS 84) into the paste box, then the server's review. */
  function review() {
    var features = state.source.getFeatures();
    if (!features.length) return;
    var format = new ol.format.GeoJSON();
    var text = format.writeFeatures(features, {
      dataProjection: 'EPSG:4326',
      featureProjection: 'EPSG:3857',
      decimals: 6
    });
    var box = byId('zone-texte');
    var form = byId('form-coller');
    if (!box || !form) return;
    box.value = text;
    if (typeof form.requestSubmit === 'function') {
      form.requestSubmit();
    } else {
      form.dispatchEvent(new Event('submit', { cancelable: true, bubbles: true }));
    }
  }

  function startDrawing(kind) {
    var map = window.dinamisPortal.map;
    stopDrawing();
    stopModify();
    var options = { source: state.source, type: kind === 'box' ? 'Circle' : 'Polygon' };
    if (kind === 'box') options.geometryFunction = ol.interaction.Draw.createBox();
    state.draw = new ol.interaction.Draw(options);
    state.draw.on('drawstart', function () {
      state.source.clear();
    });
    state.draw.on('drawend', function () {
      /* The feature is added after this event: review once it is in the source. */
      window.setTimeout(function () {
        stopDrawing();
        review();
      }, 0);
    });
    map.addInteraction(state.draw);
    setPressed(kind === 'box' ? 'dessiner-rectangle' : 'dessiner-polygone', true);
    byId('aide-dessin').hidden = false;
  }

  function toggleModify() {
    var map = window.dinamisPortal.map;
    if (state.modify) {
      stopModify();
      return;
    }
    stopDrawing();
    state.modify = new ol.interaction.Modify({ source: state.source });
    state.modify.on('modifyend', review);
    map.addInteraction(state.modify);
    setPressed('modifier-sommets', true);
  }

  function showGeoJSON(source, data, fit) {
    if (!data) return;
    var format = new ol.format.GeoJSON();
    var features = format.readFeatures(data, { featureProjection: 'EPSG:3857' });
    source.clear();
    source.addFeatures(features);
    if (fit && features.length) {
      window.dinamisPortal.map.getView().fit(source.getExtent(), {
        padding: [30, 30, 30, 30],
        maxZoom: 14,
        duration: 0
      });
    }
  }

  function aoiLayer(source, dashed) {
    return new ol.layer.Vector({
      source: source,
      style: new ol.style.Style({
        fill: new ol.style.Fill({ color: AOI_FILL }),
        stroke: new ol.style.Stroke({ color: AOI_STROKE, width: 2, lineDash: dashed ? [6, 4] : undefined })
      })
    });
  }

  function setupPopup(map) {
    var element = byId('popup-carte');
    if (!element) return;
    state.popup = new ol.Overlay({ element: element, autoPan: true, positioning: 'bottom-center', offset: [0, -8] });
    map.addOverlay(state.popup);
    byId('popup-fermer').addEventListener('click', function () {
      element.hidden = true;
      state.popup.setPosition(undefined);
    });
    map.on('singleclick', function (event) {
      if (state.draw || state.modify) return;
      var found = null;
      map.forEachFeatureAtPixel(event.pixel, function (feature) {
        if (window.dinamisPortal.footprints.hasFeature(feature)) {
          found = feature;
          return true;
        }
        return false;
      });
      if (!found) {
        element.hidden = true;
        state.popup.setPosition(undefined);
        return;
      }
      var covered = found.get('covered');
      var text = String(found.getId());
      if (covered !== null && covered !== undefined) {
        var value = Math.floor(covered * 1000) / 10;
        var shown = lang() === 'fr' ? String(value).replace('.', ',') + '\u00a0%' : value + '%';
        text += (lang() === 'fr' ? ' — part de ma zone couverte : ' : ' — share of my area covered: ') + shown;
      }
      byId('popup-texte').textContent = text;
      element.hidden = false;
      state.popup.setPosition(event.coordinate);
    });
  }

  function start() {
    var portal = window.dinamisPortal;
    if (!portal || !portal.map || typeof ol === 'undefined') return;
    var map = portal.map;
    state.source = new ol.source.Vector();
    state.active = new ol.source.Vector();
    map.addLayer(aoiLayer(state.active, true));
    map.addLayer(aoiLayer(state.source, false));
    var active = readData('zone-active');
    if (active) showGeoJSON(state.active, active, true);
    setupPopup(map);

    var tools = byId('outils-dessin');
    if (tools) tools.hidden = false;
    byId('dessiner-rectangle').addEventListener('click', function () {
      startDrawing('box');
    });
    byId('dessiner-polygone').addEventListener('click', function () {
      startDrawing('polygon');
    });
    byId('modifier-sommets').addEventListener('click', toggleModify);
    byId('effacer-dessin').addEventListener('click', function () {
      stopDrawing();
      stopModify();
      state.source.clear();
      var box = byId('zone-texte');
      if (box) box.value = '';
      var revue = byId('revue-zone');
      if (revue) revue.textContent = '';
    });
    document.addEventListener('keydown', function (event) {
      if (event.key === 'Escape' && state.draw) {
        stopDrawing();
      }
    });
    /* Typing a bbox replaces the drawn/imported area (the server refuses both). */
    var bbox = byId('bbox');
    if (bbox) {
      bbox.addEventListener('input', function () {
        var block = byId('zone-active-bloc');
        if (block && bbox.value.trim()) block.parentNode.removeChild(block);
      });
    }
    document.body.addEventListener('htmx:afterSwap', function (event) {
      var target = event.detail && event.detail.target;
      if (target && target.id === 'revue-zone') {
        var reviewed = readData('zone-revue');
        if (reviewed && reviewed.features && reviewed.features.length) {
          showGeoJSON(state.source, reviewed, true);
        }
        var title = byId('titre-revue');
        if (title) title.focus();
      }
    });

    /* For tests: how many drawn/reviewed and active AOI features the map holds. */
    portal.aoiCount = function () {
      return { drawn: state.source.getFeatures().length, active: state.active.getFeatures().length };
    };
    /* For tests: the map pixel of a vertex of the drawn/reviewed area. */
    portal.aoiVertexPixel = function (index) {
      var feature = state.source.getFeatures()[0];
      if (!feature) return null;
      var geometry = feature.getGeometry();
      var polygon = geometry.getType() === 'MultiPolygon' ? geometry.getPolygon(0) : geometry;
      var ring = polygon.getLinearRing(0).getCoordinates();
      return map.getPixelFromCoordinate(ring[index % (ring.length - 1)]);
    };
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', start);
  } else {
    start();
  }
})();
