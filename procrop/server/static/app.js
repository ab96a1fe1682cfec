// The page: adding photos, asking the API for crops, drawing and editing them, scoring
// adjusted boxes, and downloading crops one by one or as a ZIP. No framework, no CDN.

import { attachEditor } from "./editor.js";
import { makeZip } from "./zip.js";
import { bindReferences, steerFields } from "./refs.js";
import { cardSkeleton, cropTitle, drawMarks, fmt, h, renderBreakdown, renderComposition, scoreDigits,
  spreadLabels, updateBox } from "./view.js";

const $ = (sel) => document.querySelector(sel);
const photos = [];
let nextId = 1;
let queue = Promise.resolve();

class ApiError extends Error {}

/** POST a form with the photo to the API; JSON or Blob back, ApiError with the server's detail. */
async function api(path, file, fields = {}, as = "json") {
  const form = new FormData();
  form.append("file", file, file.name);
  for (const [k, v] of Object.entries(fields)) if (v !== undefined && v !== null && v !== "") form.append(k, v);
  let res;
  try {
    res = await fetch(path, { method: "POST", body: form });
  } catch (err) {
    throw new ApiError("the server cannot be reached");
  }
  if (!res.ok) {
    let detail = `${res.status} ${res.statusText}`;
    try { const body = await res.json(); detail = body.detail || body.error || detail; } catch (_) { /* not JSON */ }
    throw new ApiError(detail);
  }
  return as === "blob" ? res.blob() : res.json();
}

function settings() {
  const ratios = [...document.querySelectorAll(".chip[aria-pressed=true]")].map((b) => b.dataset.ratio);
  const size = $("#size");
  const m = size.value.match(/^\s*(\d{1,5})\s*[xX×]\s*(\d{1,5})\s*$/);
  if (m && +m[1] > 0 && +m[2] > 0) ratios.push(`${+m[1]}x${+m[2]}`);
  return { ratios: ratios.length ? ratios.join(",") : "free", top_k: $("#topk").value, scorer: $("#scorer").value,
    ...steerFields() };
}

function say(text) { $("#status").textContent = text; }

/** Report one photo's outcome: alone, as it is; in a batch, with the others done so far. */
function tell(photo, text) {
  const batch = photo.batch;
  if (!batch) return say(`${text}.`);
  batch.told.set(photo.id, text);  // a photo cropped again replaces its own news (it was appended)
  const told = batch.told.size;
  const head = told < batch.size ? `${told} of ${batch.size} photos` : `${batch.size} photos`;
  say(`${head}: ${[...batch.told.values()].join("; ")}.`);
}

/** Several photos added at once are one batch: the status line ends with all of them named. */
function addFiles(files) {
  const batch = files.length > 1 ? { size: files.length, told: new Map() } : null;
  for (const file of files) {
    const photo = { id: nextId++, file, name: file.name || "photo", crops: [], result: null, url: null, batch };
    const { card, parts } = cardSkeleton(photo);
    photo.card = card;
    photo.parts = parts;
    parts.zip.addEventListener("click", () => downloadZip([photo], `${stem(photo.name)}_crops.zip`));
    parts.remove.addEventListener("click", () => removePhoto(photo));
    $("#results").append(card);
    photos.push(photo);
    enqueue(photo);
  }
  updateZipAll();
}

function removePhoto(photo) {
  photos.splice(photos.indexOf(photo), 1);
  if (photo.url) URL.revokeObjectURL(photo.url);
  if (photo.labelWatch) photo.labelWatch.disconnect();
  photo.card.remove();
  updateZipAll();
  say(`${photo.name} removed.`);
}

/** Queue a crop of ``photo`` unless one is already waiting: that one reads the settings when it
 * starts (a setting changed just before a photo was added sent it twice). */
function enqueue(photo) {
  if (photo.waiting) return;
  photo.waiting = true;
  photo.parts.state.textContent = "Waiting…";
  queue = queue.then(() => { photo.waiting = false; return run(photo); }).catch(() => {});
}

async function run(photo) {
  if (!photos.includes(photo)) {
    if (photo.batch) tell(photo, `${photo.name} removed`);
    return;
  }
  const { parts } = photo;
  parts.state.textContent = "Cropping…";
  photo.card.setAttribute("aria-busy", "true");
  try {
    const fields = settings();
    photo.sentWith = JSON.stringify(fields);
    const result = await api("/v1/crop", photo.file, fields);
    photo.result = result;
    if (!photo.url) photo.url = URL.createObjectURL(photo.file);
    await showResult(photo);
    parts.error.hidden = true;
    parts.state.textContent = `${result.width}×${result.height} · ${photo.crops.length} crops`;
    tell(photo, `${photo.name}: ${photo.crops.length} crops found`);
  } catch (err) {
    photo.sentWith = null;  // tried again at the next change, whatever it is
    photo.result = null;
    photo.crops = [];
    parts.body.hidden = true;
    parts.zip.hidden = true;
    parts.error.hidden = false;
    parts.error.textContent = `Could not crop ${photo.name}: ${err.message}`;
    parts.state.textContent = "Failed";
    tell(photo, `${photo.name} failed: ${err.message}`);
  } finally {
    photo.card.removeAttribute("aria-busy");
    updateZipAll();
  }
}

async function showResult(photo) {
  const { parts, result } = photo;
  parts.img.src = photo.url;
  await parts.img.decode().catch(() => {});
  parts.body.hidden = false;
  parts.zip.hidden = !result.crops.length;
  photo.crops = result.crops.map((c, i) => ({ ...c, key: i, orig: c.box.slice(), original: { ...c } }));
  parts.overlay.replaceChildren();
  parts.list.replaceChildren();
  photo.crops.forEach((crop) => addCrop(photo, crop));
  if (!photo.labelWatch) {  // the photo drawn at another size (a window resized, a scroll bar shown)
    photo.labelWatch = new ResizeObserver(() => spreadLabels(photo));
    photo.labelWatch.observe(parts.overlay);
  }
  renderComposition(photo, (on) => toggleMarks(photo, on));
  select(photo, photo.crops[0] || null, false);
}

function toggleMarks(photo, on) {
  photo.parts.overlay.querySelectorAll(".mark").forEach((m) => m.remove());
  if (on) photo.parts.overlay.prepend(...drawMarks(photo));
}

function addCrop(photo, crop) {
  const label = h("span", { class: "box-label" });
  const handle = h("span", { class: "handle", "aria-hidden": "true" });
  crop.el = h("button", { type: "button", class: `box rank${Math.min(crop.rank, 3)}`, "data-key": crop.key }, label, handle);
  crop.label = label;
  crop.row = h("li", { class: "crop-row" },
    h("button", { type: "button", class: "row-pick", onclick: () => select(photo, crop, true) },
      h("span", { class: "row-title", text: cropTitle(crop) }), " ", h("span", { class: "row-score" })),
    h("button", { type: "button", class: "icon-btn", onclick: () => downloadCrop(photo, crop),
      "aria-label": `Download crop ${cropTitle(crop)}`, title: "Download", text: "↓" }));
  photo.parts.overlay.append(crop.el);
  crop.el.addEventListener("transitionend", () => spreadLabels(photo));  // a border widened on selection
  photo.parts.list.append(crop.row);
  let timer = null;
  attachEditor(crop.el, handle, {
    size: () => [photo.result.width, photo.result.height],
    get: () => crop.box,
    ratio: () => crop.orig[2] / crop.orig[3],
    scale: () => photo.result.width / photo.parts.overlay.clientWidth,
    set: (box) => { crop.box = box; crop.adjusted = box.join() !== crop.orig.join(); updateBox(photo, crop); },
    select: () => select(photo, crop, false),
    pickInside: (x, y) => pickInside(photo, crop, x, y),
    commit: () => rescore(photo, crop),
    commitSoon: () => { clearTimeout(timer); timer = setTimeout(() => rescore(photo, crop), 250); },
  });
  updateBox(photo, crop);
}

/** A click on `crop`'s box that lands in a smaller box drawn inside it (a 4:5 crop within the
 * selected 16:9 one, which lies above it) selects the smallest such box; true when it did. */
function pickInside(photo, crop, x, y) {
  const area = (r) => r.width * r.height;
  const own = area(crop.el.getBoundingClientRect());
  const under = photo.crops.filter((c) => c !== crop).map((c) => [c, c.el.getBoundingClientRect()])
    .filter(([, r]) => x >= r.left && x <= r.right && y >= r.top && y <= r.bottom && area(r) < own)
    .sort((a, b) => area(a[1]) - area(b[1]));
  if (!under.length) return false;
  select(photo, under[0][0], true);
  return true;
}

function select(photo, crop, focusBox) {
  photo.selected = crop;
  for (const c of photo.crops) {
    c.el.classList.toggle("selected", c === crop);
    c.el.setAttribute("aria-pressed", String(c === crop));
    c.row.classList.toggle("selected", c === crop);
  }
  spreadLabels(photo);  // a selected box's thicker border moves its label
  renderBreakdown(photo, crop, { download: () => downloadCrop(photo, crop), reset: () => resetCrop(photo, crop) });
  if (crop && focusBox) crop.el.focus();
}

function resetCrop(photo, crop) {
  Object.assign(crop, crop.original, { box: crop.orig.slice(), adjusted: false });
  updateBox(photo, crop);
  select(photo, crop, true);
}

/** The ratio an adjusted box is scored as: its crop's own while the box keeps that shape to a pixel
 * (the server's test; a fixed ratio's small crop scores lower than a free one's), else free. */
function scoredRatio(photo, crop, box) {
  const label = crop.ratio || "free";
  const [p, q] = label.split(/[:x]/).map(Number);
  const value = label === "original" ? photo.result.width / photo.result.height : q ? p / q : Number(label);
  return value > 0 && Math.abs(box[2] - box[3] * value) <= 1 ? label : "free";
}

async function rescore(photo, crop) {
  const box = crop.box.slice();
  crop.el.classList.add("busy");
  try {
    const s = await api("/v1/score", photo.file, { box: box.join(","), ratio: scoredRatio(photo, crop, box),
      scorer: photo.result.scorer, ...steerFields() });
    if (crop.box.join() !== box.join()) return; // moved again meanwhile; a newer call follows
    Object.assign(crop, { score: s.score, confidence: s.confidence, versus_original: s.versus_original,
      terms: s.terms, reason: s.reason, references: s.references });
    updateBox(photo, crop);
    if (photo.selected === crop) select(photo, crop, false);
    say(`${cropTitle(crop)} adjusted: score ${fmt(s.score, scoreDigits(photo, crop))}.`);
  } catch (err) {
    say(`Scoring failed: ${err.message}`);
  } finally {
    crop.el.classList.remove("busy");
  }
}

const stem = (name) => name.replace(/\.[^.]*$/, "") || "photo";

function cropFields(crop) {
  const f = { box: crop.box.join(",") };
  if (crop.output_size) [f.width, f.height] = crop.output_size;
  return f;
}

function cropName(photo, crop, blob) {
  const ext = { "image/jpeg": "jpg", "image/png": "png", "image/webp": "webp", "image/gif": "gif",
    "image/tiff": "tif", "image/bmp": "bmp" }[blob.type] || "img";
  return `${stem(photo.name)}_${crop.ratio.replace(":", "x")}_${crop.rank}${crop.adjusted ? "_adjusted" : ""}.${ext}`;
}

function saveBlob(blob, name) {
  const url = URL.createObjectURL(blob);
  const a = h("a", { href: url, download: name, hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

async function downloadCrop(photo, crop) {
  try {
    say(`Preparing ${cropTitle(crop)}…`);
    const blob = await api("/v1/crop/image", photo.file, cropFields(crop), "blob");
    saveBlob(blob, cropName(photo, crop, blob));
    say(`${cropTitle(crop)} downloaded.`);
  } catch (err) {
    say(`Download failed: ${err.message}`);
  }
}

async function downloadZip(list, name) {
  const files = [];
  try {
    for (const photo of list) {
      for (const crop of photo.crops) {
        say(`Preparing ${photo.name} ${cropTitle(crop)} (${files.length + 1})…`);
        const blob = await api("/v1/crop/image", photo.file, cropFields(crop), "blob");
        files.push({ name: cropName(photo, crop, blob), data: new Uint8Array(await blob.arrayBuffer()) });
      }
    }
    saveBlob(makeZip(files), name);
    say(`${files.length} crops zipped.`);
  } catch (err) {
    say(`ZIP failed: ${err.message}`);
  }
}

function updateZipAll() {
  $("#zip-all").disabled = !photos.some((p) => p.crops.length);
}

let rerunTimer = null;
/** Crop again, 300 ms after the last change, every photo last sent with other settings (a photo
 * added in those 300 ms was already sent with these); ``all``: every photo (references added to the
 * set the page already sends, under the same name). */
function rerunAll(all = false) {
  if (all) photos.forEach((p) => { p.sentWith = null; });
  clearTimeout(rerunTimer);
  rerunTimer = setTimeout(() => {
    const now = JSON.stringify(settings());
    photos.filter((p) => p.sentWith !== now).forEach(enqueue);
  }, 300);
}

function bindControls() {
  const drop = $("#drop");
  const input = $("#file");
  drop.addEventListener("click", () => input.click());
  drop.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); input.click(); }
  });
  input.addEventListener("change", () => { addFiles([...input.files]); input.value = ""; });
  for (const type of ["dragenter", "dragover"]) {
    drop.addEventListener(type, (ev) => { ev.preventDefault(); drop.classList.add("over"); });
  }
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (ev) => {
    ev.preventDefault();
    drop.classList.remove("over");
    addFiles([...ev.dataTransfer.files]);
  });
  document.querySelectorAll(".chip").forEach((chip) => chip.addEventListener("click", () => {
    chip.setAttribute("aria-pressed", String(chip.getAttribute("aria-pressed") !== "true"));
    rerunAll();
  }));
  $("#size").addEventListener("change", () => rerunAll());
  $("#topk").addEventListener("change", () => rerunAll());
  $("#scorer").addEventListener("change", () => rerunAll());
  $("#zip-all").addEventListener("click", () => downloadZip(photos, "procrop_crops.zip"));
  bindReferences(say, () => rerunAll(true));
}

/** Offer as many crops per ratio as this server allows (its /health limits; the page listed 5 of 10). */
async function offerTopK() {
  try {
    const limits = (await (await fetch("/health")).json()).limits;
    const select = $("#topk");
    const chosen = select.value;
    const options = Array.from({ length: limits.max_top_k }, (_, i) => h("option", {}, String(i + 1)));
    select.replaceChildren(...options);
    select.value = +chosen <= limits.max_top_k ? chosen : String(limits.max_top_k);
  } catch (_) { /* the page's own 1-5 stay */ }
}

bindControls();
offerTopK();
window.procrop = { photos, addFiles }; // for tests and the console
