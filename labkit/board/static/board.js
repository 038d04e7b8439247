// The instructor's page: the state once, then every new result as a server-sent event, applied in place
// (no reload). Text from students is only ever set as textContent.
"use strict";
const board = { labs: [], titles: new Map(), students: [], cells: new Map(), hints: new Map(), skew: 0, only: "" };
const key = (student, lab, check) => `${student}\u0000${lab}\u0000${check}`;
const el = (tag, props = {}, ...children) => {
  const node = Object.assign(document.createElement(tag), props);
  for (const child of children) node.append(child);
  return node;
};
const now = () => Date.now() / 1000 + board.skew;

function minutes(seconds) {
  if (seconds < 60) return `${Math.round(seconds)} s`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

async function load() {
  const answer = await fetch("/api/state", { cache: "no-store" });
  if (answer.status === 401) { location.href = "/login"; return; }
  const state = await answer.json();
  board.skew = state.now - Date.now() / 1000;
  board.labs = state.labs;  // [{id, title, checks: [[name, title], ...]}], in the course's order
  board.titles = new Map(state.labs.flatMap(l => l.checks.map(([name, title]) => [`${l.id}/${name}`, title])));
  board.students = state.students;
  board.cells = new Map(state.cells.map(c => [key(c.student, c.lab, c.check), c]));
  board.hints = new Map(state.hints.map(h => [`${h.lab}/${h.check}`, h]));
  document.getElementById("title").textContent = state.title;
  const filter = document.getElementById("lab-filter");
  if (filter.options.length === 1) {
    for (const lab of board.labs) filter.append(el("option", { value: lab.id, textContent: `lab ${lab.id}: ${lab.title}` }));
    filter.onchange = () => { board.only = filter.value; drawGrid(); };
  }
  drawGrid();
  drawStuck();
  drawHints();
}

const shownLabs = () => board.labs.filter(l => !board.only || l.id === board.only);

function drawGrid() {
  const grid = document.getElementById("grid");
  grid.replaceChildren();
  const labRow = el("tr", {}, el("th", { rowSpan: 2, textContent: "Student" }));
  const checkRow = el("tr");
  for (const lab of shownLabs()) {
    labRow.append(el("th", { className: "lab", colSpan: lab.checks.length, textContent: lab.id, title: lab.title }));
    for (const [name, title] of lab.checks) checkRow.append(el("th", { className: "check", textContent: name, title }));
  }
  grid.append(el("thead", {}, labRow, checkRow));
  const body = el("tbody");
  for (const student of board.students) body.append(studentRow(student));
  grid.append(body);
  document.getElementById("counts").textContent =
    `${board.students.length} students, ${[...board.cells.values()].filter(c => c.passed).length} checks passed`;
}

function studentRow(student) {
  const row = el("tr", { id: `row-${student}` }, el("th", { textContent: student }));
  for (const lab of shownLabs()) {
    for (const [check] of lab.checks) {
      const td = el("td", { className: "cell none", textContent: "·" });
      td.dataset.student = student; td.dataset.check = `${lab.id}/${check}`; td.dataset.state = "none";
      paint(td, board.cells.get(key(student, lab.id, check)));
      row.append(td);
    }
  }
  return row;
}

function paint(td, cell) {
  if (!cell) return;
  td.dataset.state = cell.passed ? "pass" : "fail";
  td.className = `cell ${cell.passed ? "pass" : "fail"}`;
  td.textContent = cell.passed ? "✔" : "✘";
  td.title = cell.passed ? `passed (${cell.tries} tries)` :
    `failing for ${minutes(now() - cell.stuck_since)}, ${cell.tries} tries: ${cell.hint}`;
}

function drawStuck() {
  const stuck = [...board.cells.values()].filter(c => !c.passed)
    .sort((a, b) => a.stuck_since - b.stuck_since).slice(0, 15);
  const body = document.querySelector("#stuck tbody");
  body.replaceChildren(...stuck.map(c => el("tr", {},
    el("td", { textContent: c.student }),
    el("td", { textContent: `${c.lab} ${c.check}`, title: board.titles.get(`${c.lab}/${c.check}`) ?? "" }),
    el("td", { textContent: minutes(now() - c.stuck_since) }),
    el("td", { textContent: c.tries }),
    el("td", { textContent: c.hint }))));
  if (!stuck.length) body.append(el("tr", {}, el("td", { colSpan: 5, textContent: "Nobody is stuck." })));
}

function drawHints() {
  const box = document.getElementById("hints");
  box.replaceChildren();
  const ordered = [...board.hints.values()].filter(h => h.hints.length)
    .sort((a, b) => b.hints.reduce((n, h) => n + h[1], 0) - a.hints.reduce((n, h) => n + h[1], 0));
  for (const h of ordered) {
    const list = el("ul", {}, ...h.hints.map(([hint, n]) =>
      el("li", {}, el("span", { textContent: `${n} student${n > 1 ? "s" : ""}: ` }), hint)));
    box.append(el("div", { className: "check" },
      el("h3", { textContent: `${h.lab} ${h.check}: ${board.titles.get(`${h.lab}/${h.check}`) ?? ""}` }), list));
  }
  if (!ordered.length) box.append(el("p", { textContent: "No failed check yet." }));
}

function apply(update) {
  const c = update.cell;
  board.cells.set(key(c.student, c.lab, c.check), c);
  board.hints.set(`${c.lab}/${c.check}`, update.hints);
  let row = document.getElementById(`row-${c.student}`);
  if (!row) {  // a student's first result
    board.students.push(c.student);
    board.students.sort();
    drawGrid();
  } else {
    const td = row.querySelector(`td[data-check="${CSS.escape(`${c.lab}/${c.check}`)}"]`);
    if (td) {  // not shown when another lab is chosen
      paint(td, c);
      td.classList.remove("flash"); void td.offsetWidth; td.classList.add("flash");
    }
  }
  drawStuck();
  drawHints();
}

function connect() {
  const live = document.getElementById("live");
  const events = new EventSource("/events");
  // Every (re)connection loads the whole state: updates missed while disconnected are in it.
  events.addEventListener("hello", () => { load(); live.textContent = "live"; live.className = "live on"; });
  events.addEventListener("result", e => apply(JSON.parse(e.data)));
  events.onerror = () => { live.textContent = "reconnecting…"; live.className = "live off"; };
}

connect();
setInterval(drawStuck, 10000);
