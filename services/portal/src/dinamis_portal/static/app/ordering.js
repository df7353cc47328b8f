/* DINAMIS portal: live events for the logged-in user (the portal relays notify's stream
 * at /evenements: the browser never talks to notify, the token stays on the server),
 * the notification bell's unread count, and the order page updated in place.
 * No inline script (CSP); texts come from data attributes rendered by the server. */
(function () {
  'use strict';

  var bell = document.getElementById('cloche');
  if (!bell || typeof window.EventSource !== 'function') return;
  var badge = document.getElementById('cloche-compte');
  var bellLive = document.getElementById('cloche-annonce');
  var unread = 0;
  var ORDER_EVENTS = ['product-ready', 'product-failed'];
  var BELL_EVENTS = ORDER_EVENTS.concat([
    'request-submitted', 'request-approved', 'request-rejected', 'request-updated', 'organisation-changed'
  ]);

  function showCount(n, announce) {
    unread = n;
    badge.textContent = String(n);
    badge.classList.toggle('fr-hidden', n <= 0);
    var label = (bell.getAttribute('data-unread') || '{count}').replace('{count}', String(n));
    badge.setAttribute('title', label);
    if (announce && n > 0) bellLive.textContent = label;
  }

  fetch(bell.getAttribute('data-count-url'), { credentials: 'same-origin', headers: { Accept: 'application/json' } })
    .then(function (r) { return r.ok ? r.json() : null; })
    .then(function (body) { if (body && typeof body.unread === 'number') showCount(body.unread, false); })
    .catch(function () {});

  /* The order page: re-render its state part when one of its products is reported. */
  var live = document.getElementById('commande-en-direct');
  var announce = document.getElementById('annonce-commande');
  var retries = 0;

  function refreshOrder(wantReady) {
    if (!live) return;
    fetch(live.getAttribute('data-fragment'), { credentials: 'same-origin', headers: { 'HX-Request': 'true' } })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (html === null) return;
        var before = document.getElementById('statut-commande');
        var beforeText = before ? before.textContent : '';
        live.innerHTML = html; /* server-rendered, autoescaped fragment of this site */
        var state = document.getElementById('etat-commande');
        var after = document.getElementById('statut-commande');
        if (after && after.textContent !== beforeText) {
          announce.textContent = (live.getAttribute('data-announce') || '') + ' ' + after.textContent;
        }
        /* The orders service may record the product a moment after notify reports it. */
        var pending = state ? parseInt(state.getAttribute('data-pending') || '0', 10) : 0;
        if (wantReady && pending > 0 && retries < 10) {
          retries += 1;
          window.setTimeout(function () { refreshOrder(true); }, 1000);
        }
      })
      .catch(function () {});
  }

  var source = new EventSource(bell.getAttribute('data-stream-url'));
  BELL_EVENTS.forEach(function (name) {
    source.addEventListener(name, function (message) {
      var data = {};
      try { data = JSON.parse(message.data) || {}; } catch (e) { data = {}; }
      showCount(unread + 1, true);
      var about = (data.data || {}).order_id;
      if (live && ORDER_EVENTS.indexOf(name) >= 0 && about === live.getAttribute('data-order')) {
        retries = 0;
        refreshOrder(true);
      }
    });
  });
  source.addEventListener('session-ended', function () { source.close(); });
  source.addEventListener('revoked', function () { source.close(); });
  window.addEventListener('pagehide', function () { source.close(); });
  window.dinamisEvents = source;
})();
