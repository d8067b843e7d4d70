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
    if (e.track.kind === 'audio') {
      // Played, as a page would: Chromium only pulls (decodes, conceals) audio that plays.
      const audio = new Audio();
      audio.srcObject = new MediaStream([e.track]);
      audio.play().catch((err) => log(`audio play: ${err}`));
      bench.audio = audio;
      return;
    }
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

// bench/link.sh: every 500 ms, one line of what arrived and how the sender adapts, with the
// fields the native harness writes (client/src/harness/timeline.rs), so that one script scores
// both. Freezes are gaps of more than 500 ms between presented frames (requestVideoFrameCallback);
// audio continuity is the share of played samples that were not concealed.
window.benchTimeline = function (name) {
  bench.timeline = [];
  const video = document.getElementById('remote');
  let lastPresented = null;
  let freezes = 0;
  const onFrame = (now) => {
    if (lastPresented !== null && now - lastPresented > 500) freezes += 1;
    lastPresented = now;
    video.requestVideoFrameCallback(onFrame);
  };
  video.requestVideoFrameCallback(onFrame);
  const start = performance.now();
  let prev = null;
  let prevAt = start;
  let prevFreezes = 0;
  setInterval(async () => {
    const report = await pc.getStats();
    const now = performance.now();
    const cur = { frames: 0, sent: 0, total: 0, concealed: 0, estimate: null, rtt: null, size: null };
    report.forEach((s) => {
      if (s.type === 'inbound-rtp' && s.kind === 'video') {
        cur.frames = s.framesDecoded || 0;
        if (s.frameWidth) cur.size = `${s.frameWidth}x${s.frameHeight}`;
      }
      if (s.type === 'inbound-rtp' && s.kind === 'audio') {
        cur.total = s.totalSamplesReceived || 0;
        cur.concealed = s.concealedSamples || 0;
      }
      if (s.type === 'outbound-rtp') cur.sent += s.bytesSent || 0;
      if (s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded') {
        if (s.availableOutgoingBitrate) cur.estimate = s.availableOutgoingBitrate / 1000;
        if (s.currentRoundTripTime !== undefined) cur.rtt = s.currentRoundTripTime * 1000;
      }
    });
    if (prev) {
      const secs = Math.max(0.001, (now - prevAt) / 1000);
      const frames = cur.frames - prev.frames;
      const samples = cur.total - prev.total;
      const concealed = cur.concealed - prev.concealed;
      bench.timeline.push({
        client: name,
        t: Math.round(now - start) / 1000,
        unix_ms: Date.now(),
        frames,
        fps: frames / secs,
        freezes: freezes - prevFreezes,
        tone_frames: Math.round(samples / 960),
        tone_with: Math.round(Math.max(0, samples - concealed) / 960),
        concealed: Math.round(concealed / 960),
        sent_kbps: ((cur.sent - prev.sent) * 8) / secs / 1000,
        estimate_kbps: cur.estimate,
        rtt_ms: cur.rtt,
        resolution: cur.size,
      });
    }
    prev = cur;
    prevAt = now;
    prevFreezes = freezes;
  }, 500);
};
