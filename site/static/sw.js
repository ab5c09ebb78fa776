// The service worker: the page keeps working with the network off, and a new model or page
// is used on the next visit.
//
// The page, its script, its stylesheet, the WebAssembly package and model.bin go to the
// network first (revalidated by ETag, so a repeat visit costs a few 304s) and fall back to
// the copy cached on the last successful visit: online, everything is current, so an old
// WebAssembly module is never paired with a new model; offline, everything comes from one
// visit. Posters never change for a given file name: the cached copy comes first. A running
// experiment's description (`experiment`) and its arm's model are network-first too, so an
// offline visit ranks with the arm of the last online one; reports are POSTs, never cached.

const CACHE = 'cinerec-v1';
const SHELL = [
  './',
  'app.js',
  'style.css',
  'icon.svg',
  'manifest.webmanifest',
  'pkg/cinerec_wasm.js',
  'pkg/cinerec_wasm_bg.wasm',
  'model.bin',
];
// A network that does not answer within this long counts as offline.
const NETWORK_TIMEOUT_MS = 4000;

self.addEventListener('install', (event) => {
  event.waitUntil(
    caches
      .open(CACHE)
      .then((cache) => cache.addAll(SHELL))
      .catch(() => {
        // A shell file missing now is fetched again on the next visit.
      })
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener('activate', (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((names) => Promise.all(names.filter((name) => name !== CACHE).map((name) => caches.delete(name))))
      .then(() => self.clients.claim()),
  );
});

function fromNetwork(request) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), NETWORK_TIMEOUT_MS);
  // By URL: a navigation request cannot be re-sent with options of its own.
  return fetch(request.url, { signal: controller.signal, cache: 'no-cache', credentials: 'same-origin' })
    .finally(() => clearTimeout(timer));
}

async function networkFirst(request) {
  const cache = await caches.open(CACHE);
  try {
    const response = await fromNetwork(request);
    if (response.ok) {
      await cache.put(request, response.clone());
    }
    return response;
  } catch {
    const cached = await cache.match(request, { ignoreSearch: true });
    if (cached) return cached;
    throw new Error(`offline, and ${new URL(request.url).pathname} was never cached`);
  }
}

async function cacheFirst(request) {
  const cache = await caches.open(CACHE);
  const cached = await cache.match(request);
  if (cached) return cached;
  const response = await fetch(request);
  if (response.ok) {
    await cache.put(request, response.clone());
  }
  return response;
}

self.addEventListener('fetch', (event) => {
  const request = event.request;
  const url = new URL(request.url);
  // The API and other origins are not the page's to cache.
  if (request.method !== 'GET' || url.origin !== self.location.origin) return;
  if (url.pathname.startsWith('/batch-predict') || url.pathname === '/predict') return;
  // The experiment's results are the operator's page, not the visitor's.
  if (url.pathname === '/experiments') return;
  if (url.pathname.startsWith('/posters/')) {
    event.respondWith(cacheFirst(request));
  } else {
    event.respondWith(networkFirst(request));
  }
});
