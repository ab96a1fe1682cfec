// "Crop like these": reference photos the server holds in memory while this page is open.
// Each photo goes to POST /v1/references (one set per page); crop and score requests then name
// the set and the style strength; closing the page deletes the set (DELETE /v1/references/{set}).

import { h } from "./view.js";

const $ = (sel) => document.querySelector(sel);
const state = { set: null, names: [] };

/** The form fields that steer a request (none without reference photos). */
export function steerFields() {
  return state.set ? { references: state.set, style_strength: $("#strength").value } : {};
}

async function upload(file) {
  const form = new FormData();
  form.append("file", file, file.name);
  if (state.set) form.append("set", state.set);
  const res = await fetch("/v1/references", { method: "POST", body: form });
  let body = null;
  try { body = await res.json(); } catch (_) { /* not JSON */ }
  if (!res.ok) throw new Error((body && (body.detail || body.error)) || `${res.status} ${res.statusText}`);
  return body;
}

function render() {
  const list = $("#ref-list");
  list.replaceChildren(...state.names.map((r) => {
    const c = r.composition || {};
    const where = c.cx === undefined ? "no clear subject"
      : `subject ${Math.round(100 * c.cx)}% from the left, filling ${Math.round(100 * c.fill)}%`;
    const horizon = c.horizon === undefined ? "" : `, horizon ${Math.round(100 * (1 - c.horizon))}% from the bottom`;
    return h("li", { class: "ref", title: `${where}${horizon}` }, h("span", { class: "ref-name", text: r.source }),
      h("span", { class: "hint", text: ` ${where}${horizon}` }));
  }));
  $("#ref-clear").disabled = !state.set;
  $("#strength").disabled = !state.set;
  $("#ref-count").textContent = state.set ? `${state.names.length} reference photo(s): crops follow them` : "";
}

async function addReferences(files, say, changed) {
  let added = 0;
  for (const file of files) {
    say(`Reading reference ${file.name}…`);
    try {
      const got = await upload(file);
      state.set = got.set;
      state.names = got.references;
      added += 1;
    } catch (err) {
      say(`Reference ${file.name} not added: ${err.message}`);
      if (/gone/.test(err.message)) { state.set = null; state.names = []; }
    }
  }
  render();
  if (added) {
    say(`${state.names.length} reference photo(s): cropping like them.`);
    changed();
  }
}

function forget() {
  if (state.set) fetch(`/v1/references/${encodeURIComponent(state.set)}`, { method: "DELETE", keepalive: true }).catch(() => {});
  state.set = null;
  state.names = [];
}

/** Wire the box; ``changed()`` re-crops every photo, ``say(text)`` reports. */
export function bindReferences(say, changed) {
  const drop = $("#ref-drop");
  const input = $("#ref-file");
  drop.addEventListener("click", () => input.click());
  drop.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); input.click(); }
  });
  input.addEventListener("change", () => { addReferences([...input.files], say, changed); input.value = ""; });
  for (const type of ["dragenter", "dragover"]) {
    drop.addEventListener(type, (ev) => { ev.preventDefault(); drop.classList.add("over"); });
  }
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (ev) => {
    ev.preventDefault();
    drop.classList.remove("over");
    addReferences([...ev.dataTransfer.files], say, changed);
  });
  $("#strength").addEventListener("input", () => { $("#strength-value").textContent = $("#strength").value; });
  $("#strength").addEventListener("change", () => { if (state.set) changed(); });
  $("#ref-clear").addEventListener("click", () => { forget(); render(); say("References cleared."); changed(); });
  window.addEventListener("pagehide", forget);
  render();
}
