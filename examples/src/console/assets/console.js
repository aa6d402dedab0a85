// Herald console: small enhancements over server-rendered pages. Everything works
// without this script; with it, times show in the viewer's time zone, secrets can be
// copied with one click, and dangerous buttons ask before they act.
"use strict";

document.addEventListener("DOMContentLoaded", function () {
  // Times arrive as UTC; show them in the viewer's zone.
  document.querySelectorAll("time[datetime]").forEach(function (node) {
    var when = new Date(node.getAttribute("datetime"));
    if (!isNaN(when.getTime())) {
      node.textContent = when.toLocaleString(undefined, {
        year: "numeric", month: "short", day: "numeric",
        hour: "2-digit", minute: "2-digit", second: "2-digit", timeZoneName: "short"
      });
      node.title = node.getAttribute("datetime");
    }
  });

  // Time filters are typed in local time; the server needs the offset.
  document.querySelectorAll("input[name=tz]").forEach(function (node) {
    node.value = String(new Date().getTimezoneOffset());
  });

  // "Copy" buttons next to secrets shown once.
  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    button.hidden = false;
    button.addEventListener("click", function () {
      var source = document.getElementById(button.getAttribute("data-copy"));
      if (!source || !navigator.clipboard) { return; }
      navigator.clipboard.writeText(source.textContent.trim()).then(function () {
        button.textContent = "Copied";
      });
    });
  });

  // Buttons that change something hard to undo ask first.
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.getAttribute("data-confirm"))) { event.preventDefault(); }
    });
  });
});
