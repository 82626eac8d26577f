// The dependency graph: selecting a service highlights its links and lists what it calls and
// what calls it, with call and error counts.

const links = JSON.parse(document.getElementById('dependency-data')?.textContent ?? '[]');
const graph = document.querySelector('.dependency-graph svg');
const details = document.querySelector('.dependency-details');

function plural(count, noun) {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}

function list(title, entries) {
  const section = document.createElement('section');
  const heading = document.createElement('h3');
  heading.textContent = title;
  const items = document.createElement('ul');
  for (const { name, link } of entries) {
    const item = document.createElement('li');
    item.textContent = `${name}: ${plural(link.callCount, 'call')}, ${plural(link.errorCount, 'error')}`;
    if (link.errorCount > 0) item.className = 'has-error';
    items.append(item);
  }
  if (entries.length === 0) {
    const none = document.createElement('li');
    none.textContent = 'none';
    items.append(none);
  }
  section.append(heading, items);
  return section;
}

function select(service) {
  graph.classList.toggle('has-selection', service !== undefined);
  for (const node of graph.querySelectorAll('.node')) node.classList.toggle('selected', node.dataset.service === service);
  for (const edge of graph.querySelectorAll('.edge')) {
    edge.classList.toggle('active', edge.dataset.parent === service || edge.dataset.child === service);
  }
  if (service === undefined) return;
  const heading = document.createElement('h2');
  heading.textContent = service;
  details.replaceChildren(
    heading,
    list('Calls', links.filter((link) => link.parent === service).map((link) => ({ name: link.child, link }))),
    list('Called by', links.filter((link) => link.child === service).map((link) => ({ name: link.parent, link }))),
  );
}

if (graph) {
  graph.addEventListener('click', (event) => {
    const node = event.target.closest('.node');
    select(node ? node.dataset.service : undefined);
  });
  graph.addEventListener('keydown', (event) => {
    const node = event.target.closest('.node');
    if (node && (event.key === 'Enter' || event.key === ' ')) {
      select(node.dataset.service);
      event.preventDefault();
    }
  });
}
document.body.dataset.ready = 'true';
