// A tiny store-only ZIP writer (no compression, no library): local headers, data,
// central directory and end record, with CRC-32 and UTF-8 names. Enough for a few
// hundred images; sizes must stay under 4 GiB (no ZIP64).

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

export function crc32(bytes) {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function dosTime(date) {
  const time = (date.getHours() << 11) | (date.getMinutes() << 5) | (date.getSeconds() >> 1);
  const day = ((date.getFullYear() - 1980) << 9) | ((date.getMonth() + 1) << 5) | date.getDate();
  return [time & 0xffff, day & 0xffff];
}

function header(size) {
  const buf = new Uint8Array(size);
  return [buf, new DataView(buf.buffer)];
}

/** Build a ZIP Blob from [{name, data: Uint8Array}] (names made unique). */
export function makeZip(files, date = new Date()) {
  const enc = new TextEncoder();
  const [time, day] = dosTime(date);
  const parts = [];
  const central = [];
  const seen = new Set();
  let offset = 0;
  for (const file of files) {
    let name = file.name;
    for (let i = 2; seen.has(name); i++) name = file.name.replace(/(\.[^.]*)?$/, `_${i}$1`);
    seen.add(name);
    const nameBytes = enc.encode(name);
    const crc = crc32(file.data);
    const size = file.data.length;
    const [local, lv] = header(30);
    lv.setUint32(0, 0x04034b50, true); lv.setUint16(4, 20, true); lv.setUint16(6, 0x0800, true);
    lv.setUint16(8, 0, true); lv.setUint16(10, time, true); lv.setUint16(12, day, true);
    lv.setUint32(14, crc, true); lv.setUint32(18, size, true); lv.setUint32(22, size, true);
    lv.setUint16(26, nameBytes.length, true); lv.setUint16(28, 0, true);
    parts.push(local, nameBytes, file.data);
    const [cen, cv] = header(46);
    cv.setUint32(0, 0x02014b50, true); cv.setUint16(4, 20, true); cv.setUint16(6, 20, true);
    cv.setUint16(8, 0x0800, true); cv.setUint16(10, 0, true); cv.setUint16(12, time, true);
    cv.setUint16(14, day, true); cv.setUint32(16, crc, true); cv.setUint32(20, size, true);
    cv.setUint32(24, size, true); cv.setUint16(28, nameBytes.length, true);
    cv.setUint32(42, offset, true);
    central.push(cen, nameBytes);
    offset += 30 + nameBytes.length + size;
  }
  const centralSize = central.reduce((n, p) => n + p.length, 0);
  const [end, ev] = header(22);
  ev.setUint32(0, 0x06054b50, true); ev.setUint16(8, files.length, true);
  ev.setUint16(10, files.length, true); ev.setUint32(12, centralSize, true);
  ev.setUint32(16, offset, true);
  return new Blob([...parts, ...central, end], { type: "application/zip" });
}
