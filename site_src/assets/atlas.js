/* Atlas page behaviour: play unit thumbnails on hover (or first tap), sort/filter the layer
   grid, pause looping videos on click. No dependencies; works with or without Material's
   instant navigation (document$ emits on every page load). */
(function () {
  "use strict";

  var coarse = window.matchMedia && window.matchMedia("(hover: none)").matches;

  function startVideo(thumb) {
    if (thumb.querySelector("video") || !thumb.dataset.video) return;
    var video = document.createElement("video");
    video.src = thumb.dataset.video;
    video.muted = true;
    video.loop = true;
    video.playsInline = true;
    video.setAttribute("playsinline", "");
    video.setAttribute("aria-hidden", "true");
    thumb.appendChild(video);
    var played = video.play();
    if (played && played.catch) played.catch(function () {});
  }

  function stopVideo(thumb) {
    var video = thumb.querySelector("video");
    if (!video) return;
    video.pause();
    video.removeAttribute("src");
    video.load();
    video.remove();
  }

  function initThumbs(root) {
    root.querySelectorAll(".atlas-thumb[data-video]").forEach(function (thumb) {
      if (thumb.dataset.ready) return;
      thumb.dataset.ready = "1";
      thumb.addEventListener("mouseenter", function () { startVideo(thumb); });
      thumb.addEventListener("mouseleave", function () { stopVideo(thumb); });
      thumb.addEventListener("focus", function () { startVideo(thumb); });
      thumb.addEventListener("blur", function () { stopVideo(thumb); });
      thumb.addEventListener("click", function (event) {
        // On touch screens the first tap plays, the second opens the unit.
        if (coarse && !thumb.querySelector("video")) {
          event.preventDefault();
          root.querySelectorAll(".atlas-thumb video").forEach(function (v) { stopVideo(v.parentNode); });
          startVideo(thumb);
        }
      });
    });
  }

  var sorters = {
    "channel": function (a, b) { return num(a, "channel") - num(b, "channel"); },
    "si-desc": function (a, b) { return num(b, "si") - num(a, "si"); },
    "si-asc": function (a, b) { return missingLast(num(a, "si")) - missingLast(num(b, "si")); },
    "inv-desc": function (a, b) { return num(b, "inv") - num(a, "inv"); },
    "speed-desc": function (a, b) { return num(b, "speed") - num(a, "speed"); },
    "dsi-desc": function (a, b) { return num(b, "dsi") - num(a, "dsi"); },
    "dir": function (a, b) { return missingLast(num(a, "dir")) - missingLast(num(b, "dir")); },
    "class": function (a, b) {
      return (a.dataset.class || "\uffff").localeCompare(b.dataset.class || "\uffff") || num(b, "si") - num(a, "si");
    }
  };
  function num(card, key) { var v = parseFloat(card.dataset[key]); return isNaN(v) ? -1 : v; }
  function missingLast(value) { return value < 0 ? Infinity : value; }

  function initControls(root) {
    root.querySelectorAll(".atlas-controls").forEach(function (controls) {
      var grid = controls.nextElementSibling;
      while (grid && !grid.classList.contains("atlas-grid")) grid = grid.nextElementSibling;
      if (!grid || controls.dataset.ready) return;
      controls.dataset.ready = "1";
      controls.hidden = false;
      var select = controls.querySelector(".atlas-sort");
      var hideDead = controls.querySelector(".atlas-hide-dead");
      var count = controls.querySelector(".atlas-count");
      function update() {
        var cards = Array.prototype.slice.call(grid.children);
        cards.sort(sorters[select.value] || sorters.channel);
        var shown = 0;
        cards.forEach(function (card) {
          card.hidden = hideDead.checked && card.dataset.dead === "1";
          if (!card.hidden) shown += 1;
          grid.appendChild(card);
        });
        count.textContent = shown + " of " + cards.length + " units";
      }
      select.addEventListener("change", update);
      hideDead.addEventListener("change", update);
      count.textContent = grid.children.length + " units";
    });
  }

  function initToggles(root) {
    // Looping visualizations have no controls: a click pauses or resumes them.
    root.querySelectorAll("video[data-toggle], video[data-click-play]").forEach(function (video) {
      if (video.dataset.ready) return;
      video.dataset.ready = "1";
      video.addEventListener("click", function () {
        if (video.paused) {
          var played = video.play();
          if (played && played.catch) played.catch(function () {});
        } else {
          video.pause();
        }
      });
    });
  }

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) return navigator.clipboard.writeText(text);
    // Plain http or file://: the Clipboard API is not there, a selected textarea still copies.
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "fixed";
    area.style.opacity = "0";
    document.body.appendChild(area);
    area.select();
    var ok = false;
    try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
    area.remove();
    return ok ? Promise.resolve() : Promise.reject(new Error("copy refused"));
  }

  function initCopy(root) {
    // data-copy holds an absolute permalink, or (without a site URL) a link relative to this page.
    root.querySelectorAll("button.atlas-copy[data-copy]").forEach(function (button) {
      if (button.dataset.ready) return;
      button.dataset.ready = "1";
      var label = button.textContent;
      button.addEventListener("click", function () {
        var href = new URL(button.dataset.copy, window.location.href).href;
        button.dataset.copied = href;
        copyText(href).then(function () { button.textContent = "Copied"; },
                            function () { window.prompt("Copy this link:", href); })
          .then(function () { setTimeout(function () { button.textContent = label; }, 1500); });
      });
    });
  }

  // The unit index: rows drawn from a JSON file in pages of PAGE, so 17,000 units stay fast.
  var PAGE = 100;
  function initIndex(root) {
    root.querySelectorAll(".atlas-index[data-src]").forEach(function (box) {
      if (box.dataset.ready) return;
      box.dataset.ready = "1";
      var q = function (sel) { return box.querySelector(sel); };
      var body = q("tbody"), count = q(".atlas-index-count"), pageLabel = q(".atlas-index-page");
      var filter = q(".atlas-index-filter"), stream = q(".atlas-index-stream"), layer = q(".atlas-index-layer");
      var hideDead = q(".atlas-index-hide-dead");
      var rootUrl = new URL(box.dataset.root, window.location.href);
      var rows = [], shown = [], page = 0, sortKey = "", sortDir = 1, col = {};
      function cell(text) { var td = document.createElement("td"); td.textContent = text; return td; }
      function fmt(v) { return v === null || v === undefined ? "\u2013" : (typeof v === "number" ? v.toFixed(2) : String(v)); }
      function draw() {
        var pages = Math.max(1, Math.ceil(shown.length / PAGE));
        page = Math.min(page, pages - 1);
        var frag = document.createDocumentFragment();
        shown.slice(page * PAGE, page * PAGE + PAGE).forEach(function (r) {
          var tr = document.createElement("tr");
          tr.dataset.id = r[col.id];
          var thumb = document.createElement("td");
          if (r[col.poster]) {
            var img = document.createElement("img");
            img.loading = "lazy"; img.decoding = "async"; img.alt = ""; img.className = "atlas-index-thumb";
            img.src = new URL(r[col.poster], rootUrl).href;
            thumb.appendChild(img);
          }
          tr.appendChild(thumb);
          var link = document.createElement("a");
          link.href = new URL(r[col.page], rootUrl).href;
          link.textContent = r[col.id];
          var first = document.createElement("td"); first.appendChild(link); tr.appendChild(first);
          tr.appendChild(cell(r[col.layer])); tr.appendChild(cell(r[col.stream])); tr.appendChild(cell(fmt(r[col["class"]])));
          tr.appendChild(cell(fmt(r[col.si]))); tr.appendChild(cell(fmt(r[col.inv]))); tr.appendChild(cell(fmt(r[col.speed])));
          tr.appendChild(cell(r[col.words] || "\u2013")); tr.appendChild(cell(fmt(r[col.dsi])));
          tr.appendChild(cell(r[col.dead] ? "dead" : r[col.status]));
          frag.appendChild(tr);
        });
        body.replaceChildren(frag);
        count.textContent = shown.length + " of " + rows.length + " units";
        pageLabel.textContent = "page " + (page + 1) + " of " + pages;
      }
      function compare(a, b) {
        var x = a[col[sortKey]], y = b[col[sortKey]];
        if (x === null || x === undefined || x === "") return (y === null || y === undefined || y === "") ? 0 : 1;
        if (y === null || y === undefined || y === "") return -1;
        return (typeof x === "number" ? x - y : String(x).localeCompare(String(y))) * sortDir;
      }
      function update() {
        var words = filter.value.toLowerCase().split(/\s+/).filter(Boolean);
        shown = rows.filter(function (r) {
          if (stream.value && r[col.stream] !== stream.value) return false;
          if (layer.value && r[col.layer] !== layer.value) return false;
          if (hideDead.checked && r[col.dead]) return false;
          var text = r.haystack;
          return words.every(function (w) { return text.indexOf(w) >= 0; });
        });
        if (sortKey) shown.sort(compare);
        page = 0;
        draw();
      }
      box.querySelectorAll("th[data-sort]").forEach(function (th) {
        th.tabIndex = 0;
        th.setAttribute("role", "button");
        function sort() {
          sortDir = sortKey === th.dataset.sort ? -sortDir : (["si", "inv", "speed", "dsi"].indexOf(th.dataset.sort) >= 0 ? -1 : 1);
          sortKey = th.dataset.sort;
          box.querySelectorAll("th[data-sort]").forEach(function (o) { o.removeAttribute("aria-sort"); });
          th.setAttribute("aria-sort", sortDir > 0 ? "ascending" : "descending");
          update();
        }
        th.addEventListener("click", sort);
        th.addEventListener("keydown", function (e) { if (e.key === "Enter") sort(); });
      });
      [filter, stream, layer, hideDead].forEach(function (el) { el.addEventListener("input", update); el.addEventListener("change", update); });
      q(".atlas-index-prev").addEventListener("click", function () { page = Math.max(0, page - 1); draw(); });
      q(".atlas-index-next").addEventListener("click", function () { page += 1; draw(); });
      fetch(box.dataset.src).then(function (r) { return r.json(); }).then(function (data) {
        data.columns.forEach(function (name, i) { col[name] = i; });
        rows = data.rows;
        rows.forEach(function (r) {
          r.haystack = [r[col.id], r[col.layer], r[col.stream], r[col["class"]] || "", r[col.words] || "",
                        r[col.dead] ? "dead" : r[col.status]].join(" ").toLowerCase();
        });
        box.dataset.loaded = String(rows.length);
        update();
      }, function () { count.textContent = "The index could not be loaded (open the site through a web server, e.g. atlas serve)."; });
    });
  }

  function init() {
    initIndex(document);
    initThumbs(document);
    initControls(document);
    initToggles(document);
    initCopy(document);
  }

  if (window.document$ && typeof window.document$.subscribe === "function") {
    window.document$.subscribe(init);
  } else if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
