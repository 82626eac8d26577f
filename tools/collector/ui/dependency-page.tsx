/** @jsxImportSource hono/jsx */
/**
 * `/zipkin/dependency`: the services and the calls between them over a lookback window, as
 * Zipkin derives dependency links (see dependency-linker.ts). The graph is laid out here on the
 * server with dagre (layered, callers left of callees) and drawn as SVG, so the browser needs no
 * layout code; static/dependency.js only highlights what a selected service calls and is called by.
 */
import { Graph, layout } from '@dagrejs/dagre';
import type { DependencyLink } from '../dependency-linker.ts';
import { LOOKBACKS } from './search-page.tsx';
import { Layout, UI_BASE, scriptJson } from './layout.tsx';

const NODE_HEIGHT = 34;
const CHAR_WIDTH = 8;
const LABEL = { width: 120, height: 16 };

interface Point {
  x: number;
  y: number;
}

/** Node boxes and edge routes, in SVG user units. */
export interface DependencyGraphLayout {
  width: number;
  height: number;
  nodes: { name: string; x: number; y: number; width: number; height: number }[];
  edges: { link: DependencyLink; points: Point[]; label: Point }[];
}

/** Lays the links out left to right with dagre: each service one box, each link one routed edge. */
export function layoutDependencies(links: readonly DependencyLink[]): DependencyGraphLayout {
  const graph = new Graph();
  graph.setGraph({ rankdir: 'LR', nodesep: 36, ranksep: 120, marginx: 16, marginy: 16 });
  graph.setDefaultEdgeLabel(() => ({}));
  const names = [...new Set(links.flatMap(({ parent, child }) => [parent, child]))].sort();
  for (const name of names) graph.setNode(name, { width: 32 + name.length * CHAR_WIDTH, height: NODE_HEIGHT });
  for (const link of links) graph.setEdge(link.parent, link.child, { ...LABEL, labelpos: 'c', link });
  layout(graph);

  const label = graph.graph();
  return {
    width: Math.ceil(label.width ?? 0),
    height: Math.ceil(label.height ?? 0),
    nodes: names.map((name) => {
      const { x, y, width, height } = graph.node(name);
      return { name, x, y, width, height };
    }),
    edges: graph.edges().map((edge: { v: string; w: string }) => {
      const { points = [], x = 0, y = 0, link } = graph.edge(edge) as { points?: Point[]; x?: number; y?: number; link: DependencyLink };
      return { link, points, label: { x, y } };
    }),
  };
}

/** A smooth path through dagre's points: straight ends, quadratic curves between midpoints. */
function edgePath(points: readonly Point[]): string {
  const [first, ...rest] = points;
  if (!first) return '';
  let path = `M${first.x.toFixed(1)},${first.y.toFixed(1)}`;
  for (let i = 0; i < rest.length - 1; i++) {
    const control = rest[i]!;
    const next = rest[i + 1]!;
    path += ` Q${control.x.toFixed(1)},${control.y.toFixed(1)} ${((control.x + next.x) / 2).toFixed(1)},${((control.y + next.y) / 2).toFixed(1)}`;
  }
  const last = rest.at(-1);
  if (last) path += ` L${last.x.toFixed(1)},${last.y.toFixed(1)}`;
  return path;
}

function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}

export function DependencyPage({ links, lookback, colors }: {
  links: readonly DependencyLink[];
  lookback: number;
  colors: Map<string, string>;
}) {
  const graph = layoutDependencies(links);
  const maxCalls = Math.max(1, ...links.map((link) => link.callCount));
  return (
    <Layout title="Dependencies" page="dependency" scripts={['dependency.js']}>
      <form class="search-form" method="get" action={`${UI_BASE}/dependency`}>
        <label>
          Lookback
          <select name="lookback">
            {LOOKBACKS.map(({ label, ms }) => <option value={String(ms)} selected={ms === lookback}>{label}</option>)}
          </select>
        </label>
        <button type="submit">Show dependencies</button>
      </form>
      {links.length === 0 ? (
        <p class="problem">No calls between services in this window. Send a request through the landscape, then reload.</p>
      ) : (
        <div class="dependency-view">
          <figure class="dependency-graph">
            <svg
              role="img"
              aria-label={`Dependency graph: ${plural(graph.nodes.length, 'service')}, ${plural(links.length, 'link')}`}
              viewBox={`0 0 ${graph.width} ${graph.height}`}
              width={graph.width}
              height={graph.height}
            >
              <defs>
                <marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerUnits="userSpaceOnUse" markerWidth="12" markerHeight="12" orient="auto-start-reverse">
                  <path d="M0,0 L10,5 L0,10 z" class="arrow-head" />
                </marker>
                <marker id="arrow-error" viewBox="0 0 10 10" refX="9" refY="5" markerUnits="userSpaceOnUse" markerWidth="12" markerHeight="12" orient="auto-start-reverse">
                  <path d="M0,0 L10,5 L0,10 z" class="arrow-head error" />
                </marker>
              </defs>
              {graph.edges.map(({ link, points, label }) => (
                <g class={`edge${link.errorCount > 0 ? ' has-error' : ''}`} data-parent={link.parent} data-child={link.child}>
                  <title>{`${link.parent} → ${link.child}: ${plural(link.callCount, 'call')}, ${plural(link.errorCount, 'error')}`}</title>
                  <path
                    d={edgePath(points)}
                    style={`stroke-width:${(1.5 + 3 * Math.log1p(link.callCount) / Math.log1p(maxCalls)).toFixed(2)}`}
                    marker-end={link.errorCount > 0 ? 'url(#arrow-error)' : 'url(#arrow)'}
                  />
                  <text x={label.x} y={label.y - 5} text-anchor="middle" class="edge-label">
                    {plural(link.callCount, 'call')}{link.errorCount > 0 ? ` · ${plural(link.errorCount, 'error')}` : ''}
                  </text>
                </g>
              ))}
              {graph.nodes.map((node) => (
                <g class="node" data-service={node.name} tabindex={0} role="button" aria-label={`service ${node.name}`}>
                  <rect
                    x={node.x - node.width / 2}
                    y={node.y - node.height / 2}
                    width={node.width}
                    height={node.height}
                    rx={node.height / 2}
                    style={`--service:${colors.get(node.name) ?? '#777'}`}
                  />
                  <text x={node.x} y={node.y + 5} text-anchor="middle">{node.name}</text>
                </g>
              ))}
            </svg>
          </figure>
          <aside class="dependency-details" aria-live="polite">
            <p class="hint">Select a service to see what it calls and what calls it.</p>
          </aside>
          <table class="dependency-links">
            <caption>Calls between services</caption>
            <thead>
              <tr><th scope="col">Caller</th><th scope="col">Callee</th><th scope="col">Calls</th><th scope="col">Errors</th></tr>
            </thead>
            <tbody>
              {links.map((link) => (
                <tr class={link.errorCount > 0 ? 'has-error' : ''} data-parent={link.parent} data-child={link.child}>
                  <td>{link.parent}</td>
                  <td>{link.child}</td>
                  <td class="number">{link.callCount}</td>
                  <td class="number">{link.errorCount}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <script type="application/json" id="dependency-data" dangerouslySetInnerHTML={{ __html: scriptJson(links) }} />
        </div>
      )}
    </Layout>
  );
}
