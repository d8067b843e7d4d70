// The browser side of bench/browser.sh: one Strangers video client, as a web page would write
// it. driver.js calls window.benchConnect(url) and window.benchFind(), then reads window.bench.
'use strict';

const bench = {
  role: null,         // "offerer" | "answerer", from `matched`
  matchedAt: null,    // performance.now() at the receipt of `matched`
  times: {},          // event name -> ms since `matched` (first occurrence only)
  log: [],            // [ms since page load, text] for the run's log
  waiting: false,     // the server put us in the queue
  partnerLeft: null,
  errors: [],
  stats: null,        // a summary of getStats() once video is playing
};
window.bench = bench;

function log(text) {
  bench.log.push([Math.round(performance.now()), text]);
}

function mark(name) {
  if (bench.matchedAt === null || name in bench.times) return;
  bench.times[name] = performance.now() - bench.matchedAt;
  log(`${name} +${bench.times[name].toFixed(1)} ms`);
}

let ws = null;
let pc = null;
let stream = null;
let iceServers = [];
let pending = [];   // remote candidates that arrived before the remote description

function send(msg) {
  ws.send(JSON.stringify(msg));
}

// Connect, say hello, and get the camera and microphone ready, so that none of it is counted.
window.benchConnect = async function (url) {
  stream = await navigator.mediaDevices.getUserMedia({
    video: { width: 640, height: 480, frameRate: 30 },
    audio: true,
  });
  await new Promise((resolve, reject) => {
    ws = new WebSocket(url);
    ws.onerror = () => reject(new Error('websocket error'));
    ws.onclose = (e) => log(`websocket closed ${e.code}`);
    ws.onopen = () => send({ type: 'hello', version: 1 });
    ws.onmessage = (e) => {
      const msg = JSON.parse(e.data);
      if (msg.type === 'welcome') {
        iceServers = msg.ice_servers || [];
        resolve();
      }
      onMessage(msg).catch((err) => {
        bench.errors.push(String(err));
        log(`error: ${err}`);
      });
    };
  });
};

window.benchFind = function () {
  send({ type: 'find', mode: 'video' });
};

async function onMessage(msg) {
  switch (msg.type) {
    case 'waiting':
      bench.waiting = true;
      break;
    case 'matched':
      bench.matchedAt = performance.now();
      bench.role = msg.role;
      log(`matched as ${msg.role}`);
      await startCall(msg.role === 'offerer');
      break;
    case 'offer':
      mark('offer_received');
      await pc.setRemoteDescription({ type: 'offer', sdp: msg.sdp });
      await flushCandidates();
      await pc.setLocalDescription(await pc.createAnswer());
      send({ type: 'answer', sdp: pc.localDescription.sdp });
      mark('answer_sent');
      watchDtls();
      break;
    case 'answer':
      mark('answer_received');
      await pc.setRemoteDescription({ type: 'answer', sdp: msg.sdp });
      await flushCandidates();
      break;
    case 'candidate':
      if (!msg.candidate) break; // end of candidates
      if (pc && pc.remoteDescription) await pc.addIceCandidate(msg.candidate);
      else pending.push(msg.candidate);
      break;
    case 'chat':
      // The native harness greets its partner ("hello from NAME") and waits for a greeting back.
      if (typeof msg.text === 'string' && msg.text.startsWith('hello from ')) {
        send({ type: 'chat', text: 'hello from chromium' });
      }
      break;
    case 'partner_left':
      bench.partnerLeft = msg.reason;
      log(`partner left: ${msg.reason}`);
      break;
    case 'error':
      bench.errors.push(`${msg.code}: ${msg.message}`);
      log(`server error ${msg.code}: ${msg.message}`);
      break;
    default:
      break;
  }
}

async function flushCandidates() {
  const list = pending;
  pending = [];
  for (const c of list) await pc.addIceCandidate(c);
}

function watchDtls() {
  const t = pc.getSenders().map((s) => s.transport).find((x) => x);
  if (!t || t.__watched) return;
  t.__watched = true;
  t.addEventListener('statechange', () => mark(`dtls_${t.state}`));
  if (t.state !== 'new') mark(`dtls_${t.state}`);
}

async function startCall(offerer) {
  pc = new RTCPeerConnection({ iceServers });
  for (const track of stream.getTracks()) pc.addTrack(track, stream);
  pc.onicecandidate = (e) => {
    if (e.candidate) send({ type: 'candidate', candidate: e.candidate.toJSON() });
    else send({ type: 'candidate' });
  };
  pc.oniceconnectionstatechange = () => mark(`ice_${pc.iceConnectionState}`);
  pc.onconnectionstatechange = () => mark(`pc_${pc.connectionState}`);
  pc.ontrack = (e) => {
    mark(`track_${e.track.kind}`);
    if (e.track.kind !== 'video') return;
    e.track.onunmute = () => mark('video_unmuted'); // the first RTP packet arrived
    const video = document.getElementById('remote');
    video.srcObject = new MediaStream([e.track]);
    video.addEventListener('loadeddata', () => mark('video_loadeddata'), { once: true });
    video.requestVideoFrameCallback((now, meta) => {
      mark('first_frame');
      log(`first frame ${meta.width}x${meta.height}`);
      setTimeout(collectStats, 300);
    });
    video.play().catch((err) => log(`play: ${err}`));
  };
  if (offerer) {
    await pc.setLocalDescription(await pc.createOffer());
    send({ type: 'offer', sdp: pc.localDescription.sdp });
    mark('offer_sent');
    watchDtls();
  }
}

// What was negotiated and how: codecs each way, the DTLS role, the candidate pair.
async function collectStats() {
  const report = await pc.getStats();
  const byId = new Map();
  report.forEach((s) => byId.set(s.id, s));
  const out = { codecs: {} };
  report.forEach((s) => {
    if ((s.type === 'inbound-rtp' || s.type === 'outbound-rtp') && s.codecId) {
      const c = byId.get(s.codecId);
      out.codecs[`${s.type === 'inbound-rtp' ? 'in' : 'out'}_${s.kind}`] = c ? c.mimeType : '?';
    }
    if (s.type === 'transport') {
      out.dtlsRole = s.dtlsRole;
      out.dtlsState = s.dtlsState;
      out.tlsVersion = s.tlsVersion;
      const pair = byId.get(s.selectedCandidatePairId);
      if (pair) {
        const l = byId.get(pair.localCandidateId);
        const r = byId.get(pair.remoteCandidateId);
        out.pair = `${l ? `${l.address}:${l.port}` : '?'} -> ${r ? `${r.address}:${r.port}` : '?'}`;
      }
    }
  });
  bench.stats = out;
}
