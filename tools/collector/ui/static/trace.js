// The trace view: draws only the waterfall rows in view (traces can hold thousands of spans),
// collapses and expands subtrees, and shows the selected span's details. Rows come shaped from the
// server (merged, skew corrected, in tree order); every value from spans is set as text, never HTML.

const ROW_HEIGHT = 26;
const OVERSCAN = 12;
const INDENT_PX = 14;
const MAX_INDENT_LEVELS = 40;

const data = JSON.parse(document.getElementById('trace-data').textContent);
const rows = data.rows;
const body = document.querySelector('.waterfall-body');
const canvas = document.querySelector('.rows');
const tree = document.querySelector('.waterfall');
const details = document.getElementById('span-details');

/** Indices of rows whose subtree is hidden. */
const collapsed = new Set();
/** Indices of the rows shown, in order. */
let visible = [];
let selected = -1;
let drawn = '';

function computeVisible() {
  visible = [];
  for (let i = 0; i < rows.length; ) {
    visible.push(i);
    i += collapsed.has(i) ? rows[i].descendants + 1 : 1;
  }
  canvas.style.height = `${visible.length * ROW_HEIGHT}px`;
  drawn = '';
}

/** Percent of the trace's duration, kept inside the timeline. */
function percent(microseconds) {
  return Math.min(100, Math.max(0, (microseconds / data.duration) * 100));
}

function formatDuration(us) {
  if (us === undefined) return '';
  if (us === 0) return '0ms';
  if (us < 1000) return `${us.toFixed(0)}μs`;
  if (us < 1_000_000) return us % 1000 === 0 ? `${us / 1000}ms` : `${(us / 1000).toFixed(3)}ms`;
  return `${(us / 1_000_000).toFixed(3)}s`;
}

function formatTime(epochMicros) {
  const date = new Date(epochMicros / 1000);
  return `${date.toLocaleString(undefined, { hour12: false })}.${String(date.getMilliseconds()).padStart(3, '0')}`;
}

function serviceOf(span) {
  return span.localEndpoint?.serviceName ?? 'unknown';
}

function colorOf(name) {
  return data.colors[name] ?? '#777';
}

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function drawRow(index, position) {
  const { span, depth, descendants, offset } = rows[index];
  const service = serviceOf(span);
  const error = span.tags?.error !== undefined;
  const row = element('div', `span-row${error ? ' error' : ''}${index === selected ? ' selected' : ''}`);
  row.setAttribute('role', 'treeitem');
  row.setAttribute('aria-level', String(depth + 1));
  row.setAttribute('aria-selected', String(index === selected));
  if (descendants > 0) row.setAttribute('aria-expanded', String(!collapsed.has(index)));
  row.dataset.index = String(index);
  row.dataset.spanId = span.id;
  row.style.top = `${position * ROW_HEIGHT}px`;
  row.style.setProperty('--service', colorOf(service));

  const name = element('div', 'name-column');
  name.style.paddingLeft = `${Math.min(depth, MAX_INDENT_LEVELS) * INDENT_PX + 4}px`;
  if (depth > MAX_INDENT_LEVELS) name.append(element('span', 'deep', `${depth}›`));
  if (descendants > 0) {
    const toggle = element('button', 'toggle', collapsed.has(index) ? '▸' : '▾');
    toggle.type = 'button';
    toggle.tabIndex = -1;
    toggle.title = `${collapsed.has(index) ? 'Expand' : 'Collapse'} ${descendants} span${descendants === 1 ? '' : 's'}`;
    toggle.setAttribute('aria-label', toggle.title);
    name.append(toggle);
  } else {
    name.append(element('span', 'toggle-space'));
  }
  name.append(element('span', 'service', service), element('span', 'span-name', span.name ?? 'unknown'));
  if (span.kind) name.append(element('span', `kind kind-${span.kind.toLowerCase()}`, span.kind));
  if (collapsed.has(index)) name.append(element('span', 'hidden-count', `+${descendants}`));

  const timeline = element('div', 'timeline-column');
  if (offset !== undefined) {
    const left = percent(offset);
    const width = Math.min(100 - left, Math.max(0.2, percent(span.duration ?? 0)));
    const bar = element('div', 'bar');
    bar.style.left = `${left}%`;
    bar.style.width = `${width}%`;
    const label = element('span', 'bar-label', formatDuration(span.duration));
    // The duration goes after the bar, or before it, or inside it: never past the column.
    if (left + width < 85) {
      label.style.left = `${left + width}%`;
    } else if (left > 15) {
      label.style.right = `${100 - left}%`;
    } else {
      label.classList.add('inside');
      label.style.right = `${100 - left - width}%`;
    }
    timeline.append(bar, label);
  }
  for (const annotation of span.annotations ?? []) {
    const at = percent(annotation.timestamp - data.start);
    const marker = element('i', 'annotation');
    // The marker is 3px wide: keep all of it inside the column at either end.
    marker.style.left = `calc(${at}% - ${(at / 100) * 3}px)`;
    marker.title = `${annotation.value} at ${formatDuration(annotation.timestamp - data.start)}`;
    timeline.append(marker);
  }
  row.append(name, timeline);
  return row;
}

function draw() {
  const first = Math.max(0, Math.floor(body.scrollTop / ROW_HEIGHT) - OVERSCAN);
  const last = Math.min(visible.length, Math.ceil((body.scrollTop + body.clientHeight) / ROW_HEIGHT) + OVERSCAN);
  const key = `${first}:${last}:${selected}`;
  if (key === drawn) return;
  drawn = key;
  const fragment = document.createDocumentFragment();
  for (let position = first; position < last; position++) fragment.append(drawRow(visible[position], position));
  canvas.replaceChildren(fragment);
}

let framePending = false;
function scheduleDraw() {
  if (framePending) return;
  framePending = true;
  requestAnimationFrame(() => {
    framePending = false;
    draw();
  });
}

function setCollapsed(index, hide) {
  if (rows[index].descendants === 0) return;
  if (hide) collapsed.add(index);
  else collapsed.delete(index);
  computeVisible();
  draw();
}

function definition(list, term, value, className) {
  if (value === undefined || value === '') return;
  const wrapper = element('div', className);
  wrapper.append(element('dt', '', term), element('dd', '', value));
  list.append(wrapper);
}

function endpointText(endpoint) {
  if (!endpoint) return undefined;
  const address = endpoint.ipv6 ? `[${endpoint.ipv6}]` : endpoint.ipv4;
  const host = address ? `${address}${endpoint.port ? `:${endpoint.port}` : ''}` : endpoint.port ? `port ${endpoint.port}` : '';
  return [endpoint.serviceName, host].filter(Boolean).join(' · ') || undefined;
}

function table(caption, head, body) {
  const node = element('table', 'details-table');
  node.append(element('caption', '', caption));
  const headRow = element('tr');
  for (const title of head) headRow.append(element('th', '', title));
  const thead = element('thead');
  thead.append(headRow);
  const tbody = element('tbody');
  for (const { cells, className } of body) {
    const row = element('tr', className);
    for (const cell of cells) row.append(element('td', '', cell));
    tbody.append(row);
  }
  node.append(thead, tbody);
  return node;
}

function showDetails(index) {
  const { span, offset, orphan } = rows[index];
  const heading = element('h2');
  heading.append(element('span', 'service', serviceOf(span)), document.createTextNode(` ${span.name ?? 'unknown'}`));
  heading.style.setProperty('--service', colorOf(serviceOf(span)));

  const facts = element('dl', 'span-facts');
  definition(facts, 'Span ID', span.id, 'mono');
  definition(facts, 'Parent ID', span.parentId ? `${span.parentId}${orphan ? ' (not in this trace)' : ''}` : 'none (root)', 'mono');
  definition(facts, 'Trace ID', span.traceId, 'mono');
  definition(facts, 'Kind', span.kind ?? 'LOCAL');
  definition(facts, 'Start', offset === undefined ? 'unknown' : `${formatDuration(offset)} into the trace`);
  definition(facts, 'Start time', span.timestamp === undefined ? undefined : formatTime(span.timestamp));
  definition(facts, 'Duration', span.duration === undefined ? 'unknown' : formatDuration(span.duration));
  definition(facts, 'Local endpoint', endpointText(span.localEndpoint) ?? 'unknown');
  definition(facts, 'Remote endpoint', endpointText(span.remoteEndpoint));
  if (span.shared) definition(facts, 'Shared', 'yes: the server side of its client\'s span id');
  if (span.debug) definition(facts, 'Debug', 'yes');

  const parts = [heading, facts];
  const annotations = span.annotations ?? [];
  if (annotations.length > 0) {
    parts.push(table('Annotations', ['Time', 'Value'], annotations.map((annotation) => ({
      cells: [formatDuration(annotation.timestamp - data.start), annotation.value],
    }))));
  }
  const tags = Object.entries(span.tags ?? {});
  parts.push(tags.length > 0
    ? table('Tags', ['Key', 'Value'], tags.map(([key, value]) => ({ cells: [key, value], className: key === 'error' ? 'error' : '' })))
    : element('p', 'hint', 'No tags.'));
  details.replaceChildren(...parts);
}

function select(index, { scroll = false } = {}) {
  selected = index;
  showDetails(index);
  if (scroll) {
    const position = visible.indexOf(index);
    const top = position * ROW_HEIGHT;
    if (top < body.scrollTop) body.scrollTop = top;
    else if (top + ROW_HEIGHT > body.scrollTop + body.clientHeight) body.scrollTop = top + ROW_HEIGHT - body.clientHeight;
  }
  drawn = '';
  draw();
}

canvas.addEventListener('click', (event) => {
  const row = event.target.closest('.span-row');
  if (!row) return;
  const index = Number(row.dataset.index);
  if (event.target.closest('.toggle')) setCollapsed(index, !collapsed.has(index));
  else select(index);
  tree.focus({ preventScroll: true });
});

tree.addEventListener('keydown', (event) => {
  if (visible.length === 0) return;
  const position = Math.max(0, visible.indexOf(selected));
  const moves = { ArrowDown: 1, ArrowUp: -1, PageDown: 20, PageUp: -20 };
  if (event.key in moves) {
    select(visible[Math.min(visible.length - 1, Math.max(0, position + moves[event.key]))], { scroll: true });
  } else if (event.key === 'ArrowLeft' && selected >= 0) {
    setCollapsed(selected, true);
  } else if (event.key === 'ArrowRight' && selected >= 0) {
    setCollapsed(selected, false);
  } else {
    return;
  }
  event.preventDefault();
});

document.querySelector('[data-action="expand-all"]').addEventListener('click', () => {
  collapsed.clear();
  computeVisible();
  draw();
});
document.querySelector('[data-action="collapse-all"]').addEventListener('click', () => {
  rows.forEach((row, index) => {
    if (row.descendants > 0 && index > 0) collapsed.add(index);
  });
  computeVisible();
  draw();
});

body.addEventListener('scroll', scheduleDraw, { passive: true });
new ResizeObserver(scheduleDraw).observe(body);
computeVisible();
draw();
document.body.dataset.ready = 'true';
