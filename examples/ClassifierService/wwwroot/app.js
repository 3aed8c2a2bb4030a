// The page's only script: no framework and nothing from a CDN (the service may run where nothing else is reachable).
'use strict';

const drop = document.getElementById('drop');
const input = document.getElementById('file');
const result = document.getElementById('result');
const preview = document.getElementById('preview');
const label = document.getElementById('label');
const bars = document.getElementById('bars');
const timing = document.getElementById('timing');
const error = document.getElementById('error');
let previewUrl = null;

fetch('/health').then(r => r.json()).then(h => {
  document.getElementById('model').textContent =
    `${h.classes} classes, ${h.engine} engine, model generation ${h.generation} (${h.model})`;
}).catch(() => { document.getElementById('model').textContent = 'The service did not answer /health.'; });

input.addEventListener('change', () => { if (input.files.length > 0) classify(input.files[0]); });
drop.addEventListener('dragover', e => { e.preventDefault(); drop.classList.add('over'); });
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
drop.addEventListener('drop', e => {
  e.preventDefault();
  drop.classList.remove('over');
  if (e.dataTransfer.files.length > 0) classify(e.dataTransfer.files[0]);
});

async function classify(file) {
  error.hidden = true;
  if (previewUrl) URL.revokeObjectURL(previewUrl);
  previewUrl = URL.createObjectURL(file);
  preview.src = previewUrl;
  label.textContent = '…';
  bars.replaceChildren();
  result.hidden = false;
  const form = new FormData();
  form.append('image', file);
  const started = performance.now();
  try {
    const response = await fetch('/classify', { method: 'POST', body: form });
    const body = await response.json();
    if (!response.ok) throw new Error(body.error || `HTTP ${response.status}`);
    show(body, performance.now() - started, response.headers.get('X-Model-Generation'));
  } catch (e) {
    result.hidden = true;
    error.textContent = `Not classified: ${e.message}`;
    error.hidden = false;
  }
}

function show(body, milliseconds, generation) {
  label.textContent = body.label;
  for (const s of body.scores.slice(0, 5)) {
    const item = document.createElement('li');
    const name = document.createElement('span');
    name.className = 'name';
    name.textContent = s.label;
    const track = document.createElement('span');
    track.className = 'track';
    const fill = document.createElement('span');
    fill.className = 'fill';
    fill.style.width = `${(Math.max(0, Math.min(1, s.score)) * 100).toFixed(1)}%`;
    fill.style.display = 'block';
    track.appendChild(fill);
    const value = document.createElement('span');
    value.className = 'value';
    value.textContent = s.score.toFixed(4);
    item.append(name, track, value);
    bars.appendChild(item);
  }
  timing.textContent = `${milliseconds.toFixed(0)} ms, model generation ${generation}`;
}
