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

async function modelBytes() {
  let response;
  try {
    response = await fetch('model.bin');
  } catch {
    throw new Error('model.bin could not be fetched: the network is down and no copy is cached');
  }
  if (!response.ok) {
    throw new Error(`model.bin: the server answered ${response.status} ${response.statusText}`);
  }
  return new Uint8Array(await response.arrayBuffer());
}

Promise.all([import('./pkg/cinerec_wasm.js'), modelBytes()])
  .then(async ([wasm, bytes]) => {
    await wasm.default();
    wasm.run(bytes);
  })
  .catch((error) => fallback(error instanceof Error ? error.message : String(error)));
