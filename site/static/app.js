// Starts the page. The WebAssembly module renders everything; when it, or the model it
// loads, cannot be used, this shows why and a few random posters (from the last catalog a
// model brought), as the original page showed random posters when its API call failed.

const CATALOG_KEY = 'cinerec.catalog';

function fallback(reason) {
  const status = document.getElementById('status');
  if (status) {
    status.textContent = `추천 모델을 쓸 수 없어요 (${reason}). 대신 무작위로 고른 작품을 보여드려요.`;
  }
  const grid = document.getElementById('recommendations');
  if (!grid) return;
  let catalog = [];
  try {
    catalog = JSON.parse(localStorage.getItem(CATALOG_KEY) ?? '[]');
  } catch {
    catalog = [];
  }
  if (!Array.isArray(catalog)) catalog = [];
  const picked = catalog
    .filter((entry) => Array.isArray(entry) && entry.length === 3)
    .map((entry) => [Math.random(), entry])
    .sort((a, b) => a[0] - b[0])
    .slice(0, 10)
    .map(([, entry]) => entry);
  grid.replaceChildren();
  grid.dataset.fallback = 'true';
  for (const [id, title, poster] of picked) {
    const card = document.createElement('figure');
    card.className = 'card fallback';
    card.dataset.contentId = String(id);
    const image = document.createElement('img');
    image.src = `posters/${encodeURIComponent(poster)}`;
    image.alt = String(title);
    image.width = 164;
    image.height = 250;
    const caption = document.createElement('figcaption');
    caption.className = 'title';
    caption.textContent = String(title);
    card.append(image, caption);
    grid.append(card);
  }
  if (picked.length === 0 && status) {
    status.textContent += ' 아직 보여드릴 포스터가 없어요.';
  }
}

if ('serviceWorker' in navigator) {
  navigator.serviceWorker.register('sw.js').catch(() => {
    // Without a service worker the page still works; it only needs the network.
  });
}

async function modelBytes(url) {
  let response;
  try {
    response = await fetch(url);
  } catch {
    throw new Error(`${url} could not be fetched: the network is down and no copy is cached`);
  }
  if (!response.ok) {
    throw new Error(`${url}: the server answered ${response.status} ${response.statusText}`);
  }
  return new Uint8Array(await response.arrayBuffer());
}

// A private A/B test of models (README, "Private A/B tests"). The server describes the running
// experiment at `experiment` (null when none); this device joins an arm with a draw kept in
// localStorage that never leaves it, and ranks with that arm's model. The first card clicked
// in a period gives one report: the arm and one randomized bit, computed by the WebAssembly
// module from a fresh draw, sent without cookies, referrer or cache. Arm, period and report
// rules are cinerec-experiment's; this file only fetches, keeps and sends.

const EXPERIMENT_KEY = 'cinerec.experiment';
const REPORTING_KEY = 'cinerec.experiment.reporting';
// The last period this device reported in, whatever the experiment: kept when an experiment
// ends or another starts, so a device never sends two reports in one period.
const REPORTED_KEY = 'cinerec.experiment.reported';

function readStored(key) {
  try {
    return JSON.parse(localStorage.getItem(key) ?? 'null');
  } catch {
    return null;
  }
}

function store(key, value) {
  try {
    localStorage.setItem(key, JSON.stringify(value));
  } catch {
    // Without storage the device still ranks; it only draws again on the next visit.
  }
}

function freshDraw() {
  return crypto.getRandomValues(new Uint32Array(1))[0] / 2 ** 32;
}

// The running experiment, or null: none runs, or the server cannot say (offline and never
// cached), and then the serving model ranks.
async function runningExperiment() {
  try {
    const response = await fetch('experiment', { credentials: 'omit', referrerPolicy: 'no-referrer' });
    if (!response.ok) return null;
    const plan = await response.json();
    if (plan === null) localStorage.removeItem(EXPERIMENT_KEY);
    return plan && typeof plan.name === 'string' && Array.isArray(plan.arms) && plan.arms.length === 2 ? plan : null;
  } catch {
    return null;
  }
}

// This device's arm of `plan` (its place in `plan.arms`, control then candidate) and that
// arm's entry; a new experiment gets a new draw.
function join(wasm, plan) {
  let kept = readStored(EXPERIMENT_KEY);
  if (!kept || kept.name !== plan.name || !(kept.draw >= 0 && kept.draw < 1)) {
    kept = { name: plan.name, draw: freshDraw() };
    store(EXPERIMENT_KEY, kept);
  }
  const index = wasm.experimentArm(kept.draw, plan.arms[1].share);
  return { index, ...plan.arms[index] };
}

function reporting() {
  return readStored(REPORTING_KEY) !== false;
}

// The control that turns reporting off (remembered), shown while an experiment runs.
function reportingControl() {
  const footer = document.querySelector('footer');
  if (!footer) return;
  const label = document.createElement('label');
  label.className = 'info reporting';
  const box = document.createElement('input');
  box.type = 'checkbox';
  box.id = 'experiment-reporting';
  box.checked = reporting();
  box.addEventListener('change', () => store(REPORTING_KEY, box.checked));
  label.append(
    box,
    ' 모델 비교 실험에 익명으로 참여하기: 일주일에 한 번까지, 처음 누른 작품이 상위 3개였는지를 무작위로 뒤섞은 1비트만 보내요. 기록도 기기 정보도 보내지 않아요.',
  );
  footer.append(label);
}

// Reports the first click on a recommendation in this period. It listens in the capture
// phase, before the page re-ranks, so the clicked card's position is the one the visitor saw.
function measure(wasm, plan, arm) {
  document.addEventListener(
    'click',
    (event) => {
      const card = event.target instanceof Element ? event.target.closest('#recommendations [data-content-id]') : null;
      if (!card || !reporting()) return;
      const kept = readStored(EXPERIMENT_KEY);
      const period = wasm.experimentPeriod(Date.now());
      // Before the period had a key of its own, the experiment's entry kept it.
      const reported = readStored(REPORTED_KEY) ?? kept?.reported;
      if (!kept || kept.name !== plan.name || reported === period) return;
      const body = wasm.experimentReport(arm.index, [...card.parentElement.children].indexOf(card), freshDraw());
      if (!body) return;
      // Marked before sending: a report lost on the way is not sent again this period.
      store(REPORTED_KEY, period);
      fetch(plan.report, {
        method: 'POST',
        body,
        headers: { 'content-type': 'application/json' },
        credentials: 'omit',
        referrerPolicy: 'no-referrer',
        cache: 'no-store',
        keepalive: true,
      }).catch(() => {
        // Offline: this period goes unreported.
      });
    },
    { capture: true },
  );
}

Promise.all([import('./pkg/cinerec_wasm.js'), runningExperiment()])
  .then(async ([wasm, plan]) => {
    const ready = wasm.default();
    if (!plan) {
      const [, bytes] = await Promise.all([ready, modelBytes('model.bin')]);
      wasm.run(bytes);
      return;
    }
    await ready;
    const arm = join(wasm, plan);
    wasm.run(await modelBytes(arm.model));
    document.documentElement.dataset.experimentArm = arm.name;
    reportingControl();
    measure(wasm, plan, arm);
  })
  .catch((error) => fallback(error instanceof Error ? error.message : String(error)));
