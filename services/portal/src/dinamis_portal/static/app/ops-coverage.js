/* The yearly coverage board (/ops/couverture/<year>): the cells on a map (colour AND
   symbol by state), and the live stream of the cells' changes: each change redraws its
   cell, fetches its table row and the summary (progress, chart) again from the server,
   and is announced to screen readers. The stream reconnects by itself (EventSource,
   Last-Event-ID = the last change's revision). */
(function () {
  'use strict';
  var dataNode = document.getElementById('cov-data');
  if (!dataNode) return;
  var data = JSON.parse(dataNode.textContent);
  var cells = data.cells || {};
  var COLORS = {
    'planned': '#e5e5e5',
    'acquired': '#a3c4f3',
    'ingested': '#6a6af4',
    'published': '#18753c',
    'rejected': '#ce0500',
    'too-cloudy': '#b34000',
    're-tasked': '#fcc63a'
  };
  var labels = {};
  var texts = {};
  document.querySelectorAll('#cov-labels [data-state]').forEach(function (n) { labels[n.getAttribute('data-state')] = n.textContent; });
  document.querySelectorAll('#cov-labels [data-text]').forEach(function (n) { texts[n.getAttribute('data-text')] = n.textContent; });

  var gridSource = null;
  var styles = {};
  function styleOf(state) {
    if (!styles[state]) {
      styles[state] = new ol.style.Style({
        fill: new ol.style.Fill({ color: hexAlpha(COLORS[state] || '#ffffff', 0.55) }),
        stroke: new ol.style.Stroke({ color: '#3a3a3a', width: 0.6 }),
        text: new ol.style.Text({
          text: (data.symbols || {})[state] || '',
          overflow: true,
          font: 'bold 13px Marianne, arial, sans-serif',
          fill: new ol.style.Fill({ color: '#161616' }),
          stroke: new ol.style.Stroke({ color: '#ffffff', width: 3 })
        })
      });
    }
    return styles[state];
  }
  function hexAlpha(hex, alpha) {
    var n = parseInt(hex.slice(1), 16);
    return 'rgba(' + ((n >> 16) & 255) + ',' + ((n >> 8) & 255) + ',' + (n & 255) + ',' + alpha + ')';
  }

  function createMap(target) {
    gridSource = new ol.source.Vector({ url: data.grid, format: new ol.format.GeoJSON() });
    new ol.Map({
      target: target,
      layers: [
        new ol.layer.Vector({
          source: new ol.source.Vector({ url: data.regions, format: new ol.format.GeoJSON() }),
          style: new ol.style.Style({
            fill: new ol.style.Fill({ color: '#f6f6f6' }),
            stroke: new ol.style.Stroke({ color: '#929292', width: 1 })
          })
        }),
        new ol.layer.Vector({
          source: gridSource,
          style: function (feature) {
            var cell = cells[String(feature.get('maille'))];
            return styleOf(cell ? cell.state : 'planned');
          }
        })
      ],
      view: new ol.View({ center: ol.proj.fromLonLat([2.5, 46.6]), zoom: 5.2 })
    });
  }

  var target = document.getElementById('cov-map');
  if (target && typeof ol !== 'undefined') createMap(target);

  function fetchText(url) {
    return fetch(url, { credentials: 'same-origin', headers: { 'HX-Request': 'true' } }).then(function (r) {
      if (!r.ok) throw new Error('HTTP ' + r.status);
      return r.text();
    });
  }
  function fragment(html, selector) {
    var tpl = document.createElement('template');
    tpl.innerHTML = html;
    return tpl.content.querySelector(selector);
  }

  var table = document.getElementById('cov-table');
  function refreshRow(cell) {
    if (!table) return;
    var row = document.getElementById('maille-' + cell.cell);
    var stateFilter = table.getAttribute('data-state-filter');
    var regionFilter = table.getAttribute('data-region-filter');
    var shown = (!stateFilter || stateFilter === cell.state) && (!regionFilter || regionFilter === cell.region);
    if (!shown) {
      if (row) row.remove();
      return;
    }
    var base = window.location.pathname.replace(/\/$/, '');
    fetchText(base + '/mailles/' + encodeURIComponent(cell.cell) + window.location.search).then(function (html) {
      var fresh = fragment(html, 'tr');
      if (!fresh) return;
      var current = document.getElementById('maille-' + cell.cell);
      if (current) current.replaceWith(fresh);
      else table.querySelector('tbody').appendChild(fresh);
    }).catch(function () { /* the next change or a reload shows it */ });
  }

  var summaryTimer = null;
  var summaryHost = document.getElementById('cov-summary-host');
  function refreshSummary() {
    if (!summaryHost || summaryTimer) return;
    summaryTimer = window.setTimeout(function () {
      summaryTimer = null;
      fetchText(summaryHost.getAttribute('data-url') + window.location.search).then(function (html) {
        var fresh = fragment(html, '#couverture-synthese');
        var current = document.getElementById('couverture-synthese');
        if (fresh && current) current.replaceWith(fresh);
      }).catch(function () { /* kept as it was */ });
    }, 400);
  }

  var announce = document.getElementById('cov-announce');
  var live = document.getElementById('cov-live');
  var liveState = document.getElementById('cov-live-state');
  function setLive(on) {
    if (!live || !liveState) return;
    liveState.textContent = live.getAttribute(on ? 'data-on' : 'data-off');
    live.classList.toggle('fr-badge--success', on);
    live.classList.toggle('fr-badge--info', !on);
  }

  if (typeof window.EventSource !== 'function') return;
  var source = new EventSource(data.stream + '?depuis=' + encodeURIComponent(String(data.rev || 0)));
  source.addEventListener('open', function () { setLive(true); });
  source.addEventListener('error', function () { setLive(false); });
  source.addEventListener('cell', function (e) {
    var cell;
    try { cell = JSON.parse(e.data); } catch (err) { return; }
    if (!cell || typeof cell.cell !== 'number' || !COLORS[cell.state]) return;
    cells[String(cell.cell)] = cell;
    if (gridSource) gridSource.changed();
    refreshRow(cell);
    refreshSummary();
    if (announce && texts.changed) {
      announce.textContent = texts.changed.replace('{cell}', String(cell.cell)).replace('{state}', labels[cell.state] || cell.state);
    }
    if (document.body) document.body.setAttribute('data-cov-rev', e.lastEventId || '');
  });
  source.addEventListener('session-ended', function () { source.close(); setLive(false); });
  window.addEventListener('pagehide', function () { source.close(); });
})();
