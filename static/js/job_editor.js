// The job editor: ACE for the code (served from the django-ace package),
// the source and schedule choices, and the next five run times, asked of
// the server as the schedule is typed, so they follow Celery's rules.
(function () {
  "use strict";
  const form = document.getElementById("job-form");
  if (!form) return;
  const script = document.getElementById("job-editor-script");
  const textarea = document.getElementById("id_code");
  const runtime = document.getElementById("id_runtime");

  let editor = null;
  if (window.ace) {
    window.ace.config.set("basePath", script.dataset.aceBase);
    editor = window.ace.edit("code-editor", {
      value: textarea.value,
      minLines: 16,
      maxLines: 40,
      fontSize: 14,
      showPrintMargin: false,
      useSoftTabs: true,
      tabSize: 4,
      useWorker: false,
    });
    textarea.hidden = true;
    const setMode = () => {
      editor.session.setMode(runtime.value === "r" ? "ace/mode/r" : "ace/mode/python");
    };
    setMode();
    runtime.addEventListener("change", setMode);
    form.addEventListener("submit", () => { textarea.value = editor.getValue(); });
  } else {
    document.getElementById("code-editor").hidden = true;
  }

  function showSource() {
    const source = form.querySelector("input[name=source]:checked").value;
    document.getElementById("inline-source").hidden = source !== "inline";
    document.getElementById("upload-source").hidden = source !== "upload";
  }
  form.querySelectorAll("input[name=source]").forEach((input) => {
    input.addEventListener("change", showSource);
  });
  showSource();

  const list = document.getElementById("next-runs");
  const error = document.getElementById("schedule-error");
  let timer = null;

  function scheduleKind() {
    return form.querySelector("input[name=schedule_kind]:checked").value;
  }

  function showSchedule() {
    const kind = scheduleKind();
    form.querySelectorAll(".schedule-part").forEach((part) => {
      part.hidden = !part.dataset.kind.split(" ").includes(kind);
    });
    clearTimeout(timer);
    timer = setTimeout(preview, 250);
  }

  async function preview() {
    const kind = scheduleKind();
    if (kind === "manual") return;
    const params = new URLSearchParams({ timezone: form.timezone.value || "UTC" });
    if (kind === "preset") {
      params.set("preset", form.preset.value);
      params.set("at", form.at.value || "06:00");
    } else if (kind === "cron") {
      params.set("cron", form.cron.value);
    } else {
      params.set("interval_seconds", String(Math.round(Number(form.interval_minutes.value) * 60)));
    }
    const response = await fetch(`/api/schedule-preview?${params}`, { credentials: "same-origin" });
    const body = await response.json();
    list.replaceChildren();
    if (!response.ok) {
      error.textContent = body.error.message;
      error.hidden = false;
      return;
    }
    error.hidden = true;
    const zone = form.timezone.value || "UTC";
    for (const moment of body.next_runs) {
      const item = document.createElement("li");
      const time = document.createElement("time");
      time.dateTime = moment;
      const date = new Date(moment);
      let local;
      try {
        local = date.toLocaleString("sv-SE", { timeZone: zone, hour12: false }).slice(0, 16);
      } catch (rangeError) {
        local = moment;
      }
      time.textContent = `${local} ${zone}`;
      item.appendChild(time);
      list.appendChild(item);
    }
  }

  form.querySelectorAll("input[name=schedule_kind]").forEach((input) => {
    input.addEventListener("change", showSchedule);
  });
  ["cron", "timezone", "preset", "at", "interval_minutes"].forEach((name) => {
    form.elements[name].addEventListener("input", showSchedule);
    form.elements[name].addEventListener("change", showSchedule);
  });
  showSchedule();
})();
