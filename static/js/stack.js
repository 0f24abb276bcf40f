// The stack page: controls from the attachments' params, the selected
// attachment fetched from the API with the session, and live news of pushes.
//
// The server embeds the attachments' metadata (never their bytes) as JSON in
// #stack-data; each attachment is loaded when it is selected.
(function () {
  "use strict";

  const data = JSON.parse(document.getElementById("stack-data").textContent);
  const PYTHON_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
  // Names `dstack.pull` takes itself; params with these names go in params=.
  const PULL_ARGUMENTS = new Set(["stack", "profile", "params", "decoder", "revision"]);
  const PYTHON_KEYWORDS = new Set(("False None True and as assert async await break class " +
    "continue def del elif else except finally for from global if import in is lambda " +
    "nonlocal not or pass raise return try while with yield").split(" "));
  const TEXT_LIMIT = 2000000;
  const CACHE_SIZE = 24;

  // -- values and params ----------------------------------------------------

  function canonical(value) {
    if (value !== null && typeof value === "object") {
      const sorted = {};
      Object.keys(value).sort().forEach(function (key) { sorted[key] = value[key]; });
      return JSON.stringify(sorted);
    }
    return JSON.stringify(value);
  }

  function displayValue(value) {
    if (value !== null && typeof value === "object") return value.title || "Untitled";
    return String(value);
  }

  // The form of a value in the page's URL query: tabs by title, the rest as text.
  function queryValue(value) {
    if (value !== null && typeof value === "object") return value.title || "";
    return String(value);
  }

  function pythonValue(value) {
    if (value === true) return "True";
    if (value === false) return "False";
    if (value === null) return "None";
    if (typeof value === "number") return String(value);
    if (typeof value === "object") {
      return value.title === undefined || value.title === null
        ? "dstack.tab()" : "dstack.tab(" + JSON.stringify(value.title) + ")";
    }
    return JSON.stringify(value);
  }

  const controls = data.controls.map(function (control) {
    const positions = new Map();
    control.values.forEach(function (value, position) {
      positions.set(canonical(value), position);
    });
    return Object.assign({}, control, { positions: positions });
  });

  // For each attachment, the position of its value in each control's list,
  // or -1 where the attachment has no such param.
  const attachments = data.attachments.map(function (attachment) {
    const positions = controls.map(function (control) {
      if (!Object.prototype.hasOwnProperty.call(attachment.params, control.name)) return -1;
      return control.positions.get(canonical(attachment.params[control.name]));
    });
    return Object.assign({}, attachment, { positions: positions });
  });

  function closest(requested, fixed) {
    // The attachment that agrees with `requested` on the most controls, among
    // those that agree on control `fixed` (if given); the first one wins ties.
    let best = null;
    let bestScore = -1;
    attachments.forEach(function (attachment) {
      if (fixed !== undefined && attachment.positions[fixed] !== requested[fixed]) return;
      let score = 0;
      attachment.positions.forEach(function (position, i) {
        if (requested[i] !== null && position === requested[i]) score += 1;
      });
      if (score > bestScore) {
        best = attachment;
        bestScore = score;
      }
    });
    return best;
  }

  function positionFromQuery(control, raw) {
    if (raw === null) return null;
    for (let i = 0; i < control.values.length; i += 1) {
      const value = control.values[i];
      if (control.type === "number" && Number(raw) === value && raw.trim() !== "") return i;
      if (queryValue(value) === raw) return i;
    }
    return null;
  }

  // -- the controls ---------------------------------------------------------

  const form = document.getElementById("controls");
  const elements = controls.map(function (control) {
    if (!form) return null;
    return form.querySelector('[data-param="' + CSS.escape(control.name) + '"]');
  });

  function showSelection(selection) {
    controls.forEach(function (control, i) {
      const element = elements[i];
      if (!element) return;
      const position = selection[i];
      const unset = position === -1 || position === null;
      element.classList.toggle("unset", unset);
      if (control.control === "slider") {
        element.value = unset ? 0 : position;
        const output = document.getElementById(element.id + "-value");
        if (output) output.textContent = unset ? "—" : displayValue(control.values[position]);
      } else if (control.control === "checkbox") {
        element.checked = !unset && control.values[position] === true;
      } else if (control.control === "tabs") {
        element.querySelectorAll("button").forEach(function (button) {
          const selected = !unset && Number(button.dataset.position) === position;
          button.setAttribute("aria-selected", selected ? "true" : "false");
        });
      } else {
        element.value = unset ? "" : String(position);
      }
    });
  }

  function positionFromElement(i, event) {
    const control = controls[i];
    const element = elements[i];
    if (control.control === "checkbox") {
      return control.positions.get(canonical(element.checked));
    }
    if (control.control === "tabs") {
      const button = event.target.closest("button[data-position]");
      return button ? Number(button.dataset.position) : null;
    }
    return Number(element.value);
  }

  function writeQuery(attachment) {
    const url = new URL(window.location.href);
    controls.forEach(function (control) { url.searchParams.delete(control.name); });
    controls.forEach(function (control, i) {
      const position = attachment.positions[i];
      if (position >= 0) url.searchParams.set(control.name, queryValue(control.values[position]));
    });
    window.history.replaceState(null, "", url.pathname + url.search + url.hash);
  }

  // -- rendering ------------------------------------------------------------

  const output = document.getElementById("output");
  const description = document.getElementById("description");
  const facts = document.getElementById("facts");
  const downloads = document.getElementById("downloads");
  const snippet = document.getElementById("pull-snippet");
  const cache = new Map();
  const scripts = new Map();
  let generation = 0;

  function attachmentUrl(attachment, suffix) {
    return data.api + "/-/revisions/" + data.revision + "/attachments/" +
      attachment.index + (suffix || "");
  }

  function loadScript(src) {
    if (!scripts.has(src)) {
      scripts.set(src, new Promise(function (resolve, reject) {
        const script = document.createElement("script");
        script.src = src;
        script.onload = resolve;
        script.onerror = function () {
          scripts.delete(src);
          reject(new Error("could not load " + src));
        };
        document.head.appendChild(script);
      }));
    }
    return scripts.get(src);
  }

  async function fetchChecked(url, as) {
    const response = await fetch(url, { credentials: "same-origin" });
    if (!response.ok) {
      let message = "HTTP " + response.status;
      try {
        const body = await response.json();
        if (body && body.error) message = body.error.message;
      } catch (error) { /* not JSON: keep the status */ }
      throw new Error(message);
    }
    return as === "json" ? response.json() : response.text();
  }

  function cached(key, load) {
    if (cache.has(key)) {
      const value = cache.get(key);
      cache.delete(key);
      cache.set(key, value);
      return value;
    }
    const promise = load();
    cache.set(key, promise);
    promise.catch(function () { cache.delete(key); });
    if (cache.size > CACHE_SIZE) cache.delete(cache.keys().next().value);
    return promise;
  }

  function formatSize(bytes) {
    if (bytes < 1024) return bytes + " B";
    const units = ["KB", "MB", "GB", "TB"];
    let value = bytes / 1024;
    let unit = 0;
    while (value >= 1024 && unit < units.length - 1) {
      value /= 1024;
      unit += 1;
    }
    return value.toFixed(value < 10 ? 1 : 0) + " " + units[unit];
  }

  function element(tag, attributes, text) {
    const node = document.createElement(tag);
    Object.keys(attributes || {}).forEach(function (key) { node.setAttribute(key, attributes[key]); });
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function showError(message) {
    output.replaceChildren(element("p", { class: "message error" },
      "Could not show this attachment: " + message));
  }

  function renderFacts(attachment) {
    facts.replaceChildren();
    const rows = [["Index", String(attachment.index)]];
    Object.keys(attachment.params).forEach(function (name) {
      rows.push([name, displayValue(attachment.params[name])]);
    });
    rows.push(["Type", attachment.media_type + (attachment.application ? " (" + attachment.application + ")" : "")]);
    rows.push(["Size", formatSize(attachment.size)]);
    if (attachment.filename) rows.push(["File", attachment.filename]);
    rows.forEach(function (row) {
      facts.appendChild(element("dt", {}, row[0]));
      facts.appendChild(element("dd", {}, row[1]));
    });

    downloads.replaceChildren();
    const link = element("a", { href: attachmentUrl(attachment, "/download"), class: "button" }, "Download");
    if (attachment.filename) link.setAttribute("download", attachment.filename);
    downloads.appendChild(link);
    if (attachment.kind === "table") {
      downloads.appendChild(document.createTextNode(" "));
      downloads.appendChild(element("a", {
        href: attachmentUrl(attachment, "/download?format=csv"), class: "button",
      }, "Download CSV"));
    }
  }

  function renderSnippet(attachment) {
    const names = Object.keys(attachment.params);
    const plain = names.every(function (name) {
      return PYTHON_NAME.test(name) && !PULL_ARGUMENTS.has(name) && !PYTHON_KEYWORDS.has(name);
    });
    const args = [JSON.stringify("/" + data.team + "/" + data.path)];
    if (plain) {
      names.forEach(function (name) { args.push(name + "=" + pythonValue(attachment.params[name])); });
    } else if (names.length) {
      args.push("params={" + names.map(function (name) {
        return JSON.stringify(name) + ": " + pythonValue(attachment.params[name]);
      }).join(", ") + "}");
    }
    if (data.revision !== data.head) args.push("revision=" + data.revision);
    const call = args.length > 1
      ? "dstack.pull(\n    " + args.join(",\n    ") + ",\n)"
      : "dstack.pull(" + args[0] + ")";
    snippet.textContent = "import dstack\n\nobj = " + call;
  }

  async function renderPlotly(attachment, current) {
    const [figure] = await Promise.all([
      cached("json:" + attachment.index, function () {
        return fetchChecked(attachmentUrl(attachment, "/download?through=server"), "json");
      }),
      loadScript(data.plotly_js),
    ]);
    if (current !== generation) return;
    let plot = document.getElementById("plot");
    if (!plot) {
      plot = element("div", { id: "plot", class: "plot" });
      output.replaceChildren(plot);
    }
    // react() reuses the plot, so moving a slider does not rebuild it.
    // Fill the card unless the figure fixes its own size.
    const layout = Object.assign({ autosize: true }, figure.layout || {});
    await window.Plotly.react(plot, figure.data || [], layout, {
      responsive: true, displaylogo: false,
    });
  }

  async function renderBokeh(attachment, current) {
    const item = await cached("json:" + attachment.index, function () {
      return fetchChecked(attachmentUrl(attachment, "/download?through=server"), "json");
    });
    for (const src of data.bokeh_js) await loadScript(src);
    if (current !== generation) return;
    const target = element("div", { class: "bokeh" });
    output.replaceChildren(target);
    await window.Bokeh.embed.embed_item(item, target);
  }

  function renderImage(attachment) {
    const alt = Object.keys(attachment.params).map(function (name) {
      return name + " " + displayValue(attachment.params[name]);
    }).join(", ");
    output.replaceChildren(element("img", {
      src: attachmentUrl(attachment, "/download"), alt: alt || "image", class: "image",
    }));
  }

  async function renderTable(attachment, current, page) {
    const url = attachmentUrl(attachment, "/table?page=" + page + "&page_size=50");
    const table = await cached("table:" + attachment.index + ":" + page, function () {
      return fetchChecked(url, "json");
    });
    if (current !== generation) return;
    const wrapper = element("div", { class: "table-wrap" });
    const grid = element("table", { class: "list data" });
    const head = element("tr");
    table.columns.forEach(function (name, i) {
      const cell = element("th", { title: table.dtypes ? table.dtypes[i] : "" }, name);
      head.appendChild(cell);
    });
    grid.appendChild(element("thead")).appendChild(head);
    const body = grid.appendChild(element("tbody"));
    table.rows.forEach(function (row) {
      const line = body.appendChild(element("tr"));
      row.forEach(function (value) {
        const cell = element("td", {}, value === null ? "" : String(value));
        if (typeof value === "number") cell.className = "num";
        line.appendChild(cell);
      });
    });
    wrapper.appendChild(grid);

    const pages = Math.max(1, Math.ceil(table.count / table.page_size));
    const pager = element("nav", { class: "pagination" });
    const previous = element("button", { type: "button" }, "← Previous");
    const next = element("button", { type: "button" }, "Next →");
    previous.disabled = page <= 1;
    next.disabled = page >= pages;
    previous.addEventListener("click", function () { renderTable(attachment, generation, page - 1).catch(fail(generation)); });
    next.addEventListener("click", function () { renderTable(attachment, generation, page + 1).catch(fail(generation)); });
    pager.append(previous, element("span", { class: "muted" },
      "Rows " + Math.min(table.count, (page - 1) * table.page_size + 1) + "–" +
      Math.min(table.count, page * table.page_size) + " of " + table.count), next);
    output.replaceChildren(wrapper, pager);
  }

  async function renderMarkdown(attachment, current) {
    const url = data.markdown.replace("{number}", data.revision).replace("{index}", attachment.index);
    const html = await cached("md:" + attachment.index, function () { return fetchChecked(url, "text"); });
    if (current !== generation) return;
    // The server rendered and sanitized this HTML (Markdown, then nh3).
    const prose = element("div", { class: "prose" });
    prose.innerHTML = html;
    output.replaceChildren(prose);
  }

  async function renderText(attachment, current) {
    if (attachment.size > TEXT_LIMIT) return renderFile(attachment);
    let text = await cached("text:" + attachment.index, function () {
      return fetchChecked(attachmentUrl(attachment, "/download?through=server"), "text");
    });
    if (current !== generation) return;
    if (attachment.media_type === "application/json") {
      try { text = JSON.stringify(JSON.parse(text), null, 2); } catch (error) { /* show as is */ }
    }
    output.replaceChildren(element("pre", { class: "text" }, text));
  }

  function renderFile(attachment) {
    const box = element("div", { class: "file" });
    box.appendChild(element("p", {}, (attachment.filename || "This attachment") + " is " +
      attachment.media_type + ", " + formatSize(attachment.size) + "."));
    const link = element("a", { href: attachmentUrl(attachment, "/download"), class: "button" }, "Download");
    box.appendChild(link);
    output.replaceChildren(box);
  }

  function fail(current) {
    return function (error) {
      if (current === generation) showError(error.message);
    };
  }

  function render(attachment) {
    generation += 1;
    const current = generation;
    document.getElementById("no-match").hidden = attachment !== null;
    if (attachment === null) {
      output.replaceChildren();
      return;
    }
    output.dataset.index = String(attachment.index);
    output.dataset.kind = attachment.kind;
    renderFacts(attachment);
    renderSnippet(attachment);
    if (attachment.description === null) {
      description.hidden = true;
      description.replaceChildren();
    } else {
      // Rendered and sanitized by the server.
      description.innerHTML = data.descriptions[attachment.description];
      description.hidden = false;
    }
    if (attachment.kind !== "plotly" && document.getElementById("plot")) {
      output.replaceChildren();
    }
    if (attachment.kind !== "plotly") {
      output.replaceChildren(element("p", { class: "muted loading" }, "Loading…"));
    }

    let work;
    switch (attachment.kind) {
      case "plotly": work = renderPlotly(attachment, current); break;
      case "bokeh": work = renderBokeh(attachment, current); break;
      case "image": work = Promise.resolve(renderImage(attachment)); break;
      case "table": work = renderTable(attachment, current, 1); break;
      case "markdown": work = renderMarkdown(attachment, current); break;
      case "text": work = renderText(attachment, current); break;
      default: work = Promise.resolve(renderFile(attachment));
    }
    work.then(function () {
      if (current === generation) output.dataset.rendered = String(attachment.index);
    }).catch(fail(current));
  }

  function select(attachment) {
    showSelection(attachment ? attachment.positions : controls.map(function () { return null; }));
    render(attachment);
  }

  // -- live news of pushes --------------------------------------------------

  function connect(delay) {
    const scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    const socket = new WebSocket(scheme + window.location.host + data.socket);
    // Tests wait for this mark before they push.
    socket.addEventListener("open", function () { document.body.dataset.live = "open"; });
    socket.addEventListener("message", function (event) {
      const message = JSON.parse(event.data);
      if (message.type !== "revision.committed") return;
      if (data.head !== null && message.number <= data.head) return;
      const banner = document.getElementById("live-banner");
      document.getElementById("live-text").textContent =
        "Revision " + message.number + " was pushed.";
      banner.hidden = false;
    });
    socket.addEventListener("close", function (event) {
      document.body.dataset.live = "closed";
      // 4403 and 4404 mean this page may not listen; do not retry those.
      if (event.code === 4403 || event.code === 4404) return;
      const wait = Math.min((delay || 1000) * 2, 60000);
      setTimeout(function () { connect(wait); }, wait);
    });
  }

  const show = document.getElementById("live-show");
  if (show) {
    show.addEventListener("click", function (event) {
      event.preventDefault();
      const url = new URL(window.location.href);
      url.searchParams.delete("revision");
      window.location.assign(url.pathname + url.search);
    });
  }
  if (window.WebSocket) connect(500);

  // -- start ----------------------------------------------------------------

  if (data.revision === null || attachments.length === 0) return;

  const query = new URLSearchParams(window.location.search);
  const requested = controls.map(function (control) {
    return positionFromQuery(control, query.get(control.name));
  });
  const anyRequested = requested.some(function (position) { return position !== null; });
  let selected = anyRequested ? closest(requested) : attachments[0];
  select(selected);

  function onChange(event) {
    const i = elements.indexOf(event.target.closest("[data-param]"));
    if (i < 0) return;
    const position = positionFromElement(i, event);
    if (position === null || position === undefined) return;
    const requestedNow = selected.positions.slice();
    requestedNow[i] = position;
    const match = closest(requestedNow, i);
    // A slider fires both input and change: the second finds the same match.
    if (match === null || match === selected) return;
    selected = match;
    writeQuery(match);
    select(match);
  }

  if (form) {
    form.addEventListener("input", onChange);
    form.addEventListener("change", onChange);
    form.addEventListener("click", function (event) {
      if (event.target.closest("[data-control=tabs] button")) onChange(event);
    });
  }
})();
