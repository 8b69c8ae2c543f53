// Readiness: presentation mode of the meeting (a projector layout: no app menu, large type, agenda rail,
// gate in view). Loaded in <head> of the meeting page only, without defer, so that the remembered mode is
// applied before the page is drawn. Without JavaScript, ?present=1 gives the same layout.
(function () {
  "use strict";

  var KEY = "readiness.present";
  var root = document.documentElement;

  function stored() {
    try { return window.localStorage.getItem(KEY); } catch (e) { return null; }
  }

  function store(on) {
    try { window.localStorage.setItem(KEY, on ? "1" : "0"); } catch (e) { /* private mode: URL only */ }
  }

  // The URL wins (a shared ?present=1 link, or ?present=0 to leave), and is remembered.
  var asked = new URLSearchParams(window.location.search).get("present");
  if (asked === "1" || asked === "0") { store(asked === "1"); }
  root.classList.toggle("presenting", (asked || stored()) === "1");

  function presenting() { return root.classList.contains("presenting"); }

  function label() {
    var on = presenting();
    document.querySelectorAll("[data-present-toggle]").forEach(function (button) {
      button.textContent = on ? "Exit presentation" : "Present";
      button.setAttribute("href", "?present=" + (on ? "0" : "1"));
    });
  }

  function set(on) {
    root.classList.toggle("presenting", on);
    store(on);
    // Drop ?present= from the address: the stored choice now decides, and a reload keeps it.
    var url = new URL(window.location.href);
    if (url.searchParams.has("present")) {
      url.searchParams.delete("present");
      window.history.replaceState(window.history.state, "", url.pathname + url.search + url.hash);
    }
    label();
  }

  function typing(target) {
    if (!target) { return false; }
    var tag = (target.tagName || "").toLowerCase();
    if (tag === "textarea" || tag === "select" || target.isContentEditable) { return true; }
    if (tag !== "input") { return false; }
    var type = (target.getAttribute("type") || "text").toLowerCase();
    return ["radio", "checkbox", "button", "submit", "reset"].indexOf(type) === -1;
  }

  document.addEventListener("DOMContentLoaded", function () {
    label();
    document.addEventListener("click", function (event) {
      var button = event.target.closest && event.target.closest("[data-present-toggle]");
      if (!button || event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) { return; }
      event.preventDefault();
      set(!presenting());
    });
  });

  // f toggles presentation mode; Escape leaves it (when no field has the keys).
  document.addEventListener("keydown", function (event) {
    if (!document.querySelector(".meeting") || typing(event.target)) { return; }
    if (event.ctrlKey || event.metaKey || event.altKey) { return; }
    if (event.key === "f") {
      event.preventDefault();
      set(!presenting());
    } else if (event.key === "Escape" && presenting()) {
      set(false);
    }
  });
})();
