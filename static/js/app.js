// Readiness: progressive enhancements. Every page works without this file.
(function () {
  "use strict";

  function typing(target) {
    var tag = (target && target.tagName || "").toLowerCase();
    return tag === "input" || tag === "textarea" || tag === "select" || (target && target.isContentEditable);
  }

  // --- The meeting page: keyboard navigation of the agenda.
  // n / p: next and previous step; 1–13: jump to a step (type 1 then 0–3 quickly for 10–13); d: decision.
  var pendingDigit = null;
  var digitTimer = null;

  function go(step) {
    var link = document.querySelector('.agenda a[data-step="' + step + '"]');
    if (link) { link.click(); }
  }

  function flushDigit() {
    if (pendingDigit !== null) { go(pendingDigit); }
    pendingDigit = null;
    digitTimer = null;
  }

  document.addEventListener("keydown", function (event) {
    if (!document.querySelector(".meeting") || typing(event.target)) { return; }
    if (event.ctrlKey || event.metaKey || event.altKey) { return; }
    var key = event.key;
    if (key === "n" || key === "p") {
      var nav = document.querySelector('[data-nav="' + (key === "n" ? "next" : "prev") + '"]');
      if (nav) { event.preventDefault(); nav.click(); }
    } else if (key === "d") {
      event.preventDefault();
      go("decision");
    } else if (/^[0-9]$/.test(key)) {
      event.preventDefault();
      if (pendingDigit === "1" && /^[0-3]$/.test(key)) {
        clearTimeout(digitTimer);
        pendingDigit = null;
        go("1" + key);
      } else if (key === "1") {
        flushDigit();
        pendingDigit = "1";
        digitTimer = setTimeout(flushDigit, 600);
      } else if (key !== "0") {
        flushDigit();
        go(key);
      }
    }
  });

  // After moving to another step, put focus on its title so screen readers and keys follow.
  document.addEventListener("htmx:afterSwap", function (event) {
    var elt = event.detail.requestConfig && event.detail.requestConfig.elt;
    if (event.detail.target && event.detail.target.id === "meeting-main" && elt && elt.tagName === "A") {
      var title = document.getElementById("step-title");
      if (title) { title.focus({ preventScroll: true }); }
      window.scrollTo({ top: 0 });
    }
  });

  // --- Live meeting: someone else changed the review. Refresh the step unless the user is typing in it.
  document.addEventListener("readiness:changed", function (event) {
    var main = document.getElementById("meeting-main");
    if (!main || !window.htmx) { return; }
    var active = document.activeElement;
    var by = (event.detail && event.detail.by) || "someone";
    if (active && main.contains(active) && typing(active)) {
      if (!document.getElementById("changed-banner")) {
        var banner = document.createElement("p");
        banner.id = "changed-banner";
        banner.className = "changed-banner";
        banner.setAttribute("role", "status");
        banner.textContent = by + " changed this review. Save or leave the field to see it.";
        main.prepend(banner);
      }
      active.addEventListener("blur", function refresh() {
        active.removeEventListener("blur", refresh);
        window.htmx.ajax("GET", window.location.pathname, { target: "#meeting-main", swap: "innerHTML" });
      });
      return;
    }
    window.htmx.ajax("GET", window.location.pathname, { target: "#meeting-main", swap: "innerHTML" });
  });
})();
