// The search form: span names and remote services follow the chosen service, and the tag query
// suggests values for the keys the collector offers (Zipkin's autocompleteKeys/Values API).

const service = document.getElementById('serviceName');
const spanName = document.getElementById('spanName');
const remoteService = document.getElementById('remoteServiceName');
const query = document.querySelector('input[name="annotationQuery"]');
const suggestions = document.getElementById('autocomplete');
const keys = suggestions.dataset.keys ? suggestions.dataset.keys.split(',') : [];

async function getJson(path) {
  const response = await fetch(path, { headers: { accept: 'application/json' } });
  return response.ok ? response.json() : [];
}

function fill(select, values, anyLabel) {
  const options = [new Option(anyLabel, '')];
  for (const value of values) options.push(new Option(value, value));
  select.replaceChildren(...options);
}

service.addEventListener('change', async () => {
  const name = service.value;
  const [spans, remotes] = name
    ? await Promise.all([
      getJson(`/api/v2/spans?serviceName=${encodeURIComponent(name)}`),
      getJson(`/api/v2/remoteServices?serviceName=${encodeURIComponent(name)}`),
    ])
    : [[], []];
  fill(spanName, spans, 'any span');
  fill(remoteService, remotes, 'any remote service');
});

let lastKey = '';
query.addEventListener('input', async () => {
  // Only the term being typed (after the last " and ") is completed.
  const terms = query.value.split(' and ');
  const current = terms.at(-1) ?? '';
  const prefix = terms.slice(0, -1).map((term) => `${term} and `).join('');
  const key = current.includes('=') ? current.slice(0, current.indexOf('=')).trim() : '';
  const values = keys.includes(key) && key !== lastKey ? await getJson(`/api/v2/autocompleteValues?key=${encodeURIComponent(key)}`) : null;
  const options = values
    ? values.map((value) => `${prefix}${key}=${value}`)
    : key ? null : keys.map((name) => `${prefix}${name}=`);
  if (options) {
    lastKey = key;
    suggestions.replaceChildren(...options.map((value) => new Option(value)));
  }
});
document.body.dataset.ready = 'true';
