// Rendering: photo cards, crop boxes over the photo, the crop list, the term breakdown
// and the composition panel. No state lives here; app.js owns it.

const TERM_HELP = {
  content: "keeps the photo's salient content", focus: "interest denser than in the full frame",
  placement: "main subject on a thirds or golden point", balance: "visual weight centred",
  // procrop/scoring/composition.py (_boundary): saliency and edge energy in thin strips along the crop's
  // sides against the inside; a side through a person's body lowers it, a cut face more, eyes to mouth: 0
  boundary: "little salient or busy detail along the crop's edges; lower where an edge slices a person or a face",
  headroom: "room above the top face",
  horizon: "horizon on a third", scale: "keeps more of the photo",
  retrieval: "framed like retrieved professional photos", neural: "a trained network's score",
  learned: "the learned scorer: overlap with a professional's frame",
  preference: "editors' preference model: the other terms and the learned score weighed as editors rank crops",
  style: "composition like the reference photos' (subject place and size, horizon)",
};

/** Create an element: h("div", {class: "x", onclick: fn, style: {width: "40%"}}, child, "text"...).
 * Styles are set through el.style (CSSOM), never as a style attribute, which the page's
 * Content-Security-Policy (style-src 'self') blocks. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "text") el.textContent = v;
    else if (k === "style") Object.assign(el.style, v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) el.append(c);
  return el;
}

export const fmt = (x, d = 2) => Number(x).toFixed(d);
export const pct = (x) => `${Math.round(100 * x)}%`;

/** How many decimals (2 up to `most`) tell `scores` apart (0.662 and 0.656 are not 0.66 twice). */
function digitsApart(scores, most) {
  const values = [...new Set(scores)];
  for (let d = 2; d < most; d++) if (new Set(values.map((v) => fmt(v, d))).size === values.length) return d;
  return values.length > 1 ? most : 2;
}

/** The decimals the scores of a crop's ratio are written with, as the preview image writes a panel's:
 * enough to tell them apart (up to 3), and the ratio's top crop from the uncropped photo as the
 * verdict does (up to 4). */
export function scoreDigits(photo, crop) {
  const crops = photo.crops.filter((c) => c.ratio === crop.ratio);
  const top = crops.reduce((a, c) => (c.rank < a.rank ? c : a), crops[0] || crop);
  const whole = photo.result && photo.result.uncropped_score;
  const apart = digitsApart(crops.map((c) => c.score), 3);
  return whole === undefined || whole === null ? apart : Math.max(apart, digitsApart([top.score, whole], 4));
}

/** Which scorer ranked a photo's crops, with the learned model's name. */
export function scorerText(result) {
  return `Scorer: ${result.scorer}${result.model ? `, model ${result.model}` : ""}`;
}

export function cropTitle(crop) {
  return `${crop.ratio} #${crop.rank}`;
}

/** The skeleton of one photo's card; returns the element and its named parts. */
export function cardSkeleton(photo) {
  const parts = {
    title: h("h2", { class: "name", text: photo.name }),
    state: h("p", { class: "state", text: "Waiting…" }),
    error: h("div", { class: "error", role: "alert", hidden: true }),
    img: h("img", { alt: `Photo ${photo.name}`, draggable: "false" }),
    overlay: h("div", { class: "overlay" }),
    list: h("ol", { class: "crop-list", "aria-label": `Crops of ${photo.name}` }),
    breakdown: h("section", { class: "breakdown", "aria-live": "polite", "aria-label": "Selected crop" }),
    composition: h("section", { class: "composition", "aria-label": "Composition" }),
    zip: h("button", { type: "button", class: "btn small", hidden: true, text: "Download these crops (.zip)" }),
    remove: h("button", { type: "button", class: "btn small ghost", text: "Remove",
      "aria-label": `Remove ${photo.name}` }),
  };
  parts.stage = h("div", { class: "stage" }, parts.img, parts.overlay);
  const head = h("div", { class: "card-head" }, parts.title, parts.state, parts.zip, parts.remove);
  const details = h("div", { class: "details" }, parts.list, parts.breakdown, parts.composition);
  parts.body = h("div", { class: "card-body", hidden: true }, parts.stage, details);
  const card = h("article", { class: "card", "aria-label": photo.name }, head, parts.error, parts.body);
  return { card, parts };
}

function place(el, box, W, H) {
  const [x, y, w, hh] = box;
  el.style.left = `${(100 * x) / W}%`;
  el.style.top = `${(100 * y) / H}%`;
  el.style.width = `${(100 * w) / W}%`;
  el.style.height = `${(100 * hh) / H}%`;
}

/** Position a crop's box element and refresh its label. */
export function updateBox(photo, crop) {
  const { width: W, height: H } = photo.result;
  place(crop.el, crop.box, W, H);
  crop.el.classList.toggle("adjusted", !!crop.adjusted);
  // the ratio's every label: one crop's new score may change the decimals all of them need
  const digits = scoreDigits(photo, crop);
  for (const c of photo.crops.filter((o) => o.ratio === crop.ratio && o.label)) writeScore(c, digits);
  spreadLabels(photo);
}

/** A crop's label, accessible name and row score, with its ratio's `digits` decimals. */
function writeScore(crop, digits) {
  const score = fmt(crop.score, digits);
  if (crop.label) crop.label.textContent = `${cropTitle(crop)} · ${score}`;
  if (crop.el) crop.el.setAttribute("aria-label", `Crop ${crop.ratio} rank ${crop.rank}, score ${score}` +
    `${crop.adjusted ? ", adjusted" : ""}. Enter shows its breakdown; arrow keys move it, plus and minus resize it.`);
  if (crop.row) crop.row.querySelector(".row-score").textContent = score;
}

/** Move each top crop's label (always shown, at its box's top left) below any label already there,
 * so that boxes sharing a corner (a 1:1 and a 4:5 both at the photo's top left) keep both readable. */
export function spreadLabels(photo) {
  const labels = (photo.crops || []).filter((c) => c.rank === 1 && c.label).map((c) => c.label);
  labels.forEach((label) => { label.style.top = ""; });
  const taken = [];
  for (const label of labels) {
    const r = label.getBoundingClientRect();
    let dy = 0;
    for (let tries = 0; tries < labels.length; tries++) {
      const hit = taken.find((t) => r.left < t.right && r.right > t.left
        && r.top + dy < t.bottom && r.bottom + dy > t.top);
      if (!hit) break;
      dy = hit.bottom - r.top + 2;  // borders widen by 1.5 px, with a transition, when a box is selected
    }
    if (dy) label.style.top = `${dy}px`;
    taken.push({ left: r.left, right: r.right, top: r.top + dy, bottom: r.bottom + dy });
  }
}

/** Boxes for the analysis' faces and subjects (not focusable, decorative outlines). */
export function drawMarks(photo) {
  const { width: W, height: H, analysis = {} } = photo.result;
  const marks = [];
  for (const f of analysis.faces || []) marks.push(["face", f.box]);
  for (const s of analysis.subjects || []) marks.push(["subject", s.box]);
  return marks.map(([kind, box]) => {
    const el = h("div", { class: `mark ${kind}`, "aria-hidden": "true", title: kind });
    place(el, box, W, H);
    return el;
  });
}

function termRows(crop) {
  const rows = Object.entries(crop.terms || {}).sort((a, b) => b[1] - a[1]);
  return h("dl", { class: "terms" }, rows.map(([name, v]) => h("div", { class: "term" },
    h("dt", { title: TERM_HELP[name] || name, text: name }),
    h("dd", {}, h("span", { class: "bar", role: "img", "aria-label": `${name} ${fmt(v)}` },
      h("span", { class: "fill", style: { width: pct(Math.max(0, Math.min(1, v))) } })),
      h("span", { class: "num", text: fmt(v) })))));
}

function referenceList(refs, label) {
  if (!refs || !refs.length) return null;
  return h("div", { class: "refs" }, h("h4", { text: label }),
    h("ul", {}, refs.slice(0, 5).map((r) => h("li", {},
      h("span", { class: "src", text: r.source }), ` · similarity ${fmt(r.similarity)}`,
      r.licence ? h("span", { class: "lic", text: ` · ${r.licence}` }) : null))));
}

/** The selected crop's breakdown: score, confidence, terms, reason, references. */
export function renderBreakdown(photo, crop, actions) {
  const el = photo.parts.breakdown;
  el.replaceChildren();
  if (!crop) return;
  el.append(...[
    h("h3", { text: `Crop ${cropTitle(crop)}${crop.adjusted ? " (adjusted)" : ""}` }),
    h("p", { class: "scoreline" },
      h("span", { class: "big", text: fmt(crop.score, scoreDigits(photo, crop)) }), " score · ",
      h("span", { class: "versus", text: crop.versus_original })),
    h("p", { class: "boxline", text: `Box x ${crop.box[0]}, y ${crop.box[1]}, ${crop.box[2]}×${crop.box[3]} px` +
      (crop.output_size ? ` → ${crop.output_size[0]}×${crop.output_size[1]}` : "") }),
    h("p", { class: "boxline scorerline", text: scorerText(photo.result) }),
    termRows(crop),
    h("p", { class: "reason" }, h("strong", { text: "Why: " }), crop.reason || "—"),
    referenceList(crop.references, "Guided by"),
    h("div", { class: "row-actions" },
      h("button", { type: "button", class: "btn small", onclick: actions.download, text: "Download this crop" }),
      crop.adjusted ? h("button", { type: "button", class: "btn small ghost", onclick: actions.reset, text: "Reset box" }) : null),
  ].filter(Boolean));
}

/** The result's warnings (problems: a ratio that cannot fit, a crop written smaller than asked) or,
 * with kind "notes", its notes (information: fewer crops than asked, and why), worded as in the JSON
 * and the CLI; nothing when there are none. */
export function warningList(warnings, kind = "warnings") {
  if (!warnings || !warnings.length) return null;
  return h("ul", { class: kind, "aria-label": kind === "notes" ? "Notes" : "Warnings" },
    warnings.map((w) => h("li", { text: w })));
}

/** Verdict, warnings, description, faces, subjects and the photo's retrieved references. */
export function renderComposition(photo, onToggleMarks) {
  const r = photo.result;
  const a = r.analysis || {};
  const faces = a.faces || [];
  const subjects = a.subjects || [];
  const found = (a.people || []).filter((p) => p.detected).map((p) => ({ ...p, label: "person" }))
    .concat(a.objects || []);
  const box = (b) => b.map((v) => Math.round(v)).join(", ");
  photo.parts.composition.replaceChildren(...[
    h("h3", { text: "Composition" }),
    // the server's wording (procrop/verdict.py), shared with the JSON and the CLI summary
    h("p", { class: r.keep_original && !r.close_call ? "verdict keep" : "verdict", text: r.verdict }),
    warningList(r.warnings),
    warningList(r.notes, "notes"),
    h("p", { class: "description", text: r.description }),
    h("label", { class: "marks-toggle" },
      h("input", { type: "checkbox", onchange: (e) => onToggleMarks(e.target.checked) }), " Show faces and subjects"),
    h("h4", { text: `Faces (${faces.length})` }),
    faces.length ? h("ul", {}, faces.map((f, i) => h("li", { text: `Face ${i + 1}: box ${box(f.box)}` }))) : h("p", { class: "muted", text: "No face found." }),
    h("h4", { text: `People, animals and objects (${found.length})` }),
    found.length ? h("ul", {}, found.map((d) => h("li", {
      // the backbone's word where it reads the animal otherwise (a white tiger taken for a giraffe)
      text: `${d.name && d.name !== d.label ? `${d.name} (the detector: ${d.label})` : d.label}: `
        + `box ${box(d.box)}, confidence ${pct(d.score)}` })))
      : h("p", { class: "muted", text: "None detected." }),
    h("h4", { text: `Subjects (${subjects.length})` }),
    subjects.length ? h("ul", {}, subjects.map((s, i) => h("li", {
      text: `Subject ${i + 1} (${s.kind}): box ${box(s.box)}, ${pct(s.mass)} of the saliency` }))) : h("p", { class: "muted", text: "No distinct subject." }),
    referenceList(r.references, "Retrieved references"),
  ].filter(Boolean));
}
