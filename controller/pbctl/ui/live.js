"use strict";
// The live view. Reads /v1/live, a snapshot of the panel a second as
// server-sent events, with fetch (EventSource cannot send the token),
// draws each process and its ports, and turns the counters of two
// snapshots into rates. A process that is gone or silent, and a link that
// is down, show in red. A click on a port shows all its counters.

const view = {
  token: sessionStorage.getItem("patchbay-token") || "",
  previous: new Map(),   // "process|port" -> {time, counters}
  selected: null,        // {process, port}
  last: null,            // the last snapshot
};

const number = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });
const sleep = (ms) => new Promise((done) => setTimeout(done, ms));

function element(tag, attributes = {}, text = "") {
  const e = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) e.setAttribute(key, value);
  e.textContent = text;
  return e;
}

function setLink(up, text) {
  const link = document.getElementById("link");
  link.className = "link " + (up ? "up" : "down");
  link.textContent = text;
}

function askToken() {
  setLink(false, "the controller needs its token");
  const form = document.getElementById("token-form");
  form.hidden = false;
  form.onsubmit = (event) => {
    event.preventDefault();
    view.token = document.getElementById("token").value;
    sessionStorage.setItem("patchbay-token", view.token);
    form.hidden = true;
    connect();
  };
}

async function connect() {
  for (;;) {
    try {
      const headers = view.token ? { Authorization: "Bearer " + view.token } : {};
      const response = await fetch("/v1/live", { headers, cache: "no-store" });
      if (response.status === 401) return askToken();
      if (!response.ok) throw new Error("HTTP " + response.status);
      setLink(true, "live");
      await readEvents(response.body);
    } catch (error) {
      // the controller went away or restarted: say so, then try again
    }
    setLink(false, "controller unreachable: retrying");
    markAllDown();
    await sleep(1000);
  }
}

async function readEvents(body) {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const data = buffer.slice(0, end).split("\n")
        .filter((line) => line.startsWith("data: "))
        .map((line) => line.slice(6)).join("\n");
      buffer = buffer.slice(end + 2);
      if (data) draw(JSON.parse(data));
    }
  }
}

function rates(processName, uid, counters, time) {
  const key = processName + "|" + uid;
  const before = view.previous.get(key);
  view.previous.set(key, { time, counters });
  if (!before || time <= before.time) return null;
  const seconds = time - before.time;
  const per = (field) => Math.max(0, counters[field] - before.counters[field]) / seconds;
  return { rx: per("rx"), tx: per("tx"), drops: per("rx_drop") + per("tx_drop") };
}

function card(box, proc) {
  let section = box.querySelector(`section[data-process="${proc.name}"]`);
  if (section) return section;
  section = element("section", { class: "process", "data-process": proc.name });
  section.append(element("h3", {}, proc.name), element("div", { class: "about" }));
  const table = element("table");
  const head = element("tr");
  for (const title of ["port", "link", "rx pps", "tx pps", "drops/s"]) head.append(element("th", {}, title));
  table.append(element("thead"), element("tbody"));
  table.tHead.append(head);
  section.append(table, element("div", { class: "patches" }),
                 element("div", { class: "components" }));
  box.append(section);
  return section;
}

function portRow(section, proc, uid) {
  const body = section.querySelector("tbody");
  let row = body.querySelector(`tr[data-port="${uid}"]`);
  if (row) return row;
  row = element("tr", { class: "port", "data-port": uid, "data-process": proc.name });
  for (const cell of ["name", "link", "rx-pps", "tx-pps", "drops"]) row.append(element("td", { class: cell }));
  row.querySelector(".name").textContent = uid;
  row.onclick = () => { view.selected = { process: proc.name, port: uid }; drawDetails(); };
  body.append(row);
  return row;
}

function drawPatches(section, proc, edges) {
  const mine = edges.filter(([by]) => by === proc.name || by.startsWith(proc.name + " "));
  section.querySelector(".patches").textContent = mine.length === 0 ? "" :
    "patches: " + mine.map(([by, src, dst]) =>
      (by === proc.name ? "" : by.slice(proc.name.length + 1) + ": ") + `${src} → ${dst}`).join(", ");
}

function blankRows(section) {
  for (const row of section.querySelectorAll("tr.port")) {
    row.classList.add("down");
    for (const cell of ["link", "rx-pps", "tx-pps", "drops"]) {
      const td = row.querySelector("." + cell);
      td.textContent = "–";
      delete td.dataset.value;
    }
  }
}

function drawProcess(section, proc, time) {
  const down = proc.state !== "up";
  section.classList.toggle("down", down);
  section.dataset.state = proc.state;
  const about = section.querySelector(".about");
  if (proc.state === "gone") about.textContent = "gone: its connection to the controller closed";
  else if (proc.state === "silent") about.textContent = "not answering";
  else about.textContent = `pid ${proc.pid} on ${proc.node} · lcores ${(proc.lcores || []).join(", ")}`;
  if (down) return blankRows(section);
  const ports = proc.ports || {};
  for (const row of section.querySelectorAll("tr.port")) {
    if (!(row.dataset.port in ports)) row.remove();
  }
  for (const [uid, counters] of Object.entries(ports)) {
    const row = portRow(section, proc, uid);
    const rate = rates(proc.name, uid, counters, time);
    row.classList.toggle("down", counters.link === "down");
    row.querySelector(".link").textContent = counters.link;
    if (!rate) continue;
    for (const [cell, value] of [["rx-pps", rate.rx], ["tx-pps", rate.tx], ["drops", rate.drops]]) {
      const td = row.querySelector("." + cell);
      td.textContent = number.format(value);
      td.dataset.value = value.toFixed(1);
    }
    row.querySelector(".drops").classList.toggle("nonzero", rate.drops > 0);
  }
  section.querySelector(".components").textContent = (proc.components || [])
    .map((c) => `${c.name} (${c.type}): ` + Object.entries(c.counters)
      .map(([k, v]) => `${k} ${number.format(v)}`).join(", ")).join(" · ");
}

function draw(snapshot) {
  document.getElementById("chains").textContent = snapshot.chains;
  drawGuests(snapshot.guests || []);
  const box = document.getElementById("processes");
  const listed = new Set(snapshot.processes.map((p) => p.name));
  for (const section of [...box.children]) {
    if (!listed.has(section.dataset.process)) section.remove();   // exited on purpose
  }
  for (const proc of snapshot.processes) {
    const section = card(box, proc);
    drawProcess(section, proc, snapshot.time);
    drawPatches(section, proc, snapshot.edges);
  }
  view.last = snapshot;
  drawDetails();
}

// A VM or container apply started: its ports' links as the host sees
// them; red once its process is gone or a link is down.
function drawGuests(guests) {
  const box = document.getElementById("guests");
  const listed = new Set(guests.map((g) => g.name));
  for (const section of [...box.children]) {
    if (!listed.has(section.dataset.guest)) section.remove();   // stopped on purpose
  }
  for (const guest of guests) {
    let section = box.querySelector(`section[data-guest="${guest.name}"]`);
    if (!section) {
      section = element("section", { class: "guest", "data-guest": guest.name });
      section.append(element("h3", {}, guest.name), element("div", { class: "about" }), element("table"));
      box.append(section);
    }
    const gone = guest.state !== "running";
    const linkDown = Object.values(guest.links).some((link) => link === "down");
    section.classList.toggle("down", gone || linkDown);
    section.dataset.state = guest.state;
    section.querySelector(".about").textContent = gone ? "gone: its process ended"
      : `pid ${guest.pid} · ${guest.app}`;
    const table = section.querySelector("table");
    table.replaceChildren();
    for (const [uid, link] of Object.entries(guest.links)) {
      const row = element("tr", { class: "guest-port" + (link === "down" || gone ? " down" : ""), "data-port": uid });
      row.append(element("td", {}, uid), element("td", { class: "link" }, gone ? "–" : link));
      table.append(row);
    }
  }
}

function markAllDown() {
  for (const section of document.querySelectorAll("section.process, section.guest")) {
    section.classList.add("down");
    section.dataset.state = "unknown";
  }
}

function drawDetails() {
  const aside = document.getElementById("details");
  for (const row of document.querySelectorAll("tr.port.selected")) row.classList.remove("selected");
  if (!view.selected || !view.last) { aside.hidden = true; return; }
  const { process, port } = view.selected;
  const proc = view.last.processes.find((p) => p.name === process);
  const counters = proc && proc.ports ? proc.ports[port] : null;
  const row = document.querySelector(`section[data-process="${process}"] tr[data-port="${port}"]`);
  if (row) row.classList.add("selected");
  aside.hidden = false;
  document.getElementById("details-title").textContent = `${port} in ${process}`;
  const table = document.getElementById("details-table");
  table.replaceChildren();
  if (!counters) {
    table.append(element("tr", {}, `${process} is ${proc ? proc.state : "gone"}`));
    return;
  }
  for (const [key, value] of Object.entries(counters)) {
    const tr = element("tr", { "data-counter": key });
    tr.append(element("td", {}, key), element("td", {}, typeof value === "number" ? number.format(value) : value));
    table.append(tr);
  }
}

connect();
