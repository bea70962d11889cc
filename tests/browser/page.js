// Two RTCPeerConnections in one page, both with iceTransportPolicy "relay"
// and one iceServers entry (the TURN server under test). They signal to each
// other directly, open a data channel, exchange messages both ways and report
// what getStats() says about the selected candidate pair.
//
// ternRun(iceServers, options) resolves to a plain JSON-able object; it never
// rejects and every wait in it is bounded by options.timeoutMs.
"use strict";

function ternLog(line) {
  const el = document.getElementById("log");
  if (el) el.textContent += line + "\n";
}

// The messages one side sends: short ones, a non-ASCII one and a long one,
// each naming its direction and index so a mix-up cannot go unnoticed.
function ternMessages(dir, n) {
  const out = [];
  for (let i = 0; i < n; i++) out.push(`${dir} #${i} hello through Tern`);
  out.push(`${dir} non-ASCII: Grüße, 你好, \u{1F6F0}`);
  out.push(`${dir} long:` + "0123456789abcdef".repeat(256));
  return out;
}

function ternWithTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function ternStatsCandidate(c) {
  if (!c) return null;
  return {
    candidateType: c.candidateType, relayProtocol: c.relayProtocol,
    protocol: c.protocol, address: c.address, port: c.port, url: c.url,
  };
}

// The selected pair's local and remote candidates, from the transport's
// selectedCandidatePairId, or else the nominated succeeded pair.
async function ternSelectedPair(pc) {
  const stats = await pc.getStats();
  const byId = new Map();
  stats.forEach((s) => byId.set(s.id, s));
  let pair = null;
  stats.forEach((s) => {
    if (s.type === "transport" && s.selectedCandidatePairId)
      pair = byId.get(s.selectedCandidatePairId) || pair;
  });
  if (!pair) {
    stats.forEach((s) => {
      if (!pair && s.type === "candidate-pair" && s.state === "succeeded" && s.nominated)
        pair = s;
    });
  }
  if (!pair) return { found: false };
  return {
    found: true,
    state: pair.state,
    nominated: !!pair.nominated,
    bytesSent: pair.bytesSent,
    bytesReceived: pair.bytesReceived,
    local: ternStatsCandidate(byId.get(pair.localCandidateId)),
    remote: ternStatsCandidate(byId.get(pair.remoteCandidateId)),
  };
}

async function ternRun(iceServers, options) {
  const opts = Object.assign({ messages: 5, timeoutMs: 20000 }, options || {});
  const result = {
    ok: false, error: null, phase: "start",
    candidates: { a: [], b: [] }, candidateErrors: [],
    sent: { a: [], b: [] }, received: { a: [], b: [] },
    selected: { a: null, b: null },
    iceState: { a: [], b: [] }, gathering: { a: [], b: [] },
  };
  const config = { iceServers, iceTransportPolicy: "relay" };
  let a = null, b = null;
  try {
    a = new RTCPeerConnection(config);
    b = new RTCPeerConnection(config);
    const pcs = { a, b };
    for (const [name, pc] of Object.entries(pcs)) {
      const other = name === "a" ? b : a;
      pc.onicecandidate = (ev) => {
        if (!ev.candidate) return;
        result.candidates[name].push(ev.candidate.candidate);
        other.addIceCandidate(ev.candidate).catch((e) =>
          result.candidateErrors.push({ pc: name, addIceCandidate: String(e) }));
      };
      pc.onicecandidateerror = (ev) => {
        result.candidateErrors.push({
          pc: name, url: ev.url, errorCode: ev.errorCode, errorText: ev.errorText,
          address: ev.address, port: ev.port,
        });
      };
      pc.oniceconnectionstatechange = () => result.iceState[name].push(pc.iceConnectionState);
    }
    // Gathering that ends without a single relay candidate cannot connect:
    // say so at once instead of waiting for the timeout.
    const nothingGathered = new Promise((_, reject) => {
      for (const [name, pc] of Object.entries(pcs)) {
        pc.onicegatheringstatechange = () => {
          result.gathering[name].push(pc.iceGatheringState);
          if (pc.iceGatheringState === "complete" && result.candidates[name].length === 0)
            reject(new Error(`pc ${name} gathered no candidate from ${JSON.stringify(
              iceServers.map((s) => s.urls))}`));
        };
      }
    });
    nothingGathered.catch(() => {});  // raced below; never unhandled

    const received = result.received;
    const channels = {};
    const opened = {};
    const attach = (name, dc) => {
      channels[name] = dc;
      dc.onmessage = (ev) => received[name].push(ev.data);
      opened[name] = dc.readyState === "open" ? Promise.resolve()
        : new Promise((resolve) => { dc.onopen = () => resolve(); });
    };
    attach("a", a.createDataChannel("tern", { ordered: true }));
    const bChannel = new Promise((resolve) => {
      b.ondatachannel = (ev) => { attach("b", ev.channel); resolve(); };
    });

    result.phase = "offer/answer";
    await a.setLocalDescription(await a.createOffer());
    await b.setRemoteDescription(a.localDescription);
    await b.setLocalDescription(await b.createAnswer());
    await a.setRemoteDescription(b.localDescription);

    result.phase = "data channel open";
    await ternWithTimeout(Promise.race([
      Promise.all([opened.a, bChannel.then(() => opened.b)]), nothingGathered]),
                          opts.timeoutMs, "data channels to open");

    result.phase = "messages";
    result.sent.a = ternMessages("a->b", opts.messages);
    result.sent.b = ternMessages("b->a", opts.messages);
    for (const m of result.sent.a) channels.a.send(m);
    for (const m of result.sent.b) channels.b.send(m);
    await ternWithTimeout(new Promise((resolve) => {
      const check = () => {
        if (received.b.length >= result.sent.a.length &&
            received.a.length >= result.sent.b.length) resolve();
        else setTimeout(check, 20);
      };
      check();
    }), opts.timeoutMs, "messages to arrive");

    result.phase = "stats";
    result.selected.a = await ternSelectedPair(a);
    result.selected.b = await ternSelectedPair(b);
    result.ok = true;
    result.phase = "done";
  } catch (e) {
    result.error = String(e && e.stack ? e.stack : e);
  } finally {
    for (const pc of [a, b]) {
      try { if (pc) pc.close(); } catch (e) { /* closing is best effort */ }
    }
  }
  ternLog(JSON.stringify({ ok: result.ok, phase: result.phase, error: result.error }));
  return result;
}
