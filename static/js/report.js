// The report page: cards of stacks, shared controls, the card editor and
// live news of pushes. The same script runs in an exported report, where
// `data.offline` is set and the attachments' bytes are embedded in the file.
//
// The server embeds the report's cards and their attachments' metadata as
// JSON in #report-data. Online, a card fetches its attachment from the API
// with the session when it first scrolls into view.
(function () {
  "use strict";

  const root = document.getElementById("report");
  let data = JSON.parse(document.getElementById("report-data").textContent);
  const offline = Boolean(data.offline);
  const PAGE_KEYS = ["api", "page", "socket", "stacks_api", "can_edit", "plotly_js",
    "bokeh_js", "offline", "embedded", "me"];
  const TEXT_LIMIT = 2000000;
  const TABLE_ROWS = 50;

  // -- values ---------------------------------------------------------------

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

  // The form of a value in the URL query: tabs by title, the rest as text.
  function queryValue(value) {
    if (value !== null && typeof value === "object") return value.title || "";
    return String(value);
  }

  function positionFromQuery(control, raw) {
    if (raw === null) return null;
    for (let i = 0; i < control.values.length; i += 1) {
      const value = control.values[i];
      if (control.type === "number" && raw.trim() !== "" && Number(raw) === value) return i;
      if (queryValue(value) === raw) return i;
    }
    return null;
  }

  function element(tag, attributes, text) {
    const node = document.createElement(tag);
    Object.keys(attributes || {}).forEach(function (key) {
      if (attributes[key] !== null && attributes[key] !== undefined) {
        node.setAttribute(key, attributes[key]);
      }
    });
    if (text !== undefined) node.textContent = text;
    return node;
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

  // Typeset the `span.math` elements the server put where the Markdown had math.
  function typeset(container) {
    if (!window.katex) return;
    container.querySelectorAll("span.math:not([data-typeset])").forEach(function (span) {
      try {
        window.katex.render(span.textContent, span, {
          displayMode: span.dataset.math === "display", throwOnError: false,
        });
        span.dataset.typeset = "true";
      } catch (error) { /* leave the TeX source as text */ }
    });
  }

  // -- selection: shared controls and each card's own -------------------------

  // control key -> chosen value; a shared control's key is its name, a
  // card's own control's key is "c<card id>.<name>", as in the URL query.
  // Values, not their positions, are kept: a new revision can insert a value
  // anywhere in a control's list.
  const chosen = new Map();

  // The position a control shows for its key: the chosen value's, else the
  // nearest number's (or the first) when the chosen value is not in the list.
  function positionOf(control, key) {
    if (!chosen.has(key)) return 0;
    const wanted = chosen.get(key);
    const exact = control.values.findIndex(function (value) { return canonical(value) === canonical(wanted); });
    if (exact >= 0) return exact;
    let best = 0;
    if (typeof wanted === "number") {
      control.values.forEach(function (value, i) {
        if (typeof value === "number" && Math.abs(value - wanted) < Math.abs(control.values[best] - wanted)) best = i;
      });
    }
    return best;
  }

  function localKey(card, name) { return "c" + card.id + "." + name; }

  function allControls() {
    const list = data.controls.map(function (control) { return { key: control.name, control: control }; });
    data.cards.forEach(function (card) {
      (card.controls || []).forEach(function (control) {
        list.push({ key: localKey(card, control.name), control: control, card: card });
      });
    });
    return list;
  }

  function readQuery() {
    const query = new URLSearchParams(window.location.search);
    allControls().forEach(function (item) {
      if (chosen.has(item.key)) return;
      if (!item.control.values.length) return;
      const position = positionFromQuery(item.control, query.get(item.key));
      chosen.set(item.key, item.control.values[position === null ? 0 : position]);
    });
  }

  function writeQuery() {
    if (offline) return;
    const url = new URL(window.location.href);
    const keys = new Set(allControls().map(function (item) { return item.key; }));
    Array.from(url.searchParams.keys()).forEach(function (key) {
      if (keys.has(key) || /^c\d+\./.test(key)) url.searchParams.delete(key);
    });
    allControls().forEach(function (item) {
      if (chosen.has(item.key)) url.searchParams.set(item.key, queryValue(chosen.get(item.key)));
    });
    window.history.replaceState(null, "", url.pathname + url.search + url.hash);
  }

  // The value each param of the card should have: its own control's, else
  // the shared control's.
  function requestedValues(card) {
    const requested = {};
    data.controls.forEach(function (control) {
      if (chosen.has(control.name)) requested[control.name] = canonical(chosen.get(control.name));
    });
    (card.controls || []).forEach(function (control) {
      const key = localKey(card, control.name);
      if (chosen.has(key)) requested[control.name] = canonical(chosen.get(key));
    });
    return requested;
  }

  // How far a param's value is from the requested one: 0 when equal, the
  // difference for two numbers, and Infinity for other values that differ.
  function distance(requested, value) {
    if (requested === canonical(value)) return 0;
    const wanted = JSON.parse(requested);
    if (typeof wanted === "number" && typeof value === "number") return Math.abs(wanted - value);
    return Infinity;
  }

  // Pick the attachment that matches the requested values on the most params.
  // Ties go to the one whose numbers are nearest the requested ones, then to
  // the first. Params the card does not have are ignored.
  function chooseAttachment(card) {
    const requested = requestedValues(card);
    let best = null;
    let bestScore = -1;
    let bestDistance = Infinity;
    card.attachments.forEach(function (attachment) {
      let score = 0;
      let away = 0;
      Object.keys(attachment.params).forEach(function (name) {
        if (requested[name] === undefined) return;
        const gap = distance(requested[name], attachment.params[name]);
        if (gap === 0) score += 1;
        else if (gap !== Infinity) away += gap;
      });
      if (score > bestScore || (score === bestScore && away < bestDistance)) {
        best = attachment;
        bestScore = score;
        bestDistance = away;
      }
    });
    return { attachment: best, requested: requested };
  }

  // -- controls ---------------------------------------------------------------

  let controlCounter = 0;

  function buildControl(control, key) {
    controlCounter += 1;
    const id = "control-" + controlCounter;
    const position = positionOf(control, key);
    let wrapper;
    if (control.control === "tabs") {
      wrapper = element("div", { class: "control control-tabs tabs", role: "tablist", "data-key": key, "data-param": control.name, "data-control": "tabs" });
      control.values.forEach(function (value, i) {
        const button = element("button", { type: "button", role: "tab", "data-position": String(i), "aria-selected": i === position ? "true" : "false" }, displayValue(value));
        wrapper.appendChild(button);
      });
      return wrapper;
    }
    if (control.control === "slider") {
      wrapper = element("div", { class: "control" });
      const label = element("label", { for: id }, control.name + " ");
      const output = element("output", { id: id + "-value", class: "value" }, displayValue(control.values[position]));
      label.appendChild(output);
      const input = element("input", { type: "range", id: id, min: "0", max: String(control.values.length - 1), step: "1", value: String(position), "data-key": key, "data-param": control.name, "data-control": "slider" });
      const ends = element("div", { class: "range-ends muted" });
      ends.append(element("span", {}, displayValue(control.values[0])), element("span", {}, displayValue(control.values[control.values.length - 1])));
      wrapper.append(label, input, ends);
      return wrapper;
    }
    if (control.control === "checkbox") {
      wrapper = element("div", { class: "control control-inline" });
      const label = element("label", {});
      const input = element("input", { type: "checkbox", "data-key": key, "data-param": control.name, "data-control": "checkbox" });
      input.checked = control.values[position] === true;
      label.append(input, document.createTextNode(" " + control.name));
      wrapper.appendChild(label);
      return wrapper;
    }
    wrapper = element("div", { class: "control" });
    wrapper.appendChild(element("label", { for: id }, control.name));
    const select = element("select", { id: id, "data-key": key, "data-param": control.name, "data-control": "select" });
    control.values.forEach(function (value, i) {
      const option = element("option", { value: String(i) }, displayValue(value));
      if (i === position) option.selected = true;
      select.appendChild(option);
    });
    wrapper.appendChild(select);
    return wrapper;
  }

  function controlOf(key) {
    return allControls().find(function (item) { return item.key === key; });
  }

  function onControl(event) {
    const target = event.target.closest("[data-key]");
    if (!target) return;
    const item = controlOf(target.dataset.key);
    if (!item) return;
    let position;
    if (item.control.control === "checkbox") {
      position = item.control.values.findIndex(function (value) { return value === target.checked; });
    } else if (item.control.control === "tabs") {
      const button = event.target.closest("button[data-position]");
      if (!button) return;
      position = Number(button.dataset.position);
      target.querySelectorAll("button").forEach(function (other) {
        other.setAttribute("aria-selected", other === button ? "true" : "false");
      });
    } else {
      position = Number(target.value);
    }
    if (position < 0 || position >= item.control.values.length) return;
    const value = item.control.values[position];
    if (chosen.has(item.key) && canonical(chosen.get(item.key)) === canonical(value)) return;
    chosen.set(item.key, value);
    if (item.control.control === "slider") {
      const output = document.getElementById(target.id + "-value");
      if (output) output.textContent = displayValue(item.control.values[position]);
    }
    writeQuery();
    // A shared control moves every card that has its param; others ignore it.
    data.cards.forEach(function (card) {
      if (!card.available) return;
      if (item.card ? item.card.id === card.id : card.params.indexOf(item.control.name) >= 0) {
        refreshCard(card);
      }
    });
  }

  function wireControls(container) {
    container.addEventListener("input", onControl);
    container.addEventListener("change", onControl);
    container.addEventListener("click", function (event) {
      if (event.target.closest("[data-control=tabs] button")) onControl(event);
    });
  }

  function buildSharedControls() {
    const form = document.getElementById("shared-controls");
    form.replaceChildren();
    data.controls.forEach(function (control) { form.appendChild(buildControl(control, control.name)); });
    form.hidden = data.controls.length === 0;
  }

  // -- loading attachments ----------------------------------------------------

  const scripts = new Map();

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

  function attachmentUrl(card, attachment, suffix) {
    return card.api + "/-/revisions/" + card.revision + "/attachments/" + attachment.index + (suffix || "");
  }

  function embeddedOf(card, attachment) {
    const key = card.stack.path + "@" + card.revision + "#" + attachment.index;
    return (data.embedded || {})[key] || null;
  }

  async function loadText(card, attachment) {
    if (offline) {
      const embedded = embeddedOf(card, attachment);
      if (!embedded) throw new Error("this attachment is not in the export");
      return embedded.text;
    }
    return fetchChecked(attachmentUrl(card, attachment, "/download?through=server"), "text");
  }

  async function renderPlotly(card, attachment, output) {
    const figure = JSON.parse(await loadText(card, attachment));
    if (!window.Plotly) await loadScript(data.plotly_js);
    let plot = output.querySelector(".plot");
    if (!plot) {
      plot = element("div", { class: "plot" });
      output.replaceChildren(plot);
    }
    // react() reuses the plot, so moving a control does not rebuild it.
    const layout = Object.assign({ autosize: true }, figure.layout || {});
    await window.Plotly.react(plot, figure.data || [], layout, { responsive: true, displaylogo: false });
  }

  async function renderBokeh(card, attachment, output) {
    const item = JSON.parse(await loadText(card, attachment));
    if (!window.Bokeh) {
      for (const src of data.bokeh_js) await loadScript(src);
    }
    const target = element("div", { class: "bokeh" });
    output.replaceChildren(target);
    await window.Bokeh.embed.embed_item(item, target);
  }

  function renderImage(card, attachment, output) {
    let src = null;
    if (offline) {
      const embedded = embeddedOf(card, attachment);
      src = embedded ? embedded.src : null;
    } else {
      src = attachmentUrl(card, attachment, "/download");
    }
    if (!src) throw new Error("this image is not in the export");
    const alt = Object.keys(attachment.params).map(function (name) {
      return name + " " + displayValue(attachment.params[name]);
    }).join(", ");
    output.replaceChildren(element("img", { src: src, alt: alt || "image", class: "image", loading: "lazy" }));
  }

  function tableElement(table) {
    const wrapper = element("div", { class: "table-wrap" });
    const grid = element("table", { class: "list data" });
    const head = element("tr");
    table.columns.forEach(function (name, i) {
      head.appendChild(element("th", { title: table.dtypes ? table.dtypes[i] : "" }, name));
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
    return wrapper;
  }

  async function renderTable(card, attachment, output, page) {
    if (offline) {
      const embedded = embeddedOf(card, attachment);
      if (!embedded) throw new Error("this table is not in the export");
      const table = embedded.table;
      output.replaceChildren(tableElement(table), element("p", { class: "muted" },
        table.count > table.rows.length
          ? "The first " + table.rows.length + " of " + table.count + " rows."
          : table.count + " rows."));
      return;
    }
    const table = await fetchChecked(attachmentUrl(card, attachment, "/table?page=" + page + "&page_size=" + TABLE_ROWS), "json");
    const pages = Math.max(1, Math.ceil(table.count / table.page_size));
    const pager = element("nav", { class: "pagination" });
    const previous = element("button", { type: "button" }, "← Previous");
    const next = element("button", { type: "button" }, "Next →");
    previous.disabled = page <= 1;
    next.disabled = page >= pages;
    previous.addEventListener("click", function () { renderTable(card, attachment, output, page - 1).catch(showError(output)); });
    next.addEventListener("click", function () { renderTable(card, attachment, output, page + 1).catch(showError(output)); });
    pager.append(previous, element("span", { class: "muted" }, "Rows " +
      Math.min(table.count, (page - 1) * table.page_size + 1) + "–" +
      Math.min(table.count, page * table.page_size) + " of " + table.count), next);
    output.replaceChildren(tableElement(table), pager);
  }

  async function renderMarkdown(card, attachment, output) {
    let html;
    if (offline) {
      const embedded = embeddedOf(card, attachment);
      if (!embedded) throw new Error("this text is not in the export");
      html = embedded.html;
    } else {
      html = await fetchChecked("/" + card.stack.team + "/" + card.stack.path + "/-/revisions/" +
        card.revision + "/attachments/" + attachment.index + "/html", "text");
    }
    // The server rendered and sanitized this HTML (Markdown, then nh3).
    const prose = element("div", { class: "prose" });
    prose.innerHTML = html;
    output.replaceChildren(prose);
    typeset(prose);
  }

  async function renderText(card, attachment, output) {
    if (attachment.size > TEXT_LIMIT) return renderFile(card, attachment, output);
    let text = await loadText(card, attachment);
    if (attachment.media_type === "application/json") {
      try { text = JSON.stringify(JSON.parse(text), null, 2); } catch (error) { /* as is */ }
    }
    output.replaceChildren(element("pre", { class: "text" }, text));
  }

  function renderFile(card, attachment, output) {
    const box = element("div", { class: "file" });
    box.appendChild(element("p", {}, (attachment.filename || "This attachment") + " is " +
      attachment.media_type + ", " + formatSize(attachment.size) + "."));
    if (offline) {
      box.appendChild(element("p", { class: "muted" }, "Files are not included in an export."));
    } else {
      box.appendChild(element("a", { href: attachmentUrl(card, attachment, "/download"), class: "button" }, "Download"));
    }
    output.replaceChildren(box);
  }

  function showError(output) {
    return function (error) {
      output.replaceChildren(element("p", { class: "message error" },
        "Could not show this attachment: " + error.message));
    };
  }

  // -- cards ------------------------------------------------------------------

  const cardsElement = document.getElementById("cards");
  const nodes = new Map();
  const visible = new Set();
  const observer = "IntersectionObserver" in window ? new IntersectionObserver(function (entries) {
    entries.forEach(function (entry) {
      if (!entry.isIntersecting) return;
      const id = Number(entry.target.dataset.cardId);
      observer.unobserve(entry.target);
      visible.add(id);
      const card = data.cards.find(function (item) { return item.id === id; });
      if (card) refreshCard(card);
    });
  }, { rootMargin: "200px 0px" }) : null;

  function cardHeading(card) {
    if (card.title) return card.title;
    return card.available ? card.stack.path : "Unavailable card";
  }

  function revisionLabel(card) {
    if (card.revision === null) return "no revision yet";
    if (card.follows) return "revision " + card.revision + " · follows the head";
    return "revision " + card.revision + " · pinned" + (card.head !== card.revision ? " (head is " + card.head + ")" : "");
  }

  function buildCard(card) {
    const node = element("section", {
      class: "card report-card width-" + card.width + (card.available ? "" : " unavailable"),
      "data-card-id": String(card.id), "data-testid": "card",
    });
    const head = element("div", { class: "card-head" });
    // Only the handle starts a drag: a drag on a chart zooms it.
    const handle = element("span", { class: "drag-handle", title: "Drag to reorder", "aria-hidden": "true" }, "⋮⋮");
    head.appendChild(handle);
    const titles = element("div", { class: "card-titles" });
    titles.appendChild(element("h2", { class: "card-title" }, cardHeading(card)));
    if (card.available) {
      const meta = element("p", { class: "card-meta muted" });
      if (offline) {
        meta.appendChild(document.createTextNode(card.stack.team + "/" + card.stack.path));
      } else {
        meta.appendChild(element("a", { href: "/" + card.stack.team + "/" + card.stack.path + (card.follows ? "" : "?revision=" + card.revision) }, card.stack.team + "/" + card.stack.path));
      }
      meta.appendChild(document.createTextNode(" · " + revisionLabel(card)));
      titles.appendChild(meta);
    }
    head.appendChild(titles);
    node.appendChild(head);

    const news = element("p", { class: "card-news", hidden: "" });
    node.appendChild(news);
    if (card.description_html) {
      const description = element("div", { class: "prose card-description" });
      // Rendered and sanitized by the server.
      description.innerHTML = card.description_html;
      typeset(description);
      node.appendChild(description);
    }
    if (!card.available) {
      node.appendChild(element("p", { class: "empty unavailable-note" },
        "This card is unavailable: you cannot read its stack."));
    } else {
      const attachmentDescription = element("div", { class: "prose attachment-description", hidden: "" });
      node.appendChild(attachmentDescription);
      if (card.controls && card.controls.length) {
        const form = element("form", { class: "controls card-controls", onsubmit: "return false" });
        card.controls.forEach(function (control) { form.appendChild(buildControl(control, localKey(card, control.name))); });
        wireControls(form);
        node.appendChild(form);
      }
      node.appendChild(element("p", { class: "card-note muted", hidden: "" }));
      const output = element("div", { class: "output", "aria-live": "polite" });
      output.appendChild(element("p", { class: "muted loading" }, card.attachments.length ? "Loading…" : "This revision has no attachments."));
      node.appendChild(output);
    }
    if (data.can_edit && !offline) node.appendChild(buildEditor(card));
    return node;
  }

  function refreshCard(card) {
    const node = nodes.get(card.id);
    if (!node || !card.available || !visible.has(card.id)) return;
    const output = node.querySelector(".output");
    const note = node.querySelector(".card-note");
    const picked = chooseAttachment(card);
    const attachment = picked.attachment;
    if (!attachment) {
      output.replaceChildren(element("p", { class: "muted" }, "This revision has no attachments."));
      return;
    }
    const key = card.revision + "#" + attachment.index;
    // Values of the shared controls that this card has no attachment for.
    const missing = Object.keys(attachment.params).filter(function (name) {
      return picked.requested[name] !== undefined && picked.requested[name] !== canonical(attachment.params[name]);
    });
    note.hidden = missing.length === 0;
    note.textContent = missing.length ? "No attachment has " + missing.map(function (name) {
      return name + " " + displayValue(JSON.parse(picked.requested[name]));
    }).join(", ") + "; showing " + missing.map(function (name) {
      return name + " " + displayValue(attachment.params[name]);
    }).join(", ") + "." : "";
    const described = node.querySelector(".attachment-description");
    if (attachment.description === null) {
      described.hidden = true;
    } else {
      described.innerHTML = data.descriptions[attachment.description];
      typeset(described);
      described.hidden = false;
    }
    if (output.dataset.shown === key) return;
    output.dataset.shown = key;
    output.dataset.kind = attachment.kind;
    delete output.dataset.rendered;
    if (attachment.kind !== "plotly" || !output.querySelector(".plot")) {
      output.replaceChildren(element("p", { class: "muted loading" }, "Loading…"));
    }
    let work;
    switch (attachment.kind) {
      case "plotly": work = renderPlotly(card, attachment, output); break;
      case "bokeh": work = renderBokeh(card, attachment, output); break;
      case "image": work = Promise.resolve().then(function () { renderImage(card, attachment, output); }); break;
      case "table": work = renderTable(card, attachment, output, 1); break;
      case "markdown": work = renderMarkdown(card, attachment, output); break;
      case "text": work = renderText(card, attachment, output); break;
      default: work = Promise.resolve().then(function () { renderFile(card, attachment, output); });
    }
    work.then(function () {
      if (output.dataset.shown === key) output.dataset.rendered = String(attachment.index);
    }).catch(function (error) {
      if (output.dataset.shown === key) showError(output)(error);
    });
  }

  function buildCards() {
    if (observer) observer.disconnect();
    nodes.clear();
    cardsElement.replaceChildren();
    data.cards.forEach(function (card) {
      const node = buildCard(card);
      nodes.set(card.id, node);
      cardsElement.appendChild(node);
      if (!card.available) return;
      if (observer && !visible.has(card.id)) {
        observer.observe(node);
      } else {
        visible.add(card.id);
        refreshCard(card);
      }
    });
    document.getElementById("no-cards").hidden = data.cards.length > 0;
    root.dataset.cards = String(data.cards.length);
  }

  function applyView(view) {
    const page = {};
    PAGE_KEYS.forEach(function (key) { if (key in data) page[key] = data[key]; });
    data = Object.assign(view, page);
    // The choices are values, so they stay put when a new revision inserts
    // values; controls that appeared take theirs from the URL.
    readQuery();
    document.getElementById("report-title").textContent = data.title;
    const description = document.getElementById("report-description");
    description.innerHTML = data.description_html;
    typeset(description);
    buildSharedControls();
    buildCards();
  }

  // -- editing ----------------------------------------------------------------

  async function send(method, url, body) {
    const response = await fetch(url, {
      method: method,
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": window.dstackPage.csrfToken() },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (response.status === 204) return null;
    const answer = await response.json().catch(function () { return null; });
    if (!response.ok) {
      const message = answer && answer.error ? answer.error.message : "HTTP " + response.status;
      throw new Error(message);
    }
    return answer;
  }

  async function reload() {
    applyView(await fetchChecked(data.api, "json"));
  }

  function buildEditor(card) {
    const box = element("div", { class: "card-editor", "data-testid": "card-editor" });
    const id = "card-" + card.id;
    box.appendChild(element("label", { for: id + "-title" }, "Card title"));
    const title = element("input", { type: "text", id: id + "-title", maxlength: "200", placeholder: card.available ? card.stack.path : "" });
    title.value = card.title;
    box.appendChild(title);
    box.appendChild(element("label", { for: id + "-description" }, "Card description"));
    const description = element("textarea", { id: id + "-description", rows: "3" });
    description.value = card.description;
    box.appendChild(description);
    const row = element("div", { class: "row" });
    const width = element("select", { id: id + "-width", "aria-label": "Width" });
    [["half", "Half row"], ["full", "Full row"]].forEach(function (pair) {
      const option = element("option", { value: pair[0] }, pair[1]);
      if (card.width === pair[0]) option.selected = true;
      width.appendChild(option);
    });
    row.appendChild(width);
    const follow = element("select", { id: id + "-follow", "aria-label": "Revision" });
    follow.append(element("option", { value: "head" }, "Follow the head"), element("option", { value: "pin" }, "Pin to revision"));
    const pinned = element("input", { type: "number", min: "1", id: id + "-revision", "aria-label": "Revision number", class: "revision-number" });
    if (card.available) {
      follow.value = card.follows ? "head" : "pin";
      pinned.value = card.revision === null ? "" : String(card.revision);
      pinned.hidden = card.follows;
      follow.addEventListener("change", function () { pinned.hidden = follow.value !== "pin"; });
      row.append(follow, pinned);
    }
    const save = element("button", { type: "button", class: "primary card-save" }, "Save card");
    const remove = element("button", { type: "button", class: "danger card-remove" }, "Remove");
    row.append(save, remove);
    box.appendChild(row);
    const error = element("p", { class: "field-error", hidden: "" });
    box.appendChild(error);

    function fail(problem) {
      error.textContent = problem.message;
      error.hidden = false;
    }
    save.addEventListener("click", function () {
      const body = { description: description.value, width: width.value };
      // A card without a title is titled by its stack; a title once set
      // cannot be emptied, and the server says so.
      if (card.title !== "" || title.value.trim() !== "") body.title = title.value;
      if (card.available) body.revision = follow.value === "pin" ? Number(pinned.value) : null;
      send("PATCH", data.api + "/cards/" + card.id, body).then(applyView).catch(fail);
    });
    remove.addEventListener("click", function () {
      send("DELETE", data.api + "/cards/" + card.id).then(reload).catch(fail);
    });
    return box;
  }

  // Drag a card onto another to put it there; the new order goes to the API.
  let dragged = null;

  function currentOrder() {
    return Array.from(cardsElement.querySelectorAll("[data-card-id]")).map(function (node) {
      return Number(node.dataset.cardId);
    });
  }

  function wireDragging() {
    cardsElement.addEventListener("dragstart", function (event) {
      const handle = event.target.closest && event.target.closest(".drag-handle");
      const node = handle && handle.closest("[data-card-id]");
      if (!node || !root.classList.contains("editing")) return;
      dragged = node;
      node.classList.add("dragging");
      event.dataTransfer.effectAllowed = "move";
      event.dataTransfer.setData("text/plain", node.dataset.cardId);
    });
    cardsElement.addEventListener("dragover", function (event) {
      if (!dragged) return;
      const over = event.target.closest("[data-card-id]");
      event.preventDefault();
      if (!over || over === dragged) return;
      const box = over.getBoundingClientRect();
      const after = over.classList.contains("width-half") && box.width < cardsElement.clientWidth * 0.75
        ? event.clientX > box.left + box.width / 2
        : event.clientY > box.top + box.height / 2;
      cardsElement.insertBefore(dragged, after ? over.nextSibling : over);
    });
    cardsElement.addEventListener("drop", function (event) {
      if (!dragged) return;
      event.preventDefault();
    });
    cardsElement.addEventListener("dragend", function () {
      if (!dragged) return;
      dragged.classList.remove("dragging");
      dragged = null;
      const order = currentOrder();
      const before = data.cards.map(function (card) { return card.id; });
      if (order.join(",") === before.join(",")) return;
      send("PUT", data.api + "/cards/order", { order: order }).then(function () {
        const byId = new Map(data.cards.map(function (card) { return [card.id, card]; }));
        data.cards = order.map(function (id) { return byId.get(id); });
        root.dataset.order = order.join(",");
      }).catch(function (error) {
        showNews("Could not reorder the cards: " + error.message);
        reload();
      });
    });
  }

  function setDraggable(on) {
    cardsElement.querySelectorAll("[data-card-id] .drag-handle").forEach(function (node) {
      node.draggable = on;
    });
  }

  let searchTimer = null;

  async function search() {
    const query = document.getElementById("picker-search").value.trim();
    const results = document.getElementById("picker-results");
    const answer = await fetchChecked(data.stacks_api + "?page_size=20&q=" + encodeURIComponent(query), "json");
    results.replaceChildren();
    if (!answer.results.length) {
      results.appendChild(element("li", { class: "muted" }, query ? "No stack matches “" + query + "”." : "This team has no stacks."));
    }
    answer.results.forEach(function (stack) {
      const item = element("li", { "data-testid": "picker-result" });
      item.appendChild(element("span", { class: "picker-path" }, stack.path));
      item.appendChild(element("span", { class: "muted" }, " #" + stack.head + " · " + stack.access + " "));
      const add = element("button", { type: "button", "data-stack": stack.path }, "Add");
      item.appendChild(add);
      results.appendChild(item);
    });
  }

  function wireEditing() {
    const toggle = document.getElementById("edit-toggle");
    const editor = document.getElementById("report-editor");
    const picker = document.getElementById("picker");
    const titleInput = document.getElementById("report-title-input");
    const descriptionInput = document.getElementById("report-description-input");

    function setEditing(on) {
      root.classList.toggle("editing", on);
      toggle.setAttribute("aria-pressed", on ? "true" : "false");
      toggle.textContent = on ? "Done" : "Edit";
      editor.hidden = !on;
      picker.hidden = !on;
      titleInput.value = data.title;
      descriptionInput.value = data.description;
      setDraggable(on);
      if (on) search().catch(function () { /* the picker shows nothing */ });
    }
    toggle.addEventListener("click", function () { setEditing(!root.classList.contains("editing")); });
    document.getElementById("report-save").addEventListener("click", function () {
      const state = document.getElementById("report-save-state");
      send("PATCH", data.api, { title: titleInput.value, description: descriptionInput.value })
        .then(function (view) {
          applyView(view);
          setDraggable(true);
          state.textContent = "Saved.";
        })
        .catch(function (error) { state.textContent = error.message; });
    });
    document.getElementById("picker-search").addEventListener("input", function () {
      clearTimeout(searchTimer);
      searchTimer = setTimeout(function () { search().catch(function () {}); }, 200);
    });
    document.getElementById("picker-results").addEventListener("click", function (event) {
      const button = event.target.closest("button[data-stack]");
      if (!button) return;
      const error = document.getElementById("picker-error");
      error.hidden = true;
      send("POST", data.api + "/cards", { stack: button.dataset.stack, width: "full" })
        .then(function (view) {
          applyView(view);
          setDraggable(true);
        })
        .catch(function (problem) {
          error.textContent = problem.message;
          error.hidden = false;
        });
    });
    wireDragging();
    const observerOfCards = new MutationObserver(function () {
      if (root.classList.contains("editing")) setDraggable(true);
    });
    observerOfCards.observe(cardsElement, { childList: true });
    if (data.edit) setEditing(true);
  }

  // -- live news --------------------------------------------------------------

  function showNews(text) {
    const banner = document.getElementById("live-banner");
    const list = document.getElementById("live-news");
    list.appendChild(element("li", {}, text));
    banner.hidden = false;
  }

  function onMessage(message) {
    if (message.type === "stack.revised") {
      showNews(message.summary);
      reload().then(function () {
        message.cards.forEach(function (id) {
          const node = nodes.get(id);
          if (!node) return;
          const news = node.querySelector(".card-news");
          news.textContent = "Updated: " + message.summary;
          news.hidden = false;
          node.classList.add("updated");
        });
      }).catch(function () { /* the banner still says what changed */ });
    } else if (message.type === "report.changed") {
      if (message.change === "deleted") {
        showNews("This report was deleted" + (message.by ? " by " + message.by : "") + ".");
        return;
      }
      // This page's own edits are applied already.
      if (message.by && message.by === data.me) return;
      showNews((message.by || "Someone") + " edited this report.");
      reload().catch(function () {});
    }
  }

  function connect(delay) {
    const scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    const socket = new WebSocket(scheme + window.location.host + data.socket);
    // Tests wait for this mark before they push.
    socket.addEventListener("open", function () { document.body.dataset.live = "open"; });
    socket.addEventListener("message", function (event) { onMessage(JSON.parse(event.data)); });
    socket.addEventListener("close", function (event) {
      document.body.dataset.live = "closed";
      // 4403 and 4404 mean this page may not listen; do not retry those.
      if (event.code === 4403 || event.code === 4404) return;
      const wait = Math.min((delay || 1000) * 2, 60000);
      setTimeout(function () { connect(wait); }, wait);
    });
  }

  // -- start ------------------------------------------------------------------

  readQuery();
  typeset(document.getElementById("report-description"));
  buildSharedControls();
  wireControls(document.getElementById("shared-controls"));
  buildCards();
  const dismiss = document.getElementById("live-dismiss");
  dismiss.addEventListener("click", function () {
    document.getElementById("live-news").replaceChildren();
    document.getElementById("live-banner").hidden = true;
  });
  if (!offline) {
    if (data.can_edit) wireEditing();
    if (window.WebSocket) connect(500);
  }
  root.dataset.ready = "true";
})();
