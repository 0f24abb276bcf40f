// The job page's run list, live over /ws/jobs/{id}: new runs appear and
// each row's status, duration and progress change as the runs go.
(function () {
  "use strict";
  const table = document.getElementById("runs");
  if (!table) return;
  const body = table.querySelector("tbody");
  const jobId = table.dataset.job;
  const team = table.dataset.team;
  const LABELS = {
    queued: "Queued", running: "Running", succeeded: "Succeeded", failed: "Failed",
    timed_out: "Timed out", cancelled: "Cancelled",
  };
  let seq = Number(table.dataset.seq);
  let retryDelay = 500;

  function cell(text, className) {
    const td = document.createElement("td");
    if (className) td.className = className;
    if (text instanceof Node) td.appendChild(text);
    else td.textContent = text;
    return td;
  }

  function row(run) {
    const tr = document.createElement("tr");
    tr.dataset.run = run.id;
    const link = document.createElement("a");
    link.href = `/${team}/-/runs/${run.id}`;
    link.textContent = `#${run.number}`;
    const badge = document.createElement("span");
    badge.className = `status status-${run.status}`;
    badge.textContent = LABELS[run.status] || run.status;
    const progress = run.progress && run.progress.total
      ? `${Math.round((100 * run.progress.current) / run.progress.total)}%`
      : "";
    tr.append(
      cell(link, "num"),
      cell(badge),
      cell(run.trigger),
      cell(run.started_at ? run.started_at.replace("T", " ").slice(0, 19) : "—"),
      cell(run.duration_seconds !== null ? `${run.duration_seconds.toFixed(1)} s` : "", "num"),
      cell(progress),
    );
    return tr;
  }

  function upsert(run) {
    const empty = body.querySelector(".empty-row");
    if (empty) empty.remove();
    const fresh = row(run);
    const existing = body.querySelector(`tr[data-run="${run.id}"]`);
    if (existing) existing.replaceWith(fresh);
    else body.prepend(fresh);
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const socket = new WebSocket(`${scheme}://${location.host}/ws/jobs/${jobId}?after=${seq}`);
    socket.addEventListener("open", () => { retryDelay = 500; });
    socket.addEventListener("message", (message) => {
      const data = JSON.parse(message.data);
      if (data.type === "runs") {
        seq = data.seq;
        data.runs.slice().reverse().forEach(upsert);
      } else if (data.type === "run" && data.seq > seq) {
        seq = data.seq;
        upsert(data.run);
      }
    });
    socket.addEventListener("close", (closed) => {
      if (closed.code >= 4400 && closed.code < 4500) return;
      setTimeout(connect, retryDelay);
      retryDelay = Math.min(retryDelay * 2, 10000);
    });
  }
  connect();
})();
