/* The page's behaviour: uploads (one multipart POST for small files, tus for large ones so
 * they survive a reload), the dashboard (node and peers, a per-day chart drawn as SVG, a file
 * browser) and the language. Every URL is relative to the page, so the same page works under
 * /<group>/ and, without group management, under /. No server text is ever parsed as HTML. */
(function () {
  'use strict';

  var MiB = 1024 * 1024;
  var BASE = location.pathname.replace(/[^/]*$/, '');
  var TUS_ENDPOINT = new URL(BASE + 'big/upload/', location.href).href;
  var CONCURRENCY = 3;
  var LIST_LIMIT = 100;
  var STATUS_EVERY_MS = 5000;
  var CHART_DAYS = 30;

  function $(id) { return document.getElementById(id); }

  /* ---- storage that tolerates browsers where it is disabled ---- */
  function storage(kind) {
    try { var s = window[kind]; s.getItem('fs.probe'); return s; } catch (e) { return null; }
  }
  var LS = storage('localStorage'), SS = storage('sessionStorage');
  function sget(s, k, dflt) {
    try { var v = s ? s.getItem(k) : null; return v === null ? dflt : v; } catch (e) { return dflt; }
  }
  function sset(s, k, v) {
    try { if (!s) return; if (v === null || v === '') s.removeItem(k); else s.setItem(k, v); } catch (e) { /* full or denied */ }
  }

  /* ---- language ---- */
  var lang = sget(LS, 'fs.lang', '');
  if (lang !== 'en' && lang !== 'zh') lang = /^zh/i.test(navigator.language || '') ? 'zh' : 'en';
  function locale() { return lang === 'zh' ? 'zh-CN' : 'en'; }
  function t(key, vars) {
    var s = (I18N[lang] && I18N[lang][key]) || I18N.en[key] || key;
    if (!vars) return s;
    return s.replace(/\{(\w+)\}/g, function (m, k) { return Object.prototype.hasOwnProperty.call(vars, k) ? String(vars[k]) : m; });
  }
  function applyLang() {
    document.documentElement.lang = locale();
    document.querySelectorAll('[data-i18n]').forEach(function (el) { el.textContent = t(el.getAttribute('data-i18n')); });
    document.querySelectorAll('[data-i18n-ph]').forEach(function (el) { el.placeholder = t(el.getAttribute('data-i18n-ph')); });
    document.querySelectorAll('[data-i18n-title]').forEach(function (el) { el.title = t(el.getAttribute('data-i18n-title')); });
    $('lang-switch').textContent = t('lang.other');
    items.forEach(renderItem);
    renderPending();
    renderDashboard();
  }

  /* ---- small helpers ---- */
  function h(tag, props, kids) {
    var el = document.createElement(tag);
    for (var k in props || {}) {
      var v = props[k];
      if (v === null || v === undefined || v === false) continue;
      if (k === 'class') el.className = v;
      else if (k === 'text') el.textContent = v;
      else if (k.slice(0, 2) === 'on') el.addEventListener(k.slice(2), v);
      else el.setAttribute(k, v === true ? '' : v);
    }
    (kids || []).forEach(function (c) { if (c !== null && c !== undefined) el.append(c); });
    return el;
  }
  var SVGNS = 'http://www.w3.org/2000/svg';
  function s(tag, attrs, kids) {
    var el = document.createElementNS(SVGNS, tag);
    for (var k in attrs || {}) el.setAttribute(k, attrs[k]);
    (kids || []).forEach(function (c) { el.append(c); });
    return el;
  }
  function fmtBytes(n) {
    if (typeof n !== 'number' || !isFinite(n)) return '–';
    var u = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'], i = 0;
    while (Math.abs(n) >= 1024 && i < u.length - 1) { n /= 1024; i++; }
    return (i === 0 ? String(Math.round(n)) : n.toFixed(Math.abs(n) < 10 ? 2 : Math.abs(n) < 100 ? 1 : 0)) + ' ' + u[i];
  }
  function fmtNum(n) { return typeof n === 'number' ? new Intl.NumberFormat(locale()).format(n) : '–'; }
  function fmtPct(f) { return Math.floor(Math.max(0, Math.min(1, f)) * 100) + '%'; }
  function fmtTime(sec) { return sec ? new Date(sec * 1000).toLocaleString(locale()) : '–'; }
  function fmtAgo(ms) {
    var d = (ms - Date.now()) / 1000, a = Math.abs(d);
    var rtf = new Intl.RelativeTimeFormat(locale(), { numeric: 'auto' });
    if (a < 60) return rtf.format(Math.round(d), 'second');
    if (a < 3600) return rtf.format(Math.round(d / 60), 'minute');
    if (a < 86400) return rtf.format(Math.round(d / 3600), 'hour');
    return rtf.format(Math.round(d / 86400), 'day');
  }
  function fmtDuration(sec) {
    sec = Math.max(0, Math.floor(sec || 0));
    var d = Math.floor(sec / 86400), hh = Math.floor(sec % 86400 / 3600), m = Math.floor(sec % 3600 / 60);
    if (d) return t('dur.dhm', { d: d, h: hh, m: m });
    if (hh) return t('dur.hm', { h: hh, m: m });
    return t('dur.ms', { m: m, s: sec % 60 });
  }
  function encPath(p) { return p.split('/').filter(Boolean).map(encodeURIComponent).join('/'); }

  /* The text for a failed request: the server's JSON message when there is one
   * ({"status":"fail","message":...}), else the start of the body without markup. */
  function errorText(status, body) {
    if (!status) return t('err.network');
    var msg = '';
    try {
      var j = JSON.parse(body);
      if (j && typeof j.message === 'string') msg = j.message;
    } catch (e) { /* not JSON */ }
    if (!msg && body) msg = String(body).replace(/<[^>]*>/g, ' ').replace(/\s+/g, ' ').trim().slice(0, 300);
    return t('err.http', { status: status }) + (msg ? ': ' + msg : '');
  }

  function request(method, path, headers) {
    return fetch(BASE + path, { method: method, headers: headers || {}, cache: 'no-store', credentials: 'same-origin' })
      .then(function (r) { return r.text().then(function (b) { return { status: r.status, body: b }; }); })
      .catch(function () { return { status: 0, body: '' }; });
  }
  /* {data} on {"status":"ok"}, else {err} with the text to show */
  function envelope(res) {
    if (res.status === 200) {
      try {
        var j = JSON.parse(res.body);
        if (j && j.status === 'ok') return { data: j.data };
      } catch (e) { /* fall through */ }
      return { err: t('err.badjson') };
    }
    return { err: errorText(res.status, res.body), status: res.status };
  }

  /* ---- tabs ---- */
  function currentTab() { return location.hash === '#dashboard' ? 'dashboard' : 'upload'; }
  function showTab() {
    var tab = currentTab();
    ['upload', 'dashboard'].forEach(function (n) {
      $('view-' + n).hidden = n !== tab;
      $('tab-' + n).setAttribute('aria-selected', String(n === tab));
    });
    if (tab === 'dashboard') dashboardOpen(); else dashboardClose();
  }

  /* ================================ uploads ================================ */
  var items = [];
  var nextId = 1;

  function num(id, dflt) {
    var v = parseFloat($(id).value);
    return isFinite(v) && v >= 0 ? v : dflt;
  }
  function options() {
    return {
      scene: $('opt-scene').value.trim(), path: $('opt-path').value.trim(),
      token: $('opt-token').value.trim(), code: $('opt-code').value.trim(),
      threshold: num('opt-threshold', 8), chunk: num('opt-chunk', 0)
    };
  }
  var SAVED = [['opt-scene', LS, 'fs.scene'], ['opt-path', LS, 'fs.path'], ['opt-threshold', LS, 'fs.threshold'],
    ['opt-chunk', LS, 'fs.chunk'], ['opt-token', SS, 'fs.token']];
  function loadOptions() {
    SAVED.forEach(function (o) { var v = sget(o[1], o[2], null); if (v !== null) $(o[0]).value = v; });
  }
  function saveOptions() { SAVED.forEach(function (o) { sset(o[1], o[2], $(o[0]).value.trim()); }); }

  function addFiles(list) {
    var o = options();
    var tusOk = !!(window.tus && window.tus.isSupported);
    Array.prototype.forEach.call(list, function (f) {
      var it = {
        id: nextId++, file: f, opts: o, state: 'queued', loaded: 0, total: f.size, samples: [], speed: 0,
        url: '', error: '', resumedAt: -1, started: 0, finished: 0, xhr: null, upload: null, el: null,
        method: tusOk && f.size > 0 && f.size >= o.threshold * MiB ? 'tus' : 'form'
      };
      items.push(it);
      buildItem(it);
    });
    $('queue-card').hidden = items.length === 0;
    pump();
  }

  function pump() {
    var active = items.filter(function (i) { return i.state === 'uploading' || i.state === 'processing'; }).length;
    items.forEach(function (it) {
      if (active >= CONCURRENCY || it.state !== 'queued') return;
      active++;
      if (it.method === 'tus') startTus(it); else startForm(it);
    });
    updateUnloadGuard();
  }

  function setState(it, st) {
    it.state = st;
    if (st === 'done' || st === 'error' || st === 'cancelled') it.finished = performance.now();
    renderItem(it);
    if (st !== 'uploading' && st !== 'processing') pump();
  }
  function progress(it, loaded) {
    var now = performance.now();
    it.loaded = loaded;
    it.samples.push([now, loaded]);
    while (it.samples.length > 2 && now - it.samples[0][0] > 3000) it.samples.shift();
    var a = it.samples[0], b = it.samples[it.samples.length - 1];
    it.speed = b[0] - a[0] > 200 ? (b[1] - a[1]) / ((b[0] - a[0]) / 1000) : it.speed;
    renderItem(it);
  }
  function finish(it, url) {
    it.url = url;
    it.loaded = it.total;
    setState(it, 'done');
    if (it.method === 'tus') refreshPending();
  }
  function fail(it, msg) {
    it.error = msg;
    setState(it, 'error');
    if (it.method === 'tus') refreshPending();
  }

  /* small files: one multipart POST; XMLHttpRequest because fetch has no upload progress */
  function startForm(it) {
    var o = it.opts, fd = new FormData();
    fd.append('output', 'json2');
    if (o.scene) fd.append('scene', o.scene);
    if (o.path) fd.append('path', o.path);
    if (o.code) fd.append('code', o.code);
    if (o.token) fd.append('auth_token', o.token);
    fd.append('file', it.file, it.file.name);
    var x = new XMLHttpRequest();
    it.xhr = x;
    x.open('POST', BASE + 'upload');
    if (o.token) x.setRequestHeader('Auth-Token', o.token);
    x.upload.onprogress = function (e) {
      if (e.lengthComputable && e.total > 0) progress(it, Math.min(it.total, e.loaded / e.total * it.total));
    };
    x.upload.onload = function () {
      if (it.state !== 'uploading') return;
      progress(it, it.total);
      setState(it, 'processing');
    };
    x.onload = function () {
      it.xhr = null;
      var r = envelope({ status: x.status, body: x.responseText });
      if (r.data && typeof r.data.url === 'string') finish(it, r.data.url);
      else fail(it, r.err || t('err.badjson'));
    };
    x.onerror = function () { it.xhr = null; fail(it, errorText(0)); };
    x.onabort = function () { it.xhr = null; if (it.state !== 'cancelled') setState(it, 'cancelled'); };
    it.started = performance.now();
    it.samples = [[it.started, 0]];
    setState(it, 'uploading');
    x.send(fd);
  }

  /* tus-js-client's localStorage entries outlive the tab: keep the auth token out of them
   * (the token still goes to the server, as header and metadata, on creation) */
  var tokenFreeStorage = null;
  function urlStorage() {
    var base = window.tus && tus.defaultOptions && tus.defaultOptions.urlStorage;
    if (!base || tokenFreeStorage) return tokenFreeStorage || undefined;
    tokenFreeStorage = {
      findAllUploads: function () { return base.findAllUploads(); },
      findUploadsByFingerprint: function (fp) { return base.findUploadsByFingerprint(fp); },
      removeUpload: function (key) { return base.removeUpload(key); },
      addUpload: function (fp, upload) {
        var meta = Object.assign({}, upload.metadata || {});
        delete meta.auth_token;
        return base.addUpload(fp, Object.assign({}, upload, { metadata: meta }));
      }
    };
    return tokenFreeStorage;
  }

  /* large files: tus, resumable. tus-js-client keeps each upload's URL in localStorage under
   * a fingerprint of the file (name, type, size, mtime, endpoint), so choosing the same file
   * after a reload continues at the server's offset. */
  function startTus(it) {
    var o = it.opts, meta = { filename: it.file.name };
    if (o.scene) meta.scene = o.scene;
    if (o.path) meta.path = o.path;
    if (o.token) meta.auth_token = o.token;
    var tusOptions = {
      endpoint: TUS_ENDPOINT,
      chunkSize: o.chunk > 0 ? Math.max(64 * 1024, Math.round(o.chunk * MiB)) : Infinity,
      retryDelays: [0, 1000, 3000, 5000],
      metadata: meta,
      headers: o.token ? { 'Auth-Token': o.token } : {},
      storeFingerprintForResuming: true,
      removeFingerprintOnSuccess: true,
      onProgress: function (sent, total) {
        if (it.state !== 'uploading') return;
        progress(it, sent);
        /* every byte is out: the server now hashes and stores the file */
        if (sent >= total) setState(it, 'processing');
      },
      onAfterResponse: function (req, res) {
        var u = res.getHeader('X-Fileserver-Url');
        if (u) it.url = u;
        /* a HEAD is how a resumed upload learns where the server stands */
        if (req.getMethod() === 'HEAD' && res.getStatus() < 300) {
          var off = parseInt(res.getHeader('Upload-Offset'), 10);
          if (off >= 0 && it.resumedAt < 0) {
            it.resumedAt = off;
            it.samples = [[performance.now(), off]];
            progress(it, off);
          }
        }
      },
      onSuccess: function () { tusDone(it, up); },
      onError: function (err) {
        var r = err && err.originalResponse;
        var st = r ? r.getStatus() : 0;
        fail(it, errorText(st, r ? r.getBody() : ''));
      }
    };
    if (urlStorage()) tusOptions.urlStorage = urlStorage();
    var up = new tus.Upload(it.file, tusOptions);
    it.upload = up;
    it.started = performance.now();
    it.samples = [[it.started, 0]];
    setState(it, 'uploading');
    up.findPreviousUploads().then(function (prev) {
      if (it.state !== 'uploading') return;
      if (prev.length) {
        prev.sort(function (a, b) { return String(b.creationTime).localeCompare(String(a.creationTime)); });
        up.resumeFromPreviousUpload(prev[0]);
      }
      up.start();
      refreshPending();
    });
  }
  /* The final PATCH (or the HEAD of an upload that had already finished) names the file in
   * X-Fileserver-Url; without it, the record is looked up by the tus id. */
  function tusDone(it, up) {
    if (it.url) return finish(it, it.url);
    setState(it, 'processing');
    var id = String(up.url || '').replace(/\/+$/, '').split('/').pop();
    request('GET', 'upload?md5=' + encodeURIComponent(id) + '&output=json2').then(function (res) {
      var r = envelope(res);
      if (r.data && r.data.url) finish(it, r.data.url);
      else fail(it, t('err.nourl') + (r.err ? ' (' + r.err + ')' : ''));
    });
  }

  function pauseItem(it) {
    if (it.method !== 'tus' || it.state !== 'uploading') return;
    it.upload.abort(false);
    setState(it, 'paused');
    refreshPending();
  }
  function resumeItem(it) {
    if (it.state !== 'paused') return;
    it.resumedAt = -1;
    it.samples = [[performance.now(), it.loaded]];
    setState(it, 'uploading');
    it.upload.start();
  }
  function cancelItem(it) {
    if (it.state === 'queued') return setState(it, 'cancelled');
    if (it.xhr) { setState(it, 'cancelled'); it.xhr.abort(); return; }
    if (it.upload && (it.state === 'uploading' || it.state === 'paused')) {
      setState(it, 'cancelled');
      /* terminate on the server and forget the fingerprint: a cancel is meant */
      it.upload.abort(true).catch(function () { /* the server may not have it */ }).then(refreshPending);
    }
  }
  function retryItem(it) {
    it.state = 'queued'; it.error = ''; it.loaded = 0; it.speed = 0; it.resumedAt = -1; it.url = '';
    it.opts = options();
    renderItem(it);
    pump();
  }
  function removeItem(it) {
    if (it.state === 'uploading' || it.state === 'processing' || it.state === 'paused') cancelItem(it);
    items = items.filter(function (x) { return x !== it; });
    if (it.el) it.el.remove();
    $('queue-card').hidden = items.length === 0;
  }

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) return navigator.clipboard.writeText(text);
    return new Promise(function (resolve, reject) {
      var ta = h('textarea', { style: 'position:fixed;top:-1000px', readonly: true });
      ta.value = text;
      document.body.append(ta);
      ta.select();
      var ok = false;
      try { ok = document.execCommand('copy'); } catch (e) { /* unsupported */ }
      ta.remove();
      if (ok) resolve(); else reject(new Error('copy'));
    });
  }

  function buildItem(it) {
    var el = h('li', { 'data-id': it.id, 'data-name': it.file.name }, [
      h('div', { class: 'item-head' }, [
        h('span', { class: 'method', text: it.method === 'tus' ? 'tus' : 'form' }),
        h('span', { class: 'item-name', text: it.file.name }),
        h('span', { class: 'item-size', text: fmtBytes(it.total) }),
        h('span', { class: 'item-actions' })
      ]),
      h('div', { class: 'progress-row' }, [
        h('div', { class: 'bar', role: 'progressbar', 'aria-valuemin': '0', 'aria-valuemax': '100', 'aria-valuenow': '0' },
          [h('div', { class: 'fill' })]),
        h('span', { class: 'pct', text: '0%' }),
        h('span', { class: 'speed' })
      ]),
      h('div', { class: 'item-status' }),
      h('div', { class: 'result', hidden: true }, [
        h('a', { class: 'url', target: '_blank', rel: 'noopener' }),
        h('button', { type: 'button', class: 'ghost small copy' })
      ])
    ]);
    el.querySelector('.copy').addEventListener('click', function (e) {
      var b = e.currentTarget;
      copyText(it.url).then(function () { b.textContent = t('item.copied'); b.dataset.copied = '1'; },
        function () { b.textContent = t('item.copyfail'); })
        .then(function () { setTimeout(function () { b.textContent = t('item.copy'); delete b.dataset.copied; }, 2000); });
    });
    it.el = el;
    $('queue').append(el);
    renderItem(it);
  }

  function renderItem(it) {
    var el = it.el;
    if (!el) return;
    el.className = it.state;
    el.setAttribute('data-state', it.state);
    var frac = it.total > 0 ? it.loaded / it.total : (it.state === 'done' ? 1 : 0);
    var pct = fmtPct(frac);
    el.querySelector('.fill').style.width = pct;
    el.querySelector('.bar').setAttribute('aria-valuenow', String(parseInt(pct, 10)));
    el.querySelector('.pct').textContent = pct;
    var sp = '';
    if (it.state === 'uploading' && it.speed > 0) sp = fmtBytes(it.speed) + '/s';
    el.querySelector('.speed').textContent = sp;

    var st = t('st.' + it.state);
    if (it.state === 'error') st += ': ' + it.error;
    if (it.resumedAt > 0 && it.total > 0 && (it.state === 'uploading' || it.state === 'done'))
      st += ' · ' + t('st.resumed', { pct: fmtPct(it.resumedAt / it.total) });
    if (it.state === 'done' && it.finished > it.started) {
      var sent = it.total - Math.max(0, it.resumedAt);
      var secs = (it.finished - it.started) / 1000;
      if (sent >= 256 * 1024 && secs > 0) st += ' · ' + t('st.avg', { speed: fmtBytes(sent / secs) + '/s' });
    }
    el.querySelector('.item-status').textContent = st;

    var res = el.querySelector('.result');
    res.hidden = !it.url || it.state !== 'done';
    var a = res.querySelector('a');
    if (it.url && a.getAttribute('href') !== it.url) { a.href = it.url; a.textContent = it.url; }
    var cb = res.querySelector('.copy');
    if (!cb.dataset.copied) cb.textContent = t('item.copy');

    /* buttons are rebuilt only when the state or the language changes: progress events
     * come many times a second, and a button replaced under the pointer loses its click */
    var acts = el.querySelector('.item-actions');
    var key = it.state + '/' + lang;
    if (acts.getAttribute('data-for') === key) return;
    acts.setAttribute('data-for', key);
    acts.textContent = '';
    function btn(action, fn) {
      acts.append(h('button', { type: 'button', class: 'ghost small', 'data-action': action, text: t('item.' + action), onclick: function () { fn(it); } }));
    }
    if (it.method === 'tus' && it.state === 'uploading') btn('pause', pauseItem);
    if (it.state === 'paused') btn('resume', resumeItem);
    if (it.state === 'queued' || it.state === 'uploading' || it.state === 'paused') btn('cancel', cancelItem);
    if (it.state === 'error' || it.state === 'cancelled') btn('retry', retryItem);
    if (it.state === 'done' || it.state === 'error' || it.state === 'cancelled') btn('remove', removeItem);
  }

  /* form uploads cannot continue after leaving the page; tus uploads can, so only the
   * former ask before the page goes away */
  function unloadGuard(e) { e.preventDefault(); e.returnValue = ''; return ''; }
  var guarded = false;
  function updateUnloadGuard() {
    var need = items.some(function (i) { return i.method === 'form' && (i.state === 'uploading' || i.state === 'processing'); });
    if (need !== guarded) {
      if (need) window.addEventListener('beforeunload', unloadGuard);
      else window.removeEventListener('beforeunload', unloadGuard);
      guarded = need;
    }
  }

  /* ---- interrupted tus uploads (tus-js-client's localStorage entries for this endpoint) ---- */
  var pending = [];
  var pendingSeq = 0;
  var pendingRecheck = 0;
  function tusEntries() {
    var out = [];
    if (!LS) return out;
    for (var i = 0; i < LS.length; i++) {
      var k = LS.key(i);
      if (!k || k.indexOf('tus::') !== 0 || k.indexOf(TUS_ENDPOINT) < 0) continue;
      try {
        var v = JSON.parse(LS.getItem(k));
        if (v && typeof v.uploadUrl === 'string') out.push({ key: k, info: v });
      } catch (e) { /* not ours */ }
    }
    return out;
  }
  function refreshPending() {
    var seq = ++pendingSeq;
    var busy = {};
    items.forEach(function (it) {
      if (it.upload && it.upload.url && (it.state === 'uploading' || it.state === 'processing' || it.state === 'paused')) busy[it.upload.url] = 1;
    });
    var list = tusEntries().filter(function (e) { return !busy[e.info.uploadUrl]; });
    Promise.all(list.map(function (e) {
      return fetch(e.info.uploadUrl, { method: 'HEAD', headers: { 'Tus-Resumable': '1.0.0' }, cache: 'no-store' })
        .then(function (r) {
          if (r.status === 404 || r.status === 410) { sset(LS, e.key, null); return null; }
          e.offset = r.ok ? parseInt(r.headers.get('Upload-Offset'), 10) : NaN;
          return e;
        }, function () { e.offset = NaN; return e; });
    })).then(function (res) {
      if (seq !== pendingSeq) return;
      pending = res.filter(Boolean);
      renderPending();
      /* right after a reload the server may not yet have seen the aborted PATCH end, and
       * still reports its offset from before it: ask again a little later */
      var stale = pending.some(function (e) { return !(e.offset > 0); });
      if (stale && pendingRecheck < 3) {
        pendingRecheck++;
        setTimeout(refreshPending, 1500);
      }
    });
  }
  function discardPending(e) {
    sset(LS, e.key, null);
    fetch(e.info.uploadUrl, { method: 'DELETE', headers: { 'Tus-Resumable': '1.0.0' } })
      .catch(function () { /* gone already */ }).then(refreshPending);
  }
  function renderPending() {
    var ul = $('pending-list');
    ul.textContent = '';
    pending.forEach(function (e) {
      var size = e.info.size;
      var meta = e.info.metadata || {};
      var state = isFinite(e.offset) && size > 0 ? t('pending.of', { pct: fmtPct(e.offset / size), size: fmtBytes(size) })
        : t('pending.size', { size: fmtBytes(size) });
      ul.append(h('li', { 'data-name': meta.filename || '' }, [
        h('span', { class: 'pname', text: meta.filename || e.info.uploadUrl }),
        h('span', { class: 'muted small', text: state }),
        h('button', { type: 'button', class: 'ghost small', text: t('pending.discard'), onclick: function () { discardPending(e); } })
      ]));
    });
    $('pending-card').hidden = pending.length === 0;
  }

  /* ================================ dashboard ================================ */
  var dash = { open: false, timer: 0, status: null, statusErr: '', stat: null, statErr: '', list: null, listErr: '', dir: '', offset: 0 };

  function adminHeaders() {
    var k = sget(SS, 'fs.adminKey', '');
    return k ? { 'X-Admin-Key': k } : {};
  }
  function adminError(r) {
    if (r.status === 403) return sget(SS, 'fs.adminKey', '') ? t('admin.refused') : t('admin.need');
    return r.err;
  }

  function loadStatus() {
    return request('GET', 'status').then(function (res) {
      var r = envelope(res);
      dash.status = r.data || null;
      dash.statusErr = r.err || '';
      renderStatus();
      renderFooter();
    });
  }
  function loadStat() {
    return request('GET', 'stat', adminHeaders()).then(function (res) {
      var r = envelope(res);
      dash.stat = Array.isArray(r.data) ? r.data : null;
      dash.statErr = r.err ? adminError(r) : (dash.stat ? '' : t('err.badjson'));
      renderStat();
    });
  }
  function loadList() {
    var q = 'list_dir?dir=' + encodeURIComponent(dash.dir) + '&offset=' + dash.offset + '&limit=' + LIST_LIMIT;
    return request('GET', q, adminHeaders()).then(function (res) {
      var r = envelope(res);
      dash.list = Array.isArray(r.data) ? r.data : null;
      dash.listErr = r.err ? adminError(r) : (dash.list ? '' : t('err.badjson'));
      renderList();
    });
  }
  function loadAll() { return Promise.all([loadStatus(), loadStat(), loadList()]); }

  function dashboardOpen() {
    if (dash.open) return;
    dash.open = true;
    loadAll();
    dash.timer = setInterval(function () { if (!document.hidden) loadStatus(); }, STATUS_EVERY_MS);
  }
  function dashboardClose() {
    dash.open = false;
    clearInterval(dash.timer);
  }
  function renderDashboard() {
    renderStatus();
    renderKeyState();
    renderStat();
    renderList();
    renderFooter();
  }

  function renderStatus() {
    var d = dash.status;
    var err = $('status-error');
    err.hidden = !dash.statusErr;
    err.textContent = dash.statusErr;
    var dl = $('node-info');
    dl.textContent = '';
    if (!d) { $('disk').hidden = true; return; }
    [['node.local', d['Fs.Local']], ['node.group', d['Fs.Group']], ['node.version', d['Fs.Version']],
      ['node.uptime', fmtDuration(d['Fs.Uptime'])], ['node.uploads', fmtNum(d['Fs.Uploads'])],
      ['node.downloads', fmtNum(d['Fs.Downloads'])], ['node.errors', fmtNum(d['Fs.Errors'])],
      ['node.inflight', fmtNum(d['Fs.InFlight'])], ['node.rss', typeof d['Sys.RssKiB'] === 'number' ? fmtBytes(d['Sys.RssKiB'] * 1024) : '–'],
      ['node.cpus', fmtNum(d['Sys.NumCpu'])]
    ].forEach(function (kv) {
      dl.append(h('div', { 'data-key': kv[0], class: kv[0] === 'node.local' ? 'wide' : null }, [h('dt', { text: t(kv[0]) }), h('dd', { text: kv[1] === undefined || kv[1] === '' ? '–' : String(kv[1]) })]));
    });
    var disk = d['Sys.DiskInfo'];
    $('disk').hidden = !disk || !disk.total;
    if (disk && disk.total) {
      $('disk-text').textContent = t('node.disktext', { used: fmtBytes(disk.used), total: fmtBytes(disk.total), free: fmtBytes(disk.free) });
      $('disk-fill').style.width = (100 * disk.used / disk.total).toFixed(1) + '%';
    }
    if (d['Fs.Group']) {
      $('group-badge').hidden = false;
      $('group-badge').textContent = d['Fs.Group'];
    }

    var peers = Array.isArray(d['Fs.PeerStatus']) ? d['Fs.PeerStatus'] : [];
    var tb = $('peers').querySelector('tbody');
    tb.textContent = '';
    $('peers-empty').hidden = peers.length > 0;
    $('peers').hidden = peers.length === 0;
    peers.forEach(function (p) {
      var state = !p.contacted ? ['idle', t('peers.new')] : p.reachable ? ['ok', t('peers.ok')] : ['bad', t('peers.down')];
      var peerCell = /^https?:\/\//.test(p.peer || '')
        ? h('a', { href: String(p.peer).replace(/\/+$/, '') + BASE + '#dashboard', text: p.peer })
        : document.createTextNode(p.peer || '');
      tb.append(h('tr', { 'data-peer': p.peer || '' }, [
        h('td', {}, [peerCell]),
        h('td', {}, [h('span', { class: 'pill ' + state[0], text: state[1] })]),
        h('td', { class: 'num', text: fmtNum(p.queue) }),
        h('td', { text: p.oldest_pending ? fmtAgo(p.oldest_pending * 1000) : '–' }),
        h('td', { text: p.last_ok_ms ? fmtAgo(p.last_ok_ms) : t('peers.never') }),
        h('td', { class: 'small', text: p.last_error || '–' })
      ]));
    });
  }
  function renderFooter() {
    var d = dash.status;
    $('footer-text').textContent = d ? t('footer', { version: d['Fs.Version'] || '', local: d['Fs.Local'] || '' }) : '';
  }
  function renderKeyState() {
    $('key-state').textContent = sget(SS, 'fs.adminKey', '') ? t('admin.stored') : t('admin.none');
    $('key-forget').disabled = !sget(SS, 'fs.adminKey', '');
  }

  /* ---- the per-day chart ---- */
  function ymdToUtc(s) { return Date.UTC(+s.slice(0, 4), +s.slice(4, 6) - 1, +s.slice(6, 8)); }
  function utcToYmd(ms) {
    var d = new Date(ms);
    return String(d.getUTCFullYear()) + String(d.getUTCMonth() + 1).padStart(2, '0') + String(d.getUTCDate()).padStart(2, '0');
  }
  function ymdLabel(s) { return s.slice(0, 4) + '-' + s.slice(4, 6) + '-' + s.slice(6, 8); }
  /* a round step of at least v: 1, 2, 2.5 or 5 times a power of ten (whole for counts) */
  function niceStep(v, whole) {
    if (!(v > 0)) return 1;
    var p = Math.pow(10, Math.floor(Math.log10(v))), m = v / p;
    var step = (m <= 1 ? 1 : m <= 2 ? 2 : m <= 2.5 && !(whole && p < 10) ? 2.5 : m <= 5 ? 5 : 10) * p;
    return whole ? Math.max(1, Math.ceil(step)) : step;
  }
  function renderStat() {
    var msg = $('stat-msg'), box = $('stat-charts'), total = $('stat-total');
    box.textContent = '';
    total.hidden = true;
    msg.hidden = !dash.statErr;
    msg.textContent = dash.statErr;
    if (!dash.stat) return;
    var rows = dash.stat.filter(function (r) { return r && /^\d{8}$/.test(r.date); });
    var all = dash.stat.filter(function (r) { return r && r.date === 'all'; })[0];
    if (all) {
      total.hidden = false;
      total.textContent = t('stat.total', { count: fmtNum(all.fileCount), size: fmtBytes(all.totalSize) });
    }
    if (!rows.length) { msg.hidden = false; msg.textContent = t('stat.empty'); return; }
    var by = {};
    rows.forEach(function (r) { by[r.date] = r; });
    var dates = rows.map(function (r) { return r.date; }).sort();
    var last = ymdToUtc(dates[dates.length - 1]);
    var first = Math.max(ymdToUtc(dates[0]), last - (CHART_DAYS - 1) * 86400000);
    var days = [];
    for (var ms = first; ms <= last; ms += 86400000) {
      var k = utcToYmd(ms), r = by[k];
      days.push({ date: k, count: r ? r.fileCount || 0 : 0, size: r ? r.totalSize || 0 : 0 });
    }
    box.append(chart(t('stat.count'), days, 'count', fmtNum, 'b1', 'stat.tip.count', false));
    box.append(chart(t('stat.size'), days, 'size', fmtBytes, 'b2', 'stat.tip.size', true));
  }
  function chart(title, days, field, fmt, cls, tip, binary) {
    var W = 360, H = 180, L = 52, R = 8, T = 10, B = 24;
    var max = Math.max.apply(null, days.map(function (d) { return d[field]; }));
    var unit = 1;
    if (binary) while (max / unit >= 1024) unit *= 1024;
    /* small counts step by whole numbers (0 3 6 9 12), the rest by round steps */
    var top = 4 * (!binary && max <= 20 ? Math.max(1, Math.ceil(max / 4)) : niceStep(max / unit / 4, !binary)) * unit;
    var svg = s('svg', { viewBox: '0 0 ' + W + ' ' + H, role: 'img', 'aria-label': title, 'data-field': field });
    for (var g = 0; g <= 4; g++) {
      var v = top * g / 4, y = T + (H - T - B) * (1 - g / 4);
      svg.append(s('line', { class: 'axis', x1: L, x2: W - R, y1: y, y2: y }));
      var lab = s('text', { x: L - 6, y: y + 3, 'text-anchor': 'end' });
      lab.textContent = binary ? fmtBytes(v) : fmtNum(v);
      svg.append(lab);
    }
    var n = days.length, slot = (W - L - R) / n, bw = Math.max(1, Math.min(28, slot * 0.7));
    days.forEach(function (d, i) {
      var hgt = (H - T - B) * (d[field] / top);
      var x = L + i * slot + (slot - bw) / 2;
      var rect = s('rect', { class: cls, x: x.toFixed(1), y: (H - B - hgt).toFixed(1), width: bw.toFixed(1), height: Math.max(0, hgt).toFixed(1), rx: 1.5, 'data-date': d.date, 'data-value': d[field] });
      var ttl = s('title');
      ttl.textContent = t(tip, { date: ymdLabel(d.date), value: fmt(d[field]) });
      rect.append(ttl);
      svg.append(rect);
    });
    /* x labels: first, middle and last day, so they never collide */
    var marks = n === 1 ? [0] : n === 2 ? [0, 1] : [0, Math.floor((n - 1) / 2), n - 1];
    marks.forEach(function (i) {
      var lab = s('text', { x: (L + i * slot + slot / 2).toFixed(1), y: H - 8, 'text-anchor': 'middle' });
      lab.textContent = days[i].date.slice(4, 6) + '-' + days[i].date.slice(6, 8);
      svg.append(lab);
    });
    var range = t('stat.range', { from: ymdLabel(days[0].date), to: ymdLabel(days[n - 1].date) });
    return h('div', { class: 'chart' }, [h('h3', { text: title + ' · ' + range }), svg]);
  }

  /* ---- the file browser ---- */
  function goDir(dir) {
    dash.dir = dir.replace(/^\/+|\/+$/g, '');
    dash.offset = 0;
    loadList();
  }
  function renderList() {
    var msg = $('files-msg'), tb = $('files').querySelector('tbody'), crumbs = $('crumbs');
    tb.textContent = '';
    crumbs.textContent = '';
    msg.hidden = !dash.listErr;
    msg.textContent = dash.listErr;
    var segs = dash.dir ? dash.dir.split('/') : [];
    crumbs.append(h('button', { type: 'button', text: t('files.root'), onclick: function () { goDir(''); } }));
    segs.forEach(function (seg, i) {
      crumbs.append(h('span', { class: 'sep', text: '/' }));
      crumbs.append(h('button', { type: 'button', text: seg, onclick: function () { goDir(segs.slice(0, i + 1).join('/')); } }));
    });
    $('files').hidden = !dash.list;
    crumbs.hidden = !dash.list;
    document.querySelector('.pager').hidden = !dash.list;
    $('files-prev').disabled = dash.offset === 0;
    $('files-next').disabled = !dash.list || dash.list.length < LIST_LIMIT;
    $('files-page').textContent = '';
    if (!dash.list) return;
    if (segs.length) {
      tb.append(h('tr', { class: 'up' }, [h('td', { colspan: '3' }, [
        h('span', { class: 'icon', text: '↰' }),
        h('button', { type: 'button', class: 'dir', title: t('files.up'), text: '..', onclick: function () { goDir(segs.slice(0, -1).join('/')); } })
      ])]));
    }
    var list = dash.list.slice().sort(function (a, b) {
      if (!!a.is_dir !== !!b.is_dir) return a.is_dir ? -1 : 1;
      return String(a.name).localeCompare(String(b.name), locale());
    });
    if (!list.length) {
      msg.hidden = false;
      msg.textContent = t('files.empty');
    }
    list.forEach(function (e) {
      var rel = (dash.dir ? dash.dir + '/' : '') + e.name;
      var nameCell = e.is_dir
        ? h('button', { type: 'button', class: 'dir', text: e.name + '/', onclick: function () { goDir(rel); } })
        : h('a', { href: BASE + encPath(rel), text: e.name });
      tb.append(h('tr', { 'data-name': e.name, 'data-dir': e.is_dir ? '1' : '0' }, [
        h('td', {}, [h('span', { class: 'icon', text: e.is_dir ? '▸' : '·' }), nameCell]),
        h('td', { class: 'num', text: e.is_dir ? '' : fmtBytes(e.size) }),
        h('td', { class: 'small', text: fmtTime(e.mtime) })
      ]));
    });
    if (list.length) $('files-page').textContent = t('files.page', { from: dash.offset + 1, to: dash.offset + list.length });
  }

  /* ================================ wiring ================================ */
  function init() {
    loadOptions();
    var drop = $('drop'), input = $('file-input');
    drop.addEventListener('click', function () { input.click(); });
    drop.addEventListener('keydown', function (e) {
      if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); input.click(); }
    });
    input.addEventListener('change', function () {
      if (input.files && input.files.length) addFiles(input.files);
      input.value = '';
    });
    var depth = 0;
    drop.addEventListener('dragenter', function (e) { e.preventDefault(); depth++; drop.classList.add('over'); });
    drop.addEventListener('dragover', function (e) { e.preventDefault(); if (e.dataTransfer) e.dataTransfer.dropEffect = 'copy'; });
    drop.addEventListener('dragleave', function () { if (--depth <= 0) { depth = 0; drop.classList.remove('over'); } });
    drop.addEventListener('drop', function (e) {
      e.preventDefault();
      depth = 0;
      drop.classList.remove('over');
      if (e.dataTransfer && e.dataTransfer.files && e.dataTransfer.files.length) addFiles(e.dataTransfer.files);
    });
    /* a file dropped next to the zone must not make the browser navigate away */
    window.addEventListener('dragover', function (e) { e.preventDefault(); });
    window.addEventListener('drop', function (e) { e.preventDefault(); });

    SAVED.forEach(function (o) {
      $(o[0]).addEventListener('input', saveOptions);
      $(o[0]).addEventListener('change', saveOptions);
    });
    $('clear-done').addEventListener('click', function () {
      items.filter(function (i) { return i.state === 'done'; }).forEach(removeItem);
    });

    $('lang-switch').addEventListener('click', function () {
      lang = lang === 'zh' ? 'en' : 'zh';
      sset(LS, 'fs.lang', lang);
      applyLang();
    });

    $('refresh').addEventListener('click', loadAll);
    $('key-form').addEventListener('submit', function (e) {
      e.preventDefault();
      var k = $('admin-key').value.trim();
      if (!k) return;
      sset(SS, 'fs.adminKey', k);
      $('admin-key').value = '';
      renderKeyState();
      loadStat();
      loadList();
    });
    $('key-forget').addEventListener('click', function () {
      sset(SS, 'fs.adminKey', null);
      renderKeyState();
      loadStat();
      loadList();
    });
    $('files-prev').addEventListener('click', function () {
      dash.offset = Math.max(0, dash.offset - LIST_LIMIT);
      loadList();
    });
    $('files-next').addEventListener('click', function () {
      dash.offset += LIST_LIMIT;
      loadList();
    });

    window.addEventListener('hashchange', showTab);
    applyLang();
    showTab();
    refreshPending();
    if (currentTab() !== 'dashboard') loadStatus();
    document.body.setAttribute('data-ready', '1');
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();
