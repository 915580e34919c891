/* The call-back list: while a call-back is ringing, fetch the page again every few seconds so
   its outcome (from Twilio's status callback) shows up, unless a note is being typed. */
(function () {
  "use strict";
  const EVERY_MS = 3000;

  function typing() {
    const active = document.activeElement;
    return active && active.tagName === "TEXTAREA" && active.value.trim() !== "";
  }

  function refresh() {
    if (!document.querySelector("[data-ringing]")) return;
    if (!typing()) window.location.reload();
    else window.setTimeout(refresh, EVERY_MS);
  }

  window.setTimeout(refresh, EVERY_MS);
})();
