/* The call page: waveform + audio player, a transcript that seeks and follows playback,
   per-channel listening, and the sentiment and latency charts. */
(function () {
  "use strict";

  const data = Review.readJSON("call-data") || { turns: [] };
  const audio = document.getElementById("audio");
  const timeline = document.getElementById("timeline");
  const lines = Array.from(document.querySelectorAll("#timeline li.turn"));
  const clockLabel = document.getElementById("clock");
  const follow = document.getElementById("follow");
  const palette = Review.palette;
  let peaks = null;

  function duration() {
    if (audio && isFinite(audio.duration) && audio.duration > 0) return audio.duration;
    return (peaks && peaks.duration_s) || data.duration || 0;
  }

  function seek(seconds, play) {
    if (!audio) return;
    audio.currentTime = Math.max(0, seconds);
    if (play !== false) audio.play().catch(function () { /* needs a gesture; seeking is done */ });
    update();
  }

  /* --- the transcript: click to play from a line; the current line follows playback --- */

  if (timeline) {
    timeline.addEventListener("click", function (event) {
      const line = event.target.closest("li[data-start]");
      if (!line) return;
      if (String(window.getSelection()).length > 0) return; // selecting text is not seeking
      seek(parseFloat(line.dataset.start));
    });
  }
  document.querySelectorAll(".actions .seek").forEach(function (button) {
    button.addEventListener("click", function () { seek(parseFloat(button.dataset.start)); });
  });

  let current = null;

  function lineAt(t) {
    let found = null;
    for (const line of lines) {
      if (parseFloat(line.dataset.start) <= t + 0.05) found = line; else break;
    }
    return found;
  }

  // Smooth scrolling only for those who have not asked the system for less motion.
  const scrollBehavior = window.matchMedia("(prefers-reduced-motion: reduce)").matches ? "auto" : "smooth";

  function reveal(line) {
    const box = timeline.closest(".transcript");
    if (box && box.scrollHeight > box.clientHeight + 4) {
      const top = line.offsetTop - box.offsetTop - box.clientHeight / 3;
      box.scrollTo({ top: Math.max(0, top), behavior: scrollBehavior });
      return;
    }
    // The page scrolls: keep the line in the part of the window below the sticky player.
    const player = document.getElementById("player");
    const covered = player ? Math.max(0, player.getBoundingClientRect().bottom) : 0;
    const rect = line.getBoundingClientRect();
    if (rect.top < covered + 8 || rect.bottom > window.innerHeight - 20) {
      const free = window.innerHeight - covered;
      window.scrollBy({ top: rect.top - covered - free / 3, behavior: scrollBehavior });
    }
  }

  function markCurrent(t) {
    const line = lineAt(t);
    if (line === current) return;
    if (current) { current.classList.remove("current"); current.removeAttribute("aria-current"); }
    if (line) { line.classList.add("current"); line.setAttribute("aria-current", "true"); }
    current = line;
    if (line && follow && follow.checked && !audio.paused) reveal(line);
  }

  /* --- the waveform: caller lane above, agent below; markers; click to seek --- */

  const canvas = document.getElementById("wave-canvas");

  function drawLane(g, values, top, height, played, colour) {
    const n = values.length;
    const w = canvas.clientWidth;
    const mid = top + height / 2;
    for (let i = 0; i < n; i++) {
      const x = (i / n) * w;
      const amp = Math.max(1, Math.sqrt(values[i]) * height * 0.48); // sqrt: quiet speech shows
      g.globalAlpha = x <= played ? 1 : 0.35;
      g.fillStyle = colour;
      g.fillRect(x, mid - amp, Math.max(1, w / n - 0.6), amp * 2);
    }
    g.globalAlpha = 1;
  }

  function drawMarker(g, x, colour, height) {
    g.strokeStyle = colour;
    g.lineWidth = 2;
    g.setLineDash([4, 3]);
    g.beginPath(); g.moveTo(x, 0); g.lineTo(x, height); g.stroke();
    g.setLineDash([]);
  }

  function drawWave() {
    if (!canvas || !peaks) return;
    const ratio = window.devicePixelRatio || 1;
    const w = canvas.clientWidth, h = canvas.clientHeight;
    if (canvas.width !== Math.round(w * ratio) || canvas.height !== Math.round(h * ratio)) {
      canvas.width = Math.round(w * ratio); canvas.height = Math.round(h * ratio);
    }
    const g = canvas.getContext("2d");
    g.setTransform(ratio, 0, 0, ratio, 0, 0);
    g.clearRect(0, 0, w, h);
    const total = duration() || 1;
    const played = (audio.currentTime / total) * w;
    const lane = (h - 6) / 2;
    g.fillStyle = palette.grid;
    g.fillRect(0, lane + 2, w, 2);
    drawLane(g, peaks.caller, 0, lane, played, palette.caller);
    drawLane(g, peaks.agent, lane + 6, lane, played, palette.agent);
    (data.bargeIns || []).forEach(function (t) { drawMarker(g, (t / total) * w, palette.meh, h); });
    if (data.escalation && data.escalation.t !== null) {
      drawMarker(g, (data.escalation.t / total) * w, palette.bad, h);
    }
    g.fillStyle = palette.text;
    g.fillRect(Math.min(played, w - 2), 0, 2, h);
  }

  if (canvas) {
    canvas.addEventListener("click", function (event) {
      const rect = canvas.getBoundingClientRect();
      seek(((event.clientX - rect.left) / rect.width) * duration());
    });
    if (window.ResizeObserver) new ResizeObserver(drawWave).observe(canvas);
    if (data.waveform) {
      fetch(data.waveform, { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (json) { peaks = json; drawWave(); });
    }
  }

  /* --- playback clock and a smooth playhead --- */

  function update() {
    if (!audio) return;
    const t = audio.currentTime;
    if (clockLabel) clockLabel.textContent = Review.clock(t, true) + " / " + Review.clock(duration());
    markCurrent(t);
    drawWave();
  }

  function tick() {
    update();
    if (!audio.paused) window.requestAnimationFrame(tick);
  }

  if (audio) {
    ["timeupdate", "seeked", "loadedmetadata", "pause"].forEach(function (name) {
      audio.addEventListener(name, update);
    });
    audio.addEventListener("play", function () { window.requestAnimationFrame(tick); });
    const speed = document.getElementById("speed");
    if (speed) speed.addEventListener("change", function () { audio.playbackRate = parseFloat(speed.value); });
  }

  /* --- listen to one side: Web Audio splits the stereo file (caller left, agent right) --- */

  let graph = null;

  function channels() {
    if (!graph) {
      const context = new (window.AudioContext || window.webkitAudioContext)();
      const source = context.createMediaElementSource(audio);
      const split = context.createChannelSplitter(2);
      const merge = context.createChannelMerger(2);
      const gains = [context.createGain(), context.createGain()];
      source.connect(split);
      gains.forEach(function (gain, side) {
        split.connect(gain, side);
        gain.connect(merge, 0, 0); // each side to both ears: one voice alone is easy to hear
        gain.connect(merge, 0, 1);
      });
      merge.connect(context.destination);
      graph = { context: context, gains: gains };
    }
    graph.context.resume();
    return graph;
  }

  ["hear-caller", "hear-agent"].forEach(function (id, side) {
    const box = document.getElementById(id);
    if (!box || !audio) return;
    box.addEventListener("change", function () { channels().gains[side].gain.value = box.checked ? 1 : 0; });
  });

  /* --- charts --- */

  function escalationLine(indexOf) {
    return {
      id: "escalationLine",
      afterDatasetsDraw: function (chart) {
        const at = indexOf();
        if (at < 0) return;
        const x = chart.scales.x.getPixelForValue(at);
        const area = chart.chartArea, g = chart.ctx;
        g.save();
        g.strokeStyle = palette.bad; g.lineWidth = 2; g.setLineDash([5, 4]);
        g.beginPath(); g.moveTo(x, area.top); g.lineTo(x, area.bottom); g.stroke();
        g.setLineDash([]);
        g.fillStyle = palette.bad;
        g.font = "600 11px " + (Review.colour("--font") || "sans-serif");
        g.textAlign = x > area.right - 70 ? "right" : "left";
        g.fillText("escalated", x + (g.textAlign === "left" ? 5 : -5), area.top + 10);
        g.restore();
      },
    };
  }

  function sentimentChart() {
    const node = document.getElementById("sentiment-chart");
    const turns = data.turns.filter(function (t) { return t.role === "caller" && t.score !== null; });
    if (!node || !window.Chart || turns.length === 0) return;
    const esc = data.escalation;
    new Chart(node, {
      type: "line",
      data: {
        labels: turns.map(function (t) { return Review.clock(t.start); }),
        datasets: [
          { label: "Sentiment", data: turns.map(function (t) { return t.score; }),
            borderColor: palette.accent, backgroundColor: turns.map(function (t) { return Review.mood(t.score); }),
            pointRadius: 5, pointHoverRadius: 7, cubicInterpolationMode: "monotone", borderWidth: 2 },
          { label: "Wants a person (probability)", data: turns.map(function (t) { return t.p; }),
            borderColor: palette.neutral, borderDash: [4, 4], pointRadius: 0, borderWidth: 1.5,
            cubicInterpolationMode: "monotone" },
        ],
      },
      options: {
        interaction: { mode: "index", intersect: false },
        scales: { y: { min: -1, max: 1, ticks: { stepSize: 0.5 } }, x: { grid: { display: false } } },
        plugins: { legend: { position: "bottom" } },
        onClick: function (_event, items) { if (items.length) seek(turns[items[0].index].start); },
      },
      plugins: [escalationLine(function () {
        return esc ? turns.findIndex(function (t) { return t.i === esc.turn; }) : -1;
      })],
    });
  }

  function latencyChart() {
    const node = document.getElementById("latency-chart");
    const turns = data.turns.filter(function (t) { return t.role === "agent" && t.latency !== null; });
    if (!node || !window.Chart) return;
    if (turns.length === 0) { node.parentElement.classList.add("empty-chart"); return; }
    new Chart(node, {
      type: "bar",
      data: {
        labels: turns.map(function (t) { return Review.clock(t.start); }),
        datasets: [{ label: "Latency (ms)", data: turns.map(function (t) { return Math.round(t.latency); }),
          backgroundColor: turns.map(function (t) { return t.latency > 1500 ? palette.meh : palette.agent; }),
          borderRadius: 4, maxBarThickness: 28 }],
      },
      options: {
        plugins: { legend: { display: false } },
        scales: { y: { beginAtZero: true, title: { display: true, text: "ms" } }, x: { grid: { display: false } } },
        onClick: function (_event, items) { if (items.length) seek(turns[items[0].index].start); },
      },
    });
  }

  sentimentChart();
  latencyChart();
  update();
})();
