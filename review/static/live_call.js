/* A live call: the transcript grows turn by turn (barge-ins and the supervisor's sentences
   marked), the facts and the sentiment chart follow the call, all from server-sent events;
   the controls queue commands for the worker holding the call (say, block, take over, end).
   Listening is in live_listen.js. Everything the page writes goes in through textContent. */
(function () {
  "use strict";

  const data = Review.readJSON("live-call-data");
  const palette = Review.palette;
  const timeline = document.getElementById("timeline");
  const noTurns = document.getElementById("no-turns");
  const status = document.getElementById("live-status");
  const commandStatus = document.getElementById("command-status");
  const actionsList = document.getElementById("supervisor-actions");
  const csrf = document.getElementById("csrf").value;
  let state = data.state;
  let chart = null;
  let ended = state.status !== "live";
  let lastCommand = null;  // the id of this page's last command: its outcome is shown

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  function pretty(value) { return String(value || "").replace(/_/g, " "); }

  /* --- transcript --- */

  function addTurn(turn) {
    if (timeline.querySelector("li.turn[data-index='" + turn.i + "']")) return;
    if (turn.interrupted) {
      // the caller talked over this reply: mark where, as the review page does
      const marker = el("li", "marker barge-in");
      marker.appendChild(el("span", "", "Caller barged in"));
      marker.dataset.start = turn.start;
      timeline.appendChild(marker);
    }
    const li = el("li", "turn " + turn.role + (turn.supervisor ? " supervisor" : ""));
    li.dataset.index = turn.i;
    li.appendChild(el("span", "seek muted", Review.clock(turn.start, true)));
    const bubble = el("div", "bubble");
    const who = el("div", "who", turn.role === "caller" ? "Caller" : "Agent");
    if (turn.supervisor) who.appendChild(el("span", "chip supervisor-chip", "said for " + turn.supervisor));
    if (turn.latency !== null && turn.latency !== undefined) {
      who.appendChild(el("span", "chip latency" + (turn.latency > 1500 ? " slow" : ""), Math.round(turn.latency) + " ms"));
    }
    if (turn.interrupted) who.appendChild(el("span", "chip barge", "interrupted"));
    bubble.appendChild(who);
    bubble.appendChild(el("p", "text", turn.text || "…"));
    li.appendChild(bubble);
    timeline.appendChild(li);
    noTurns.hidden = true;
    const box = timeline.closest(".transcript");
    if (box) box.scrollTop = box.scrollHeight;
  }

  /* --- facts --- */

  function values(facts) {
    const parts = Object.keys(facts || {}).filter(function (k) {
      const v = facts[k];
      return v !== null && v !== "" && !(Array.isArray(v) && v.length === 0);
    }).map(function (k) { return pretty(k) + " " + (typeof facts[k] === "object" ? JSON.stringify(facts[k]) : facts[k]); });
    return parts.length ? parts.join(", ") : "–";
  }

  function showState(next) {
    state = next;
    document.getElementById("fact-intent").textContent = pretty(state.intent) || "–";
    document.getElementById("fact-values").textContent = values(state.facts);
    document.getElementById("fact-question").textContent = state.question || "–";
    document.getElementById("fact-action").textContent = pretty(state.action) || "–";
    document.getElementById("fact-blocked").textContent = (state.blocked || []).map(pretty).join(", ") || "–";
    document.getElementById("block-action").hidden = !state.action || ended ||
      (state.blocked || []).indexOf(state.action) >= 0;
    const now = document.querySelector("#sentiment-now .mood");
    if (now && state.score !== null && state.score !== undefined) {
      now.className = "mood mood-" + (state.score <= -0.4 ? "bad" : state.score < 0.1 ? "meh" : "good");
      now.textContent = (state.score >= 0 ? "+" : "") + state.score.toFixed(2);
    }
    const speaking = document.getElementById("speaking");
    speaking.dataset.who = state.speaking || "";
    speaking.textContent = state.speaking ? state.speaking + " speaking" : "silence";
    document.body.dataset.version = String(state.version);
  }

  /* --- sentiment chart --- */

  function showSentiment(series) {
    const node = document.getElementById("sentiment-chart");
    if (!node || !window.Chart) return;
    const labels = series.map(function (_s, n) { return "turn " + (n + 1); });
    if (!chart) {
      chart = new Chart(node, {
        type: "line",
        data: { labels: labels, datasets: [
          { label: "Sentiment", data: [], borderColor: palette.accent, pointRadius: 5, borderWidth: 2,
            cubicInterpolationMode: "monotone", backgroundColor: [] },
          { label: "Wants a person (probability)", data: [], borderColor: palette.neutral,
            borderDash: [4, 4], pointRadius: 0, borderWidth: 1.5, cubicInterpolationMode: "monotone" },
        ] },
        options: { animation: false, interaction: { mode: "index", intersect: false },
          scales: { y: { min: -1, max: 1, ticks: { stepSize: 0.5 } }, x: { grid: { display: false } } },
          plugins: { legend: { position: "bottom" } } },
      });
    }
    chart.data.labels = labels;
    chart.data.datasets[0].data = series.map(function (s) { return s.score; });
    chart.data.datasets[0].backgroundColor = series.map(function (s) { return Review.mood(s.score); });
    chart.data.datasets[1].data = series.map(function (s) { return s.p; });
    chart.update();
    document.body.dataset.sentimentPoints = String(series.length);
  }

  /* --- supervisor actions --- */

  function showAction(action) {
    let li = actionsList.querySelector("li[data-id='" + action.id + "']");
    if (!li) {
      li = el("li", "action supervisor");
      li.dataset.id = action.id;
      actionsList.appendChild(li);
    }
    li.replaceChildren();
    li.appendChild(el("strong", "", action.manager));
    li.appendChild(document.createTextNode(" "));
    li.appendChild(el("span", "", pretty(action.kind)));
    if (action.text) { li.appendChild(document.createTextNode(" ")); li.appendChild(el("q", "", action.text)); }
    li.appendChild(document.createTextNode(" "));
    li.appendChild(el("span", "chip state-" + action.state, action.state));
    if (action.result) li.appendChild(el("span", "muted small", " " + action.result));
    if (action.id === lastCommand && (action.state === "done" || action.state === "failed")) {
      commandStatus.textContent = (action.state === "done" ? "done: " : "failed: ") + action.result;
      commandStatus.dataset.state = action.state === "done" ? "done" : "error";
    }
  }

  /* --- the end --- */

  function endCall(info) {
    ended = true;
    document.getElementById("call-status").textContent = "ended";
    document.getElementById("ended-banner").hidden = false;
    document.getElementById("review-link").hidden = false;
    if (info && info.reason) document.getElementById("ended-reason").textContent = " (" + pretty(info.reason) + ")";
    document.querySelectorAll("#controls button, #controls textarea").forEach(function (b) { b.disabled = true; });
    document.getElementById("block-action").hidden = true;
    document.body.dataset.ended = "1";
    window.dispatchEvent(new CustomEvent("live-call-ended"));
  }

  /* --- commands --- */

  function send(command, text) {
    const body = new FormData();
    body.append("csrf_token", csrf);
    if (text !== undefined) body.append("text", text);
    commandStatus.textContent = "sending…";
    commandStatus.dataset.state = "sending";
    return fetch(data.commands + "/" + command, { method: "POST", body: body, credentials: "same-origin" })
      .then(function (response) {
        return response.json().catch(function () { return {}; }).then(function (reply) {
          if (!response.ok) throw new Error(reply.error || ("refused (" + response.status + ")"));
          commandStatus.textContent = "queued for the agent";
          commandStatus.dataset.state = "queued";
          lastCommand = reply.id;
          return reply;
        });
      })
      .catch(function (error) {
        commandStatus.textContent = error.message;
        commandStatus.dataset.state = "error";
      });
  }

  const sayForm = document.getElementById("say-form");
  const sayText = document.getElementById("say-text");
  const sayCount = document.getElementById("say-count");
  sayText.addEventListener("input", function () { sayCount.textContent = sayText.value.length + "/300"; });
  sayForm.addEventListener("submit", function (event) {
    event.preventDefault();
    send("say", sayText.value).then(function (reply) { if (reply) { sayText.value = ""; sayCount.textContent = "0/300"; } });
  });
  document.getElementById("block-action").addEventListener("click", function () { send("block", state.action); });
  document.getElementById("take-over").addEventListener("click", function () {
    if (window.confirm("Hand this call to a person now?")) send("take-over");
  });
  document.getElementById("end-call").addEventListener("click", function () {
    if (window.confirm("End this call politely now?")) send("end");
  });

  /* --- the stream --- */

  const duration = document.getElementById("call-duration");
  window.setInterval(function () {
    if (!ended) duration.textContent = Review.clock((Date.now() - Date.parse(duration.dataset.started)) / 1000);
  }, 1000);
  showState(state);
  if (ended) endCall(null);

  const source = new EventSource(data.events);
  source.addEventListener("open", function () { status.textContent = "live"; status.dataset.state = "open"; });
  source.addEventListener("error", function () { if (!ended) { status.textContent = "reconnecting…"; status.dataset.state = "error"; } });
  source.addEventListener("turns", function (event) {
    JSON.parse(event.data).forEach(addTurn);
    document.body.dataset.turns = String(timeline.querySelectorAll("li.turn").length);
  });
  source.addEventListener("sentiment", function (event) { showSentiment(JSON.parse(event.data)); });
  source.addEventListener("state", function (event) { showState(JSON.parse(event.data)); });
  source.addEventListener("actions", function (event) { JSON.parse(event.data).forEach(showAction); });
  source.addEventListener("ended", function (event) { source.close(); status.textContent = "ended"; endCall(JSON.parse(event.data)); });
  source.addEventListener("gone", function (event) { source.close(); window.location.href = JSON.parse(event.data).reviewUrl; });
  source.addEventListener("expired", function (event) {
    source.close();
    window.location.href = JSON.parse(event.data).login;
  });
  window.LiveCall = { data: data, ended: function () { return ended; } };
})();
