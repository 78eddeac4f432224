// A test SMSC on the npm `smpp` package (written by others): it binds any ESME, answers submit_sm
// with a message id, sends a delivery receipt for each part, and sends mobile-originated messages
// typed on stdin as JSON lines: {"mo": {"from": "84961234567", "to": "1234", "text": "..."}}
// (UCS-2, split with UDH past 70 characters), {"throttle": 3} (the next 3 submits get ESME_RTHROTTLED),
// {"hold": true|false} (receipts held back / sent), {"drop_at": N} (at the Nth submit from now the link
// drops: every session closed, that submit and any after it on those sessions never answered nor taken). Every submit is printed as a JSON
// line; with --quiet none is, and {"count": true} prints {"count": {"submits": n, "receipts": m}};
// {"receipts": "text" | "tlv" | "enroute" | "bad_date"} sets how receipts are written (see below).
const smpp = require("smpp");
const readline = require("readline");

let sessions = [];
let throttle = 0;
let held = false;
const waiting = [];
let next = 1;
let dropAt = 0;
let receipts = 0;
const quiet = process.argv.includes("--quiet");

// receipt styles other SMSCs use: "text" (the usual text and TLVs), "tlv" (no text, TLVs only),
// "enroute" (an ENROUTE receipt first, then the final one), "bad_date" (a date nobody can read)
let style = "text";

function receipt(session, pdu, id) {
  const stamp = new Date().toISOString().replace(/[-T:]/g, "").slice(2, 12);
  const date = style === "bad_date" ? "2x11y7" : stamp;
  const one = (stat, state) => () => session.deliver_sm({
    source_addr: pdu.destination_addr, destination_addr: pdu.source_addr, esm_class: 0x04,
    short_message: style === "tlv" ? ""
      : `id:${id} sub:001 dlvrd:001 submit date:${date} done date:${date} stat:${stat} err:000 text:`,
    receipted_message_id: id, message_state: state,
  });
  const sends = style === "enroute" ? [one("ENROUTE", 1), one("DELIVRD", 2)] : [one("DELIVRD", 2)];
  receipts += 1;
  for (const send of sends) { if (held) waiting.push(send); else send(); }
}

const server = smpp.createServer({ debug: false }, (session) => {
  session.on("error", () => {});
  for (const bind of ["bind_transceiver", "bind_transmitter", "bind_receiver"]) {
    session.on(bind, (pdu) => { sessions.push(session); session.send(pdu.response()); });
  }
  session.on("enquire_link", (pdu) => session.send(pdu.response()));
  session.on("unbind", (pdu) => { session.send(pdu.response()); session.close(); });
  session.on("close", () => { sessions = sessions.filter((s) => s !== session); });
  session.on("submit_sm", (pdu) => {
    if (session.dead) return; // after the drop: never taken
    if (dropAt > 0 && --dropAt === 0) {
      // the link drops here: what was answered before still reaches the ESME (end, not destroy: a
      // reply lost in flight would make the part ambiguous, and an ESME has to send it again)
      for (const s of sessions.splice(0)) { s.dead = true; s.socket.end(); }
      return;
    }
    if (throttle > 0) {
      throttle -= 1;
      session.send(pdu.response({ command_status: smpp.ESME_RTHROTTLED }));
      return;
    }
    // ids as long as Jasmin's (36 characters): the gateway must keep them whole
    const id = `${String(next++).padStart(8, "0")}-0000-4000-8000-000000000000`;
    session.send(pdu.response({ message_id: id }));
    const sm = pdu.short_message || {};
    const udh = (sm.udh || []).map((u) => Buffer.from(u).toString("hex"));
    if (!quiet) console.log(JSON.stringify({ submit: { id, to: pdu.destination_addr, from: pdu.source_addr,
      data_coding: pdu.data_coding, udh, text: sm.message } }));
    if (pdu.registered_delivery) receipt(session, pdu, id);
  });
});

server.listen(0, "127.0.0.1", () => console.log(JSON.stringify({ port: server.address().port })));

let ref = 1;
readline.createInterface({ input: process.stdin }).on("line", (line) => {
  const order = JSON.parse(line);
  if (order.throttle !== undefined) throttle = order.throttle;
  if (order.drop_at !== undefined) dropAt = order.drop_at;
  if (order.receipts !== undefined) style = order.receipts;
  if (order.count) console.log(JSON.stringify({ count: { submits: next - 1, receipts } }));
  if (order.hold !== undefined) { held = order.hold; if (!held) waiting.splice(0).forEach((f) => f()); }
  if (order.mo) {
    const { from, to, text } = order.mo;
    const chunks = text.length <= 70 ? [text] : text.match(/[\s\S]{1,67}/g);
    const r = ref++ % 256;
    chunks.forEach((chunk, i) => {
      const short = chunks.length === 1 ? { message: chunk }
        : { udh: Buffer.from([0x05, 0x00, 0x03, r, chunks.length, i + 1]), message: chunk };
      for (const s of sessions.slice(0, 1)) {
        s.deliver_sm({ source_addr: from, destination_addr: to, data_coding: 8,
          ...(order.mo.ton === undefined ? {} : { source_addr_ton: order.mo.ton }),
          esm_class: chunks.length === 1 ? 0 : 0x40, short_message: short });
      }
    });
  }
  if (order.quit) process.exit(0);
});
