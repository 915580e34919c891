/* The live list: every call in progress on every worker, newest first, kept current by
   server-sent events (/review/live/events). A call that ends leaves the table and is linked,
   under "Recently ended", to its review page. Everything is written with textContent. */
(function () {
  "use strict";

  const rows = document.getElementById("live-rows");
  const empty = document.getElementById("live-empty");
  const count = document.getElementById("live-count");
  const status = document.getElementById("live-status");
  const ended = document.getElementById("ended-list");
  const endedEmpty = document.getElementById("ended-empty");
  let calls = [];

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  function mood(score) {
    if (score === null || score === undefined) return "none";
    if (score <= -0.4) return "bad";
    return score < 0.1 ? "meh" : "good";
  }

  function signed(value) {
    return value === null || value === undefined ? "–" : (value >= 0 ? "+" : "") + value.toFixed(2);
  }

  function since(iso) {
    return Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
  }

  function localTime(iso) {
    return new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  }

  function cell(label, className) {
    const td = el("td", className);
    td.dataset.label = label;
    return td;
  }

  function row(call) {
    const tr = el("tr", "call-row live-row");
    tr.dataset.sid = call.sid;
    const when = cell("Started", "when");
    const link = el("a", "row-link");
    link.href = call.url;
    link.appendChild(el("time", "", localTime(call.started)));
    when.appendChild(link);
    const who = cell("Caller", "who");
    const caller = el("span", "caller");
    caller.appendChild(el("strong", "", call.name || "Unknown caller"));
    caller.appendChild(document.createTextNode(" "));
    caller.appendChild(el("span", "number", call.caller));
    who.appendChild(caller);
    const duration = cell("Duration", "num duration");
    duration.dataset.started = call.started;
    duration.textContent = Review.clock(since(call.started));
    const intent = cell("Intent", "intent");
    intent.textContent = (call.intent || "–").replace(/_/g, " ");
    const sentiment = cell("Sentiment", "num");
    sentiment.appendChild(el("span", "mood mood-" + mood(call.score), signed(call.score)));
    const escalation = cell("Escalation", "num");
    escalation.textContent = call.p === null || call.p === undefined ? "–" : Math.round(call.p * 100) + "%";
    const speaking = cell("Speaking", "speaking-cell");
    const badge = el("span", "speaking", call.speaking ? call.speaking + " speaking" : "silence");
    badge.dataset.who = call.speaking || "";
    speaking.appendChild(badge);
    [when, who, duration, intent, sentiment, escalation, speaking].forEach(function (td) { tr.appendChild(td); });
    return tr;
  }

  function render(payload) {
    calls = payload.calls || [];
    rows.replaceChildren.apply(rows, calls.map(row));
    empty.hidden = calls.length > 0;
    count.textContent = calls.length + (calls.length === 1 ? " call" : " calls") + " in progress";
    const gone = payload.ended || [];
    ended.replaceChildren.apply(ended, gone.map(function (call) {
      const li = el("li", "ended-call");
      li.dataset.sid = call.sid;
      const link = el("a", "", (call.name || "Unknown caller") + " " + call.caller);
      link.href = call.reviewUrl;
      li.appendChild(link);
      li.appendChild(el("span", "muted", " ended " + localTime(call.ended) +
        (call.endReason ? " (" + call.endReason.replace(/_/g, " ") + ")" : "")));
      return li;
    }));
    endedEmpty.hidden = gone.length > 0;
    document.body.dataset.liveUpdated = String(payload.at || "");
  }

  function tick() {
    rows.querySelectorAll("td.duration").forEach(function (td) {
      td.textContent = Review.clock(since(td.dataset.started));
    });
  }

  render(Review.readJSON("live-data") || { calls: [], ended: [] });
  window.setInterval(tick, 1000);

  const source = new EventSource("/review/live/events");
  source.addEventListener("open", function () { status.textContent = "live"; status.dataset.state = "open"; });
  source.addEventListener("error", function () { status.textContent = "reconnecting…"; status.dataset.state = "error"; });
  source.addEventListener("calls", function (event) { render(JSON.parse(event.data)); });
  source.addEventListener("expired", function (event) {
    source.close();
    window.location.href = JSON.parse(event.data).login + "?next=/review/live";
  });
})();
