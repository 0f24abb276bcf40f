// The run page: the log tail with follow and search, the progress bar with
// the time left, and the status, all live over /ws/runs/{id}.
//
// The socket numbers every event. On a reconnect the page sends the last
// number it has (?after=N) and the server replays what came since, so the
// page always ends with the final state.
(function () {
  "use strict";
  const logElement = document.getElementById("log");
  if (!logElement) return;
  const runId = logElement.dataset.run;
  const initial = JSON.parse(document.getElementById("run-data").textContent);
  const MAX_LINES = 20000;
  const TAIL_LINES = 5000;
  const FINAL = new Set(["succeeded", "failed", "timed_out", "cancelled"]);
  const LABELS = {
    queued: "Queued", running: "Running", succeeded: "Succeeded", failed: "Failed",
    timed_out: "Timed out", cancelled: "Cancelled",
  };

  const lines = [];
  let partial = "";
  let lastSeq = 0;
  let status = initial.status;
  let renderPending = false;
  let retryDelay = 500;
  let socket = null;

  const search = document.getElementById("log-search");
  const follow = document.getElementById("log-follow");
  const matches = document.getElementById("log-matches");
  const stateText = document.getElementById("log-state");

  function addText(text) {
    const pieces = (partial + text).split("\n");
    partial = pieces.pop();
    for (const piece of pieces) lines.push(piece);
    if (lines.length > MAX_LINES) {
      const dropped = lines.length - MAX_LINES;
      lines.splice(0, dropped);
    }
    scheduleRender();
  }

  function scheduleRender() {
    if (renderPending) return;
    renderPending = true;
    requestAnimationFrame(render);
  }

  function render() {
    renderPending = false;
    const query = search.value.trim().toLowerCase();
    let shown;
    if (query) {
      shown = lines.filter((line) => line.toLowerCase().includes(query));
      matches.textContent = `${shown.length} matching line${shown.length === 1 ? "" : "s"}`;
    } else {
      shown = lines.slice(-TAIL_LINES);
      matches.textContent = lines.length > TAIL_LINES ? `last ${TAIL_LINES} lines` : "";
    }
    logElement.textContent = shown.join("\n") + (partial && !query ? "\n" + partial : "");
    if (follow.checked) logElement.scrollTop = logElement.scrollHeight;
  }

  function formatSeconds(seconds) {
    if (!isFinite(seconds) || seconds < 0) return "";
    if (seconds < 60) return `${Math.ceil(seconds)} s`;
    if (seconds < 3600) return `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`;
    return `${Math.floor(seconds / 3600)} h ${Math.round((seconds % 3600) / 60)} min`;
  }

  function showProgress(progress) {
    if (!progress || typeof progress.current !== "number") return;
    const box = document.getElementById("progress");
    const bar = document.getElementById("progress-bar");
    const text = document.getElementById("progress-text");
    const eta = document.getElementById("progress-eta");
    box.hidden = false;
    const label = progress.desc ? `${progress.desc}: ` : "";
    if (progress.total) {
      const percent = Math.min(100, (100 * progress.current) / progress.total);
      bar.style.width = `${percent}%`;
      bar.setAttribute("aria-valuenow", percent.toFixed(0));
      text.textContent = `${label}${progress.current} of ${progress.total} (${percent.toFixed(0)}%)`;
      const elapsed = progress.elapsed;
      if (elapsed && progress.current > 0 && progress.current < progress.total) {
        const rate = progress.current / elapsed;
        eta.textContent = `about ${formatSeconds((progress.total - progress.current) / rate)} left`;
      } else {
        eta.textContent = progress.current >= progress.total ? "done" : "";
      }
    } else {
      bar.style.width = "100%";
      bar.classList.add("indeterminate");
      text.textContent = `${label}${progress.current}`;
      eta.textContent = "";
    }
  }

  function setText(id, value) {
    const element = document.getElementById(id);
    if (element) element.textContent = value;
  }

  function formatTime(iso) {
    if (!iso) return "—";
    return iso.replace("T", " ").slice(0, 19);
  }

  let durationAnchor = null;
  let ticker = null;

  function tick() {
    if (!durationAnchor) return;
    const seconds = durationAnchor.seconds + (performance.now() - durationAnchor.at) / 1000;
    setText("run-duration", `${seconds.toFixed(1)} s`);
  }

  function startTicking() {
    if (ticker === null) ticker = setInterval(tick, 100);
  }

  function stopTicking() {
    if (ticker !== null) clearInterval(ticker);
    ticker = null;
  }

  function showStatus(run) {
    status = run.status;
    const badge = document.getElementById("run-status");
    badge.textContent = LABELS[run.status] || run.status;
    badge.className = `status status-${run.status}`;
    setText("run-started", formatTime(run.started_at));
    setText("run-finished", formatTime(run.finished_at));
    setText("run-exit", run.exit_code === null ? "—" : String(run.exit_code));
    setText("run-attempts", String(run.attempts));
    if (run.duration_seconds !== null && run.duration_seconds !== undefined) {
      // The server counts the duration when it sends the status; while the
      // run goes on, the page counts on from there.
      durationAnchor = { seconds: run.duration_seconds, at: performance.now() };
      setText("run-duration", `${run.duration_seconds.toFixed(1)} s`);
    }
    if (run.status === "running" && durationAnchor) startTicking();
    else stopTicking();
    const error = document.getElementById("run-error");
    error.textContent = run.error || "";
    error.hidden = !run.error;
    const cancel = document.getElementById("cancel-form");
    if (cancel) cancel.hidden = FINAL.has(run.status);
    if (run.progress) showProgress(run.progress);
  }

  function handle(event) {
    if (event.seq <= lastSeq) return;
    lastSeq = event.seq;
    if (event.kind === "log") addText(event.data.text || "");
    else if (event.kind === "progress") showProgress(event.data);
    else if (event.kind === "status") {
      if (event.data.attempts > 1 && event.data.status === "running") {
        addText(`--- attempt ${event.data.attempts} ---\n`);
      }
      showStatus(event.data);
    }
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    socket = new WebSocket(`${scheme}://${location.host}/ws/runs/${runId}?after=${lastSeq}`);
    socket.addEventListener("open", () => {
      retryDelay = 500;
      stateText.textContent = "";
    });
    socket.addEventListener("message", (message) => {
      const data = JSON.parse(message.data);
      if (data.type === "events") data.events.forEach(handle);
      if (FINAL.has(status)) stateText.textContent = "The run has ended.";
    });
    socket.addEventListener("close", (closed) => {
      if (closed.code === 4401 || closed.code === 4404 || closed.code === 4403) {
        stateText.textContent = "You no longer have access to this run. Reload the page to sign in again.";
        return;
      }
      if (FINAL.has(status) && lastSeq >= initial.last_seq) return;
      stateText.textContent = "Connection lost; reconnecting…";
      setTimeout(connect, retryDelay);
      retryDelay = Math.min(retryDelay * 2, 10000);
    });
  }

  search.addEventListener("input", scheduleRender);
  follow.addEventListener("change", scheduleRender);
  logElement.addEventListener("scroll", () => {
    const atBottom = logElement.scrollHeight - logElement.scrollTop - logElement.clientHeight < 20;
    if (!atBottom && follow.checked && !renderPending) follow.checked = false;
  });
  showStatus(initial);
  connect();
})();
