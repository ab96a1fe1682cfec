// Moving and resizing a crop's box with the mouse, touch (pointer events) or keyboard,
// keeping the crop's aspect ratio and staying inside the photo. The caller is told on
// every change (to redraw) and when a gesture ends (to re-score).

const MIN_SIDE = 16;

function clampBox([x, y, w, h], W, H) {
  w = Math.min(w, W); h = Math.min(h, H);
  x = Math.max(0, Math.min(W - w, x)); y = Math.max(0, Math.min(H - h, y));
  return [Math.round(x), Math.round(y), Math.round(w), Math.round(h)];
}

/** Resize a box about its top-left corner to width w, keeping ratio r = w/h, inside W x H. */
function resizeBox([x, y], w, r, W, H) {
  w = Math.max(MIN_SIDE * Math.max(1, r), Math.min(w, W - x, (H - y) * r));
  return [x, y, Math.round(w), Math.round(w / r)];
}

/** Scale a box about its centre by factor k, keeping the crop's ratio r (not the rounded box's own:
 * its drift stopped `+` a pixel short of the whole photo). */
function scaleBox([x, y, w, h], k, W, H, r) {
  let nw = Math.max(MIN_SIDE * Math.max(1, r), Math.min(w * k, W, H * r));
  const nh = nw / r;
  return clampBox([x + (w - nw) / 2, y + (h - nh) / 2, nw, nh], W, H);
}

/**
 * Make a box element editable.
 * opts: {size: () => [W, H], get: () => box, ratio: () => w/h, set(box), commit(), select(),
 *        scale: () => image pixels per CSS pixel, pickInside(clientX, clientY) -> bool: a click that
 *        did not drag selects a smaller box drawn inside this one, when one lies under the pointer}
 */
export function attachEditor(el, handle, opts) {
  let drag = null;
  const onDown = (ev, mode) => {
    if (ev.button !== undefined && ev.button !== 0) return;
    ev.preventDefault();
    ev.stopPropagation();
    el.focus({ preventScroll: true });
    opts.select();
    drag = { mode, id: ev.pointerId, x0: ev.clientX, y0: ev.clientY, box: opts.get().slice(), moved: false };
    el.setPointerCapture(ev.pointerId);
    el.classList.add("dragging");
  };
  el.addEventListener("pointerdown", (ev) => onDown(ev, "move"));
  handle.addEventListener("pointerdown", (ev) => onDown(ev, "resize"));
  el.addEventListener("pointermove", (ev) => {
    if (!drag || ev.pointerId !== drag.id) return;
    const k = opts.scale();
    const dx = (ev.clientX - drag.x0) * k;
    const dy = (ev.clientY - drag.y0) * k;
    if (Math.abs(dx) + Math.abs(dy) < 1) return;
    drag.moved = true;
    const [W, H] = opts.size();
    const [x, y, w, h] = drag.box;
    const next = drag.mode === "move" ? clampBox([x + dx, y + dy, w, h], W, H)
      : resizeBox([x, y], w + Math.max(dx, dy * opts.ratio()), opts.ratio(), W, H);
    opts.set(next);
  });
  let picked = false;  // the click that ends this gesture selected a box inside this one
  const end = (ev) => {
    if (!drag || ev.pointerId !== drag.id) return;
    const moved = drag.moved;
    drag = null;
    el.classList.remove("dragging");
    if (moved) opts.commit();
    else if (ev.type === "pointerup" && opts.pickInside) picked = opts.pickInside(ev.clientX, ev.clientY);
  };
  el.addEventListener("pointerup", end);
  el.addEventListener("pointercancel", end);
  el.addEventListener("click", (ev) => {
    ev.preventDefault();
    if (!picked) opts.select();
    picked = false;
  });
  el.addEventListener("keydown", (ev) => onKey(ev, opts));
}

const KEY_MOVES = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };

function onKey(ev, opts) {
  const [W, H] = opts.size();
  const box = opts.get();
  let next = null;
  if (KEY_MOVES[ev.key]) {
    const step = Math.max(1, Math.round((ev.shiftKey ? 0.05 : 0.01) * Math.max(W, H)));
    const [mx, my] = KEY_MOVES[ev.key];
    next = clampBox([box[0] + mx * step, box[1] + my * step, box[2], box[3]], W, H);
  } else if (ev.key === "+" || ev.key === "=") {
    next = scaleBox(box, 1.03, W, H, opts.ratio());
  } else if (ev.key === "-" || ev.key === "_") {
    next = scaleBox(box, 1 / 1.03, W, H, opts.ratio());
  } else {
    return;
  }
  ev.preventDefault();
  if (next.join() === box.join()) return;
  opts.set(next);
  opts.commitSoon();
}
