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
    // Looping visualisations have no controls: a click pauses or resumes them.
    root.querySelectorAll("video[data-toggle]").forEach(function (video) {
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

  function init() {
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
