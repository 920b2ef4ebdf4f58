/* LeadCRM's only script (no framework): keeps what a user typed when a session expires.
 *
 * Every htmx form with an id saves its fields to sessionStorage as it is sent. The
 * draft is dropped once the server accepted the request; when the session had expired the server
 * answers HX-Redirect to the login page (with `next`), and after logging in the same page
 * restores the draft into the form. A CSRF failure (the CSRF cookie went with the session) is
 * shown inside the form instead of being swallowed.
 */
(function () {
  "use strict";
  var PREFIX = "leadcrm-draft:";
  var SKIP = { hidden: true, password: true, submit: true, button: true, file: true };

  function draftKey(form) {
    return PREFIX + window.location.pathname + "#" + form.id;
  }

  function fieldsOf(form) {
    return Array.prototype.filter.call(form.elements, function (el) {
      return el.name && !SKIP[el.type] && el.name !== "csrfmiddlewaretoken";
    });
  }

  function saveDraft(form) {
    if (!form || !form.id) return;
    var values = {};
    var typed = false;
    fieldsOf(form).forEach(function (el) {
      values[el.name] = el.value;
      if (el.value && el.tagName !== "SELECT") typed = true;
    });
    try {
      if (typed) window.sessionStorage.setItem(draftKey(form), JSON.stringify(values));
    } catch (e) { /* storage full or disabled: nothing to keep */ }
  }

  function dropDraft(form) {
    if (!form || !form.id) return;
    try { window.sessionStorage.removeItem(draftKey(form)); } catch (e) { /* ignore */ }
  }

  function showNote(form, html, kind) {
    var slot = form.querySelector(".form-alert");
    if (!slot) {
      slot = document.createElement("div");
      slot.className = "form-alert";
      form.insertBefore(slot, form.firstChild);
    }
    slot.setAttribute("role", kind === "error" ? "alert" : "status");
    slot.className = "form-alert flash" + (kind === "error" ? " flash-error" : "");
    slot.innerHTML = html;
  }

  function restoreDrafts() {
    Array.prototype.forEach.call(document.querySelectorAll("form[id]"), function (form) {
      var raw = null;
      try { raw = window.sessionStorage.getItem(draftKey(form)); } catch (e) { return; }
      if (!raw) return;
      var values;
      try { values = JSON.parse(raw); } catch (e) { dropDraft(form); return; }
      fieldsOf(form).forEach(function (el) {
        if (Object.prototype.hasOwnProperty.call(values, el.name)) el.value = values[el.name];
      });
      dropDraft(form);
      var details = form.closest("details");
      if (details) details.open = true;
      showNote(form, "Your unsent text was restored; check it and send it again.", "info");
    });
  }

  document.addEventListener("htmx:beforeRequest", function (evt) {
    var form = evt.detail.elt.closest && evt.detail.elt.closest("form");
    saveDraft(form);
  });
  // Before the swap: afterwards the form may be gone from the document, and its events with it.
  document.addEventListener("htmx:beforeSwap", function (evt) {
    var xhr = evt.detail.xhr;
    var form = evt.detail.requestConfig && evt.detail.requestConfig.elt.closest("form");
    if (xhr.status >= 200 && xhr.status < 300 && !xhr.getResponseHeader("HX-Redirect")) dropDraft(form);
  });
  document.addEventListener("htmx:responseError", function (evt) {
    var xhr = evt.detail.xhr;
    var form = evt.detail.elt.closest && evt.detail.elt.closest("form");
    if (!form) return;
    if (xhr.getResponseHeader("X-Session-Expired")) {
      showNote(form, xhr.responseText, "error");
    } else {
      showNote(form, "That did not work (error " + xhr.status + "). Reload the page and try again.", "error");
    }
  });
  document.addEventListener("DOMContentLoaded", restoreDrafts);

  /* A table wider than a phone scrolls inside itself (app.css); keyboard users reach its hidden
   * columns by focusing it and using the arrow keys, so a scrolling table takes the focus. */
  function focusScrollingTables() {
    Array.prototype.forEach.call(document.querySelectorAll("main table"), function (table) {
      if (table.scrollWidth > table.clientWidth + 1) {
        table.setAttribute("tabindex", "0");
      } else if (table.getAttribute("tabindex") === "0") {
        table.removeAttribute("tabindex");
      }
    });
  }
  document.addEventListener("DOMContentLoaded", focusScrollingTables);
  document.addEventListener("htmx:afterSettle", focusScrollingTables);
  window.addEventListener("resize", focusScrollingTables);

  /* mailto: and tel: links carry data-log-url (the lead's log form with ?log=email|call). The
   * browser still opens the mail or phone app; on the lead page the log form's kind is chosen and
   * scrolled to, elsewhere (the queue) the lead's log form opens a moment later. Without this
   * script, the "log call" / "log email" links beside them do the same. */
  document.addEventListener("click", function (evt) {
    var link = evt.target.closest && evt.target.closest("a[data-log-url]");
    if (!link) {
      var all = evt.target.closest && evt.target.closest("#pick-page");
      if (all) {
        Array.prototype.forEach.call(document.querySelectorAll("#queue-rows input.pick"), function (box) {
          box.checked = all.checked;
        });
      }
      return;
    }
    var form = document.getElementById("activity-form");
    var kind = link.getAttribute("data-log-kind");
    if (form && kind && form.elements.kind) {
      form.elements.kind.value = kind;
      var heading = document.getElementById("log");
      if (heading) heading.scrollIntoView();
      return;
    }
    var url = link.getAttribute("data-log-url");
    window.setTimeout(function () { window.location.assign(url); }, 300);
  });
})();
