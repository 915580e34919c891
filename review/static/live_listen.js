/* Listen to a live call: an authenticated websocket (the page's CSRF token is its first
   message) brings the call's audio as the recording has it (16-bit PCM, 8 kHz, caller left,
   agent right); Web Audio plays it a little behind real time, both voices in both ears.
   A listener that falls more than MAX_BEHIND_S behind skips ahead rather than lag further. */
(function () {
  "use strict";

  const MAX_BEHIND_S = 1.0;
  const START_DELAY_S = 0.15;
  const data = Review.readJSON("live-call-data");
  const button = document.getElementById("listen");
  const status = document.getElementById("listen-status");
  const meter = document.getElementById("listen-level");
  const csrf = document.getElementById("csrf").value;
  let socket = null;
  let audio = null;
  let format = null;
  let nextTime = 0;
  const levels = [];  // {at, caller, agent}: what arrived, for the page (and tests) to read

  function rms(samples, channel, channels) {
    let sum = 0, n = 0;
    for (let i = channel; i < samples.length; i += channels) { sum += samples[i] * samples[i]; n++; }
    return n ? Math.sqrt(sum / n) / 32768 : 0;
  }

  function play(block) {
    const samples = new Int16Array(block);
    const channels = format.channels;
    const frames = samples.length / channels;
    if (!frames) return;
    const buffer = audio.createBuffer(2, frames, format.rate);
    const left = buffer.getChannelData(0), right = buffer.getChannelData(1);
    for (let f = 0; f < frames; f++) {
      const mixed = (samples[f * channels] + samples[f * channels + channels - 1]) / 65536;
      left[f] = mixed; right[f] = mixed;  // caller and agent together, in both ears
    }
    const caller = rms(samples, 0, channels), agent = rms(samples, channels - 1, channels);
    levels.push({ at: Date.now(), caller: caller, agent: agent });
    if (levels.length > 600) levels.shift();
    meter.value = Math.min(1, Math.max(caller, agent) * 4);
    const now = audio.currentTime;
    if (nextTime < now + 0.02 || nextTime - now > MAX_BEHIND_S) nextTime = now + START_DELAY_S;
    const source = audio.createBufferSource();
    source.buffer = buffer;
    source.connect(audio.destination);
    source.start(nextTime);
    nextTime += buffer.duration;
  }

  function stop(message) {
    if (socket) { socket.onclose = null; socket.close(); socket = null; }
    if (audio) { audio.close(); audio = null; }
    button.textContent = "Listen";
    button.setAttribute("aria-pressed", "false");
    status.textContent = message || "caller and agent, live";
    meter.value = 0;
  }

  function start() {
    audio = new (window.AudioContext || window.webkitAudioContext)();
    audio.resume();
    format = null;
    nextTime = 0;
    const scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    const url = scheme + window.location.host + data.listen + "?worker=" + encodeURIComponent(data.worker || "");
    socket = new WebSocket(url);
    socket.binaryType = "arraybuffer";
    button.textContent = "Stop listening";
    button.setAttribute("aria-pressed", "true");
    status.textContent = "connecting…";
    socket.onopen = function () { socket.send(JSON.stringify({ csrf: csrf })); };
    socket.onmessage = function (event) {
      if (typeof event.data === "string") {
        format = JSON.parse(event.data);
        status.textContent = "listening";
        status.dataset.state = "listening";
        return;
      }
      if (format) play(event.data);
    };
    socket.onclose = function (event) {
      socket = null;
      const why = event.code === 1000 ? "the call ended" : (event.reason || "disconnected (" + event.code + ")");
      stop(why);
      status.dataset.state = "closed";
    };
  }

  button.addEventListener("click", function () { if (socket) stop(); else start(); });
  window.addEventListener("live-call-ended", function () { if (!socket) button.disabled = true; });
  window.LiveListen = { levels: levels, listening: function () { return socket !== null && format !== null; } };
})();
