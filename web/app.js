// The drawing page of `cassnn serve`: strokes on a canvas (mouse, touch and
// pen through Pointer Events), sent as PNG to POST /predict while one draws;
// the server turns the picture into an MNIST digit (20x20 box, centre of
// mass in 28x28) and answers the label and the ten probabilities.
'use strict';

const pad = document.getElementById('pad');
const ctx = pad.getContext('2d');
const labelEl = document.getElementById('label');
const barsEl = document.getElementById('bars');
const statusEl = document.getElementById('status');
// A bearer token, when the server wants one, comes in the page's address:
// http://host:port/#token=SECRET (the fragment never leaves the browser).
const token = new URLSearchParams(location.hash.slice(1)).get('token');

const bars = [];
for (let d = 0; d < 10; d++) {
  const bar = document.createElement('div');
  bar.className = 'bar';
  bar.innerHTML = '<span class="p"></span><div class="fill"></div><span class="digit">' + d + '</span>';
  barsEl.appendChild(bar);
  bars.push(bar);
}

function clearPad() {
  ctx.fillStyle = '#000';
  ctx.fillRect(0, 0, pad.width, pad.height);
  drawn = false;
  labelEl.textContent = '\u2013';
  labelEl.dataset.label = '';
  show(new Array(10).fill(0), -1);
  statusEl.textContent = 'draw a digit';
}

function show(probabilities, best) {
  bars.forEach((bar, d) => {
    const p = probabilities[d] || 0;
    bar.querySelector('.fill').style.height = (100 * p).toFixed(1) + '%';
    bar.querySelector('.p').textContent = p >= 0.005 ? Math.round(100 * p) + '%' : '';
    bar.classList.toggle('best', d === best);
  });
}

// ---- drawing ----
let drawn = false, last = null, version = 0;

function point(e) {
  const r = pad.getBoundingClientRect();
  return {x: (e.clientX - r.left) * pad.width / r.width, y: (e.clientY - r.top) * pad.height / r.height};
}

function segment(a, b) {
  ctx.strokeStyle = '#fff';
  ctx.lineWidth = 18;
  ctx.lineCap = 'round';
  ctx.lineJoin = 'round';
  ctx.beginPath();
  ctx.moveTo(a.x, a.y);
  ctx.lineTo(b.x, b.y);
  ctx.stroke();
  drawn = true;
  version++;
  labelEl.dataset.state = 'pending';
  predictSoon();
}

pad.addEventListener('pointerdown', (e) => {
  e.preventDefault();
  pad.setPointerCapture(e.pointerId);
  last = point(e);
  segment(last, last);
});
pad.addEventListener('pointermove', (e) => {
  if (!last) return;
  e.preventDefault();
  // every coalesced point, so fast strokes stay smooth
  const events = e.getCoalescedEvents ? e.getCoalescedEvents() : [e];
  for (const ev of (events.length ? events : [e])) {
    const p = point(ev);
    segment(last, p);
    last = p;
  }
});
for (const type of ['pointerup', 'pointercancel', 'pointerleave']) {
  pad.addEventListener(type, () => { last = null; });
}
document.getElementById('clear').addEventListener('click', clearPad);

// ---- predicting: one request in flight; the newest drawing goes next ----
let inFlight = false, sentVersion = -1;

function predictSoon() {
  if (inFlight || !drawn || sentVersion === version) return;
  inFlight = true;
  sentVersion = version;
  pad.toBlob(async (png) => {
    try {
      const headers = {'Content-Type': 'image/png'};
      if (token) headers.Authorization = 'Bearer ' + token;
      const res = await fetch('predict', {method: 'POST', headers, body: png});
      const body = await res.json();
      if (!res.ok) throw new Error(body.error || res.statusText);
      if (drawn) {
        labelEl.textContent = body.label;
        labelEl.dataset.label = body.label;
        show(body.probabilities, body.label);
        statusEl.textContent = 'predicted ' + body.label + ' with probability ' +
          (100 * body.probabilities[body.label]).toFixed(1) + '%';
      }
      statusEl.classList.remove('error');
    } catch (err) {
      statusEl.textContent = 'error: ' + err.message;
      statusEl.classList.add('error');
    } finally {
      inFlight = false;
      // 'done' once the answer shown is for the drawing as it is now
      labelEl.dataset.state = sentVersion === version ? 'done' : 'pending';
      predictSoon();
    }
  }, 'image/png');
}

// ---- the model ----
async function loadModel() {
  try {
    const res = await fetch('health');
    const h = await res.json();
    if (res.ok) {
      document.getElementById('model').textContent = h.model;
      document.getElementById('accuracy').textContent =
        h.accuracy == null ? 'unknown' : (100 * h.accuracy).toFixed(2) + '%';
      document.getElementById('follows').textContent = h.follows;
      if (!drawn) statusEl.textContent = 'draw a digit';
    } else {
      statusEl.textContent = 'no model yet: ' + h.reason;
    }
  } catch (err) {
    statusEl.textContent = 'server not reachable: ' + err.message;
  }
}

clearPad();
loadModel();
setInterval(loadModel, 5000); // the model follows an alias and may change
