// Readiness: recording a decision says it is working and says when it failed. The forms work without it.
(function () {
  "use strict";

  function formOf(elt) {
    return elt && elt.closest ? elt.closest("form[data-recording-form]") : null;
  }

  function showError(form, text) {
    var box = form.querySelector(".decision-error");
    if (!box) { return; }
    box.textContent = text;
    box.hidden = false;
  }

  // A plain post (the decision page, or the meeting when htmx did not take the form): htmx has not
  // prevented the submission, so show the same "Recording…" state and keep a second click from posting twice.
  document.addEventListener("submit", function (event) {
    var form = formOf(event.target);
    if (!form || event.defaultPrevented) { return; }
    if (form.classList.contains("is-recording")) { event.preventDefault(); return; }
    form.classList.add("is-recording");
    form.setAttribute("aria-busy", "true");
  });

  document.addEventListener("htmx:beforeRequest", function (event) {
    var form = formOf(event.detail.elt);
    if (!form) { return; }
    var box = form.querySelector(".decision-error");
    if (box) { box.hidden = true; }
    form.setAttribute("aria-busy", "true");
  });

  document.addEventListener("htmx:afterRequest", function (event) {
    var form = formOf(event.detail.elt);
    if (form) { form.removeAttribute("aria-busy"); }
  });

  document.addEventListener("htmx:responseError", function (event) {
    var form = formOf(event.detail.elt);
    if (!form) { return; }
    var status = event.detail.xhr ? event.detail.xhr.status : 0;
    showError(form, status === 403
      ? "Only the chair records the decision (or the page is out of date: reload it)."
      : "The decision could not be recorded (the server answered " + status + "). Reload the page to see whether it was, then try again.");
  });

  document.addEventListener("htmx:sendError", function (event) {
    var form = formOf(event.detail.elt);
    if (form) { showError(form, "The server could not be reached. Reload the page to see whether the decision was recorded, then try again."); }
  });
})();
