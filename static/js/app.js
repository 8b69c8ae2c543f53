// Readiness: progressive enhancements. Every page works without this file.
(function () {
  "use strict";

  // What only works with this file (the meeting's keys) shows only with it: html.js.
  document.documentElement.classList.add("js");

  // Keys are the user's text only in fields that take text: a radio, a checkbox or a button is not typing,
  // so the meeting's keys still work after a score circle or a checklist answer was clicked.
  var NOT_TEXT = /^(radio|checkbox|button|submit|reset|image|file|range|color|hidden)$/;

  function typing(target) {
    var tag = (target && target.tagName || "").toLowerCase();
    if (tag === "input") { return !NOT_TEXT.test((target.type || "text").toLowerCase()); }
    return tag === "textarea" || tag === "select" || Boolean(target && target.isContentEditable);
  }

  // Whether the last thing the user did to move around was a pointer (a click) or a key (Tab, arrows).
  var pointerLast = true;
  document.addEventListener("pointerdown", function () { pointerLast = true; }, true);
  document.addEventListener("keydown", function (event) {
    if (/^(Tab|Arrow|Home$|End$|PageUp$|PageDown$| $)/.test(event.key)) { pointerLast = false; }
  }, true);

  // --- The meeting page: keyboard navigation of the agenda.
  // n / p: next and previous step; 1–13: jump to a step (type 1 then 0–3 quickly for 10–13); d: decision.
  // Digits are step keys, except while a score's circles have the keyboard's focus (reached with Tab or
  // the arrows, the focus ring shows): there 0–3 choose that score, and Escape hands the digits back to
  // the steps. After a click on a circle the digits stay step keys, so "1 2" still goes to step 12.
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

  function chooseScore(group, key) {
    var radio = group.querySelector('input[type="radio"][value="' + key + '"]');
    if (!radio || radio.disabled) { return; }
    radio.focus();
    if (!radio.checked) {
      radio.checked = true;
      radio.dispatchEvent(new Event("change", { bubbles: true }));
    }
  }

  document.addEventListener("keydown", function (event) {
    if (!document.querySelector(".meeting") || typing(event.target)) { return; }
    if (event.ctrlKey || event.metaKey || event.altKey) { return; }
    var key = event.key;
    var group = event.target.closest && event.target.closest("[data-score-group]");
    if (group && key === "Escape") {
      var title = document.getElementById("step-title");
      if (title) { event.preventDefault(); title.focus({ preventScroll: true }); }
      return;
    }
    if (group && !pointerLast && /^[0-3]$/.test(key)) {
      event.preventDefault();
      chooseScore(group, key);
      return;
    }
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

  // --- Saving in place. A form marked data-autosave saves on change: a score circle or a checklist answer
  // at once, an owner when chosen, a text field when left or on Enter (htmx, hx-trigger "change, submit").
  // Its root ([data-save-root], the part the server sends back) says how the edit stands: unsaved
  // (changed here, not sent), saving…, saved ✓ with the server's time, or not saved with the server's
  // words and the stored value back in place; a live region reads each of these out. The server's answer
  // carries an Undo form, shown for UNDO_SECONDS.
  var UNDO_SECONDS = 8;
  var announcer = null;
  var carried = {}; // root id -> changes made while its save was on the way, to apply to the answer

  function announce(text) {
    if (!announcer) { return; }
    announcer.textContent = "";
    window.setTimeout(function () { announcer.textContent = text; }, 30); // the same words twice are read twice
  }

  function rootOf(elt) { return elt && elt.closest ? elt.closest("[data-save-root]") : null; }

  function subject(root) {
    if (root && root.hasAttribute("data-save-subject")) { return root.getAttribute("data-save-subject"); }
    var legend = root && root.querySelector("legend");
    return legend ? legend.textContent.trim() : "";
  }

  function setState(root, state, text, speak) {
    var el = root && root.querySelector("[data-save-state]");
    if (el) {
      el.className = "save-state save-" + state;
      el.textContent = text;
    }
    if (root) { root.setAttribute("data-save", state); }
    if (speak) { announce((subject(root) ? subject(root) + ": " : "") + text); }
  }

  function values(form) {
    var out = {};
    Array.prototype.forEach.call(form.elements, function (field) {
      if (!field.name || field.type === "hidden" || field.tagName === "BUTTON") { return; }
      if (field.type === "radio") {
        if (field.checked) { out[field.name] = field.value; } else if (!(field.name in out)) { out[field.name] = ""; }
      } else {
        out[field.name] = field.value;
      }
    });
    return out;
  }

  function put(form, name, value) {
    Array.prototype.forEach.call(form.elements, function (field) {
      if (field.name !== name) { return; }
      if (field.type === "radio") { field.checked = field.value === value; } else { field.value = value; }
    });
  }

  function isText(field) { return field && field.tagName === "INPUT" && typing(field); }

  function autosaveForm(elt) {
    var form = elt && elt.closest ? elt.closest("form") : null;
    return form && form.hasAttribute("data-autosave") ? form : null;
  }

  // What a save still lacks before it can be sent; null when it can go.
  function missing(form) {
    var data = values(form);
    var kind = form.getAttribute("data-autosave");
    if (kind === "score" && !data.score) {
      return { text: "Unsaved: choose a score, 0 to 3; the owner and notes are saved with it." };
    }
    if (kind === "answer") {
      if (!data.answer) { return { text: "Unsaved: choose an answer; the note is saved with it." }; }
      if (data.answer === "na" && !data.note.trim()) {
        return { text: "Unsaved: Not applicable needs a reason. Type it in the note, then leave the field.",
          focus: form.querySelector('input[name="note"]') };
      }
    }
    return null;
  }

  function unsavedWords(form) {
    return form.querySelector('button[type="submit"]') ? "Unsaved: press Save to keep it." :
      "Unsaved: leave the field or press Enter to save.";
  }

  // Typing in a text field: changed here, not sent yet.
  document.addEventListener("input", function (event) {
    var form = autosaveForm(event.target);
    if (form && isText(event.target)) {
      setState(rootOf(form), "unsaved", unsavedWords(form), false);
    }
  });

  // A change or a submit while the same part is saving waits for the answer, then goes with the new version.
  function holdWhileSaving(event) {
    var form = autosaveForm(event.target);
    var root = rootOf(form);
    if (!form || !root || root.getAttribute("aria-busy") !== "true") { return; }
    event.stopPropagation();
    if (event.type === "submit") { event.preventDefault(); }
    root.setAttribute("data-resend", "1");
  }
  document.addEventListener("change", holdWhileSaving, true);
  document.addEventListener("submit", holdWhileSaving, true);

  document.addEventListener("htmx:beforeRequest", function (event) {
    var elt = event.detail.elt;
    var root = rootOf(elt);
    if (!root || !root.id || !elt.matches || !elt.matches("form[data-autosave], form[data-undo]")) { return; }
    if (elt.hasAttribute("data-autosave")) {
      var lack = missing(elt);
      if (lack) {
        event.preventDefault();
        setState(root, "unsaved", lack.text, true);
        if (lack.focus) { lack.focus.focus(); }
        return;
      }
      elt._sent = values(elt);
    }
    root._saving = true;
    event.detail.xhr._saveRoot = root.id;
    event.detail.xhr._saveForm = elt.hasAttribute("data-undo") ? "undo" : "save";
    root.setAttribute("aria-busy", "true");
    setState(root, "saving", elt.hasAttribute("data-undo") ? "Undoing…" : "Saving…", false);
  });

  // Before the answer replaces the part: keep what the user changed while it was on the way.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var id = event.detail.xhr && event.detail.xhr._saveRoot;
    var root = id && document.getElementById(id);
    var form = root && root.querySelector("form[data-autosave]");
    if (!form || !form._sent || !event.detail.shouldSwap) { return; }
    var now = values(form);
    var changed = {};
    var any = false;
    Object.keys(now).forEach(function (name) {
      if (now[name] !== form._sent[name]) { changed[name] = now[name]; any = true; }
    });
    if (any) { carried[id] = { values: changed, resend: root.getAttribute("data-resend") === "1" }; }
  });

  function scheduleUndo(root) {
    var undo = root.querySelector("form[data-undo]");
    if (!undo) { return; }
    window.setTimeout(function () {
      if (!undo.isConnected) { return; }
      var leave = function () {
        undo.remove();
        if (refreshWaiting) { refreshMain(); }
      };
      if (undo.contains(document.activeElement)) {
        undo.addEventListener("focusout", leave, { once: true });
      } else {
        leave();
      }
    }, UNDO_SECONDS * 1000);
  }

  function afterSave(event) {
    var xhr = event.detail.xhr;
    var id = xhr && xhr._saveRoot;
    if (!id || xhr._saveDone) { return; }
    xhr._saveDone = true;
    var root = document.getElementById(id);
    if (!root) { return; }
    root.removeAttribute("aria-busy");
    var form = root.querySelector("form[data-autosave]");
    if (root._saving) { // the part is still the one that was sent: no answer replaced it
      root._saving = false;
      // Nothing came back to show (no answer, a refusal page, a server error): show what is stored.
      if (form) { form.reset(); }
      root.removeAttribute("data-resend");
      var why = xhr.status === 403 ? "you may not change this" :
        xhr.status ? "the server answered " + xhr.status : "the server did not answer";
      setState(root, "error", "Not saved: " + why + "; the stored value is back.", true);
      if (refreshWaiting) { refreshMain(); }
      return;
    }
    var state = root.querySelector("[data-save-state]");
    var error = root.querySelector(".save-message");
    var words = (state ? state.textContent.trim() : "") + (error ? ". " + error.textContent.trim() : "");
    var keep = carried[id];
    delete carried[id];
    if (xhr._saveForm === "undo") {
      var back = root.querySelector('input[type="radio"]:checked') || root.querySelector('input[type="radio"]');
      if (back && (!document.activeElement || document.activeElement === document.body)) {
        back.focus({ preventScroll: true });
      }
    }
    if (keep && form && !error) {
      Object.keys(keep.values).forEach(function (name) { put(form, name, keep.values[name]); });
      if (keep.resend) {
        form.dispatchEvent(new Event("change", { bubbles: true }));
        return;
      }
      setState(root, "unsaved", unsavedWords(form), false);
    } else if (keep && form && error) {
      // Refused: the stored values stand; only text still being typed is kept, as unsaved.
      Object.keys(keep.values).forEach(function (name) {
        var field = form.elements[name];
        if (isText(field) && document.activeElement === field) { put(form, name, keep.values[name]); }
      });
    }
    scheduleUndo(root);
    if (refreshWaiting) { refreshMain(); }
    if (error && error.getAttribute("role") === "alert") { return; } // the refusal is an alert: read out as it comes
    announce((subject(root) ? subject(root) + ": " : "") + words + (root.querySelector("form[data-undo]") ? ". Undo is offered for " + UNDO_SECONDS + " seconds." : ""));
  }
  document.addEventListener("htmx:afterRequest", afterSave);
  document.addEventListener("htmx:sendError", afterSave);

  document.addEventListener("DOMContentLoaded", function () {
    announcer = document.createElement("div");
    announcer.id = "save-announcer";
    announcer.className = "sr-only";
    announcer.setAttribute("role", "status");
    announcer.setAttribute("aria-live", "polite");
    document.body.appendChild(announcer);
    // A page rendered right after a save (the meeting's step refreshed, the checklist page) has no timer yet.
    Array.prototype.forEach.call(document.querySelectorAll("[data-save-root]"), scheduleUndo);
  });

  // Whether a field of the step holds something the user chose or typed and has not sent (a decision's
  // answers, a finding being written): a refresh would throw it away.
  function unsentIn(main) {
    return Array.prototype.some.call(main.querySelectorAll("input, textarea, select"), function (f) {
      if (f.type === "hidden" || f.type === "submit" || f.type === "button") { return false; }
      if (f.type === "radio" || f.type === "checkbox") { return f.checked !== f.defaultChecked; }
      if (f.tagName === "SELECT") {
        var chosen = Array.prototype.findIndex.call(f.options, function (o) { return o.defaultSelected; });
        return f.selectedIndex !== (chosen < 0 && !f.multiple ? 0 : chosen);
      }
      return f.value !== f.defaultValue;
    });
  }

  // The step as the server has it now. It waits while one of the user's own saves is on the way, its
  // Undo is offered, or something chosen or typed is not sent yet, and comes once they are done.
  var refreshWaiting = false;
  function refreshMain() {
    var main = document.getElementById("meeting-main");
    if (!main || !window.htmx) { return; }
    if (main.querySelector('[data-save-root][aria-busy="true"], form[data-undo]') || unsentIn(main)) {
      refreshWaiting = true;
      return;
    }
    refreshWaiting = false;
    window.htmx.ajax("GET", window.location.pathname, { target: "#meeting-main", swap: "innerHTML" });
  }
  document.addEventListener("htmx:afterRequest", function () {
    if (refreshWaiting) { window.setTimeout(refreshMain, 0); }
  });

  // --- Live meeting: someone else changed the review. Refresh the step unless the user is in the middle of
  // a change of their own (typing, or something chosen and not sent): then say so, and refresh after it.
  document.addEventListener("readiness:changed", function (event) {
    var main = document.getElementById("meeting-main");
    if (!main || !window.htmx) { return; }
    var active = document.activeElement;
    var by = (event.detail && event.detail.by) || "someone";
    var typingHere = active && main.contains(active) && typing(active);
    if (typingHere) {
      active.addEventListener("blur", function refresh() {
        active.removeEventListener("blur", refresh);
        refreshMain();
      });
    } else {
      refreshMain();
    }
    if ((typingHere || refreshWaiting) && !document.getElementById("changed-banner")) {
      var banner = document.createElement("p");
      banner.id = "changed-banner";
      banner.className = "changed-banner";
      banner.setAttribute("role", "status");
      banner.textContent = by + " changed this review. Save or leave the field to see it.";
      main.prepend(banner);
    }
  });
})();
