// The same counting the gateway does: GSM-7 160/153 a part (some characters count double), UCS-2 70/67.
const GSM = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ`¿abcdefghijklmnopqrstuvwxyzäöñüà";
const EXT = "^{}\\[~]|€";
function fold(t) { return t.normalize("NFC").replace(/đ/g, "d").replace(/Đ/g, "D").normalize("NFD").replace(/[\u0300-\u036f]/g, "").normalize("NFC"); }
function segments(t) {
  let gsm = true, septets = 0;
  for (const c of t) { if (GSM.includes(c)) septets += 1; else if (EXT.includes(c)) septets += 2; else { gsm = false; break; } }
  // GSM-7 fits 160 a part, 153 when split; one Vietnamese letter outside it makes UCS-2: 70, 67
  if (gsm) return {enc: "bảng chữ không dấu, 160 ký tự một tin", n: septets <= 160 ? 1 : Math.ceil(septets / 153), len: septets};
  const units = t.length;  // UTF-16 units, as the phone counts them
  return {enc: "bảng chữ có dấu, 70 ký tự một tin", n: units <= 70 ? 1 : Math.ceil(units / 67), len: units};
}
// A textarea with data-counter="<id>" shows its count live in that element; data-fold counts it
// without diacritics; data-max marks it when it needs more parts than allowed; data-suffix is what the
// gateway adds to the text, data-reply a message each person gets back: both counted in the cost.
for (const area of document.querySelectorAll("textarea[data-counter]")) {
  const out = document.getElementById(area.dataset.counter);
  const update = () => {
    const folded = (t) => (area.dataset.fold !== undefined ? fold(t) : t.normalize("NFC"));
    const text = folded(area.value + (area.value.trim() ? area.dataset.suffix || "" : ""));
    const s = segments(text);
    const reply = area.dataset.reply && area.value.trim() ? segments(folded(area.dataset.reply)).n : 0;
    const max = Number(area.dataset.max || 0);
    const price = Number(area.dataset.price || 0);
    out.textContent = `${s.len} ký tự · ${s.n} tin (${s.enc})` + (reply ? ` + ${reply} tin báo đã nhận` : "") +
      (price ? ` · ${(s.n + reply) * price} đ mỗi người` : "") + (max ? ` · tối đa ${max} tin` : "");
    out.classList.toggle("bad", Boolean(max) && s.n > max);
  };
  area.addEventListener("input", update);
  update();
}
